package cgroup2

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFindRoot(t *testing.T) {
	for _, tc := range []struct{ name, mountinfo, want string }{
		{"v2", "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n" +
			"30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup"},
		{"v1 only", "31 22 0:27 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n", ""},
		{"first of two", "40 1 0:30 / /a rw - cgroup2 none rw\n41 1 0:31 / /b rw - cgroup2 none rw\n", "/a"},
		{"no separator", "40 1 0:30 / /a rw cgroup2 none rw\n", ""},
		{"empty", "", ""},
	} {
		got, err := findRoot(strings.NewReader(tc.mountinfo))
		if got != tc.want || err != nil {
			t.Errorf("%s: findRoot = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// fakeCgroup makes a directory with a cgroup.events file holding events.
func fakeCgroup(t *testing.T, events string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.events"), []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvent(t *testing.T) {
	cg := fakeCgroup(t, "populated 1\nfrozen 0\n")
	for key, want := range map[string]string{"populated": "1", "frozen": "0"} {
		if v, err := Event(cg, key); v != want || err != nil {
			t.Errorf("Event(%s) = %q, %v; want %q", key, v, err, want)
		}
	}
	if v, err := Event(cg, "froze"); err == nil || !strings.Contains(err.Error(), `no "froze"`) {
		t.Errorf("Event of a missing key = %q, %v; want an error naming it", v, err)
	}
	if _, err := Event(t.TempDir(), "populated"); !os.IsNotExist(err) {
		t.Errorf("Event without cgroup.events: %v; want ENOENT", err)
	}
}

func TestWaitEvent(t *testing.T) {
	cg := fakeCgroup(t, "populated 1\nfrozen 0\n")
	if v, ok := WaitEvent(cg, "frozen", "0", 0); v != "0" || !ok {
		t.Errorf("WaitEvent of the value there = %q, %v; want 0, true", v, ok)
	}
	start := time.Now()
	if v, ok := WaitEvent(cg, "frozen", "1", 100*time.Millisecond); v != "0" || ok {
		t.Errorf("WaitEvent of a value that never comes = %q, %v; want the last value 0, false", v, ok)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("WaitEvent returned after %v, before its timeout", d)
	}
	if v, ok := WaitEvent(cg, "nokey", "1", time.Hour); ok || !strings.Contains(v, "nokey") {
		t.Errorf("WaitEvent of a missing key = %q, %v; want the error at once", v, ok)
	}
	// The value changes while it waits: the file replaced at once (a
	// rename), so that a read never sees it empty.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		tmp := filepath.Join(cg, "cgroup.events.new")
		if err := os.WriteFile(tmp, []byte("populated 0\nfrozen 1\n"), 0o644); err != nil {
			t.Error(err)
			return
		}
		if err := os.Rename(tmp, filepath.Join(cg, "cgroup.events")); err != nil {
			t.Error(err)
		}
	}()
	defer func() { <-done }()
	if v, ok := WaitEvent(cg, "populated", "0", 10*time.Second); v != "0" || !ok {
		t.Errorf("WaitEvent of a value that comes = %q, %v; want 0, true", v, ok)
	}
}

func TestRmdirWithin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cg")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RmdirWithin(dir, time.Second); err != nil {
		t.Errorf("RmdirWithin of an empty directory: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the directory is still there: %v", err)
	}
	if err := RmdirWithin(dir, time.Second); err != nil {
		t.Errorf("RmdirWithin of a directory that is gone: %v; want nil", err)
	}
	// Not empty: ENOTEMPTY at once, not retried as EBUSY is.
	if err := os.MkdirAll(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := RmdirWithin(dir, time.Hour); err != unix.ENOTEMPTY {
		t.Errorf("RmdirWithin of a directory with a child: %v; want ENOTEMPTY", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("RmdirWithin retried ENOTEMPTY for %v", d)
	}
}

func TestWriteCtl(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteCtl(path, "1"); err != nil {
		t.Fatalf("WriteCtl: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "1" {
		t.Errorf("the file holds %q after WriteCtl of 1", b)
	}
	if err := WriteCtl(filepath.Join(t.TempDir(), "none"), "1"); err != unix.ENOENT {
		t.Errorf("WriteCtl of a missing file: %v; want ENOENT (it does not create)", err)
	}
}

func TestProcs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte("12\n345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Procs(dir); got != "[12 345]" {
		t.Errorf("Procs = %q, want [12 345]", got)
	}
	if got := Procs(t.TempDir()); !strings.Contains(got, "cgroup.procs") {
		t.Errorf("Procs without the file = %q, want the error", got)
	}
}

// errRecorder is a testing.TB that keeps what Errorf says.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Helper() {}

func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestRemove(t *testing.T) {
	// A plain directory: the writes to cgroup.freeze and cgroup.kill fail
	// and do not matter, the rmdir does.
	dir := filepath.Join(t.TempDir(), "cg")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &errRecorder{TB: t}
	Remove(r, dir)
	Remove(r, dir) // gone: removed
	if len(r.errs) != 0 {
		t.Errorf("Remove of an empty directory, twice: %q", r.errs)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the directory is still there: %v", err)
	}
	// Not empty: one error naming the errno and what cgroup.procs says.
	if err := os.MkdirAll(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	Remove(r, dir)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "ENOTEMPTY") || !strings.Contains(r.errs[0], "cgroup.procs") {
		t.Errorf("Remove of a directory with a child: %q; want one error with ENOTEMPTY", r.errs)
	}
}
