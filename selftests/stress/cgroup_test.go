package stress

// Cgroups: each worker runs in a pids cgroup of its own (pids.current is
// the check that nothing it made outlives the round) and has a cgroup v2
// directory for the cgroup.kill and cgroup.freeze ops. The guest's init
// binds the pids controller to a v1 hierarchy; cgroup.kill and
// cgroup.freeze are v2's and need no controller, so the two may be
// different hierarchies (a v2 kill cgroup under the pids cgroup when
// pids is v2's).

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// workerCgroups are a worker's cgroups, made once per test.
type workerCgroups struct {
	pids string // pids.current, pids.max; the worker joins it
	kill string // cgroup.kill, cgroup.freeze, cgroup.events (v2)
}

func newWorkerCgroups(t *testing.T) workerCgroups {
	t.Helper()
	pids := embryo.PidsCgroup(t)
	if _, err := os.Stat(filepath.Join(pids, "cgroup.kill")); err == nil {
		// pids is v2's: the kill cgroup is a child of it, so that
		// pids.current counts what is in it.
		kill := filepath.Join(pids, "kill")
		if err := os.Mkdir(kill, 0o755); err != nil {
			t.Fatalf("creating %s: %v", kill, err)
		}
		t.Cleanup(func() { removeCgroup(t, kill) })
		return workerCgroups{pids: pids, kill: kill}
	}
	dir, err := os.MkdirTemp(cgroup2Root(t), "emptypidfd-stress-")
	if err != nil {
		t.Fatalf("creating a cgroup v2 directory: %v", err)
	}
	for _, f := range []string{"cgroup.procs", "cgroup.events", "cgroup.kill", "cgroup.freeze"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			unix.Rmdir(dir)
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	t.Cleanup(func() { removeCgroup(t, dir) })
	return workerCgroups{pids: pids, kill: dir}
}

// removeCgroup thaws, empties (cgroup.kill as a last resort) and removes
// a v2 cgroup.
func removeCgroup(t *testing.T, dir string) {
	writeCtl(filepath.Join(dir, "cgroup.freeze"), "0")
	err := rmdirWithin(dir, cgroupWithin)
	if err == unix.EBUSY {
		writeCtl(filepath.Join(dir, "cgroup.kill"), "1")
		err = rmdirWithin(dir, cgroupWithin)
	}
	if err != nil {
		t.Errorf("removing cgroup %s: %s (cgroup.procs %s)", dir, errnoName(errnoOf(err)), cgroupProcs(dir))
	}
}

// cgroup2Root returns where the cgroup v2 hierarchy is mounted, mounting
// it (until t ends) if it is not (as lifecycle's cgroup2Root).
func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("no cgroup2 mounted, and mounting one failed: %s", errnoName(errnoOf(err)))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// writeCtl writes val to a control file in one write(2).
func writeCtl(path, val string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(val))
	if err != nil {
		return err
	}
	if n != len(val) {
		return fmt.Errorf("write of %q to %s: %d bytes written", val, path, n)
	}
	return nil
}

// rmdirWithin retries rmdir while it fails with EBUSY; a directory that
// is gone counts as removed.
func rmdirWithin(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupEvent returns the value of key in cgroup.events.
func cgroupEvent(cg, key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s/cgroup.events has no %q: %q", cg, key, b)
}

// waitCgroupEvent polls cgroup.events until key has value want, up to
// timeout, and returns the last value read.
func waitCgroupEvent(cg, key, want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := cgroupEvent(cg, key)
		if err != nil {
			return err.Error(), false
		}
		if v == want {
			return v, true
		}
		if time.Now().After(deadline) {
			return v, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cgroupProcs is a cgroup's cgroup.procs on one line, for messages.
func cgroupProcs(cg string) string {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return err.Error()
	}
	return "[" + strings.Join(strings.Fields(string(b)), " ") + "]"
}

// waitPidsCurrent polls a pids cgroup until pids.current is want, up to
// timeout, and returns the last value.
func waitPidsCurrent(cg string, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := embryo.ReadInt(filepath.Join(cg, "pids.current"))
		if err != nil || n == want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
