package embryo

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fakePids makes a directory whose pids.current holds n.
func fakePids(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	setPids(t, dir, n)
	return dir
}

// setPids replaces pids.current at once (a rename), so that a reader
// never sees it empty.
func setPids(t *testing.T, dir string, n int) {
	tmp := filepath.Join(dir, "pids.current.new")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, "pids.current")); err != nil {
		t.Error(err)
	}
}

func threads(t *testing.T) int {
	t.Helper()
	s, err := StatusField("self", "Threads")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCharge(t *testing.T) {
	Prewarm(4) // the thread count stays put
	cg := fakePids(t, 1000)
	before := threads(t)
	n, err := Charge(cg)
	after := threads(t)
	if err != nil || n > 1000-min(before, after) || n < 1000-max(before, after) {
		t.Errorf("Charge = %d, %v; want 1000 less this process's %d threads", n, err, before)
	}
	if _, err := Charge(t.TempDir()); !os.IsNotExist(err) {
		t.Errorf("Charge without pids.current: %v; want ENOENT", err)
	}
}

func TestWaitCharge(t *testing.T) {
	Prewarm(4)
	cg := fakePids(t, 1000)
	start := time.Now()
	n, err := WaitCharge(cg, -1, 100*time.Millisecond) // never
	if err != nil || n <= 0 {
		t.Errorf("WaitCharge of a charge that never comes = %d, %v; want the last charge", n, err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("WaitCharge returned after %v, before its timeout", d)
	}
	// Released while it waits: pids.current drops to the threads alone
	// (written again and again, should the runtime start a thread).
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		for {
			setPids(t, cg, threads(t))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	n, err = WaitCharge(cg, 0, 10*time.Second)
	close(stop)
	<-done
	if n != 0 || err != nil {
		t.Errorf("WaitCharge of a charge that comes = %d, %v; want 0", n, err)
	}
}

func TestWaitPidsCurrent(t *testing.T) {
	cg := fakePids(t, 3)
	if n, err := WaitPidsCurrent(cg, 3, 0); n != 3 || err != nil {
		t.Errorf("WaitPidsCurrent of the value there = %d, %v", n, err)
	}
	if n, err := WaitPidsCurrent(cg, 0, 50*time.Millisecond); n != 3 || err != nil {
		t.Errorf("WaitPidsCurrent of a value that never comes = %d, %v; want the last value 3", n, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(50 * time.Millisecond)
		setPids(t, cg, 0)
	}()
	defer func() { <-done }()
	if n, err := WaitPidsCurrent(cg, 0, 10*time.Second); n != 0 || err != nil {
		t.Errorf("WaitPidsCurrent of a value that comes = %d, %v; want 0", n, err)
	}
}

func TestJoinPidsCgroup(t *testing.T) {
	cg := t.TempDir()
	procs := filepath.Join(cg, "cgroup.procs")
	if err := os.WriteFile(procs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := JoinPidsCgroup(cg, 2); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(procs); string(b) != strconv.Itoa(os.Getpid()) {
		t.Errorf("cgroup.procs holds %q, want this process's pid %d", b, os.Getpid())
	}
	if err := JoinPidsCgroup(filepath.Join(cg, "none"), 0); err == nil {
		t.Error("JoinPidsCgroup of a missing cgroup: no error")
	}
}
