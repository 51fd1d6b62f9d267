// Package cgroup2 holds the cgroup v2 fixtures of the guest selftests:
// finding (or mounting) the v2 hierarchy, a child cgroup with cgroup.kill
// and cgroup.freeze that is removed when the test ends, writing control
// files, and reading and waiting for cgroup.events. The test VM boots
// with cgroup_no_v1=pids, so that the pids controller is v2's (without it,
// u-root's init binds it to a v1 hierarchy; embryo.PidsCgroup finds either);
// cgroup.kill and cgroup.freeze are v2's and need no controller, so the
// two may be different hierarchies.
package cgroup2

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// RemoveWithin bounds each rmdir of Remove (and of New's cleanup) while it
// fails with EBUSY: the kernel kills and thaws at once, 10 s leaves room
// for TCG and a debug kernel.
const RemoveWithin = 10 * time.Second

// Root returns where the cgroup v2 hierarchy is mounted, mounting it
// (until t ends) if it is not.
func Root(t testing.TB) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir, err := findRoot(f)
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		return dir
	}
	dir = t.TempDir()
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("no cgroup2 mounted, and mounting one failed: %s", embryo.Name(err))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// findRoot returns the mount point of the first cgroup2 mount in a
// mountinfo file (/proc/self/mountinfo), "" if there is none.
func findRoot(mountinfo io.Reader) (string, error) {
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return pf[4], nil
		}
	}
	return "", sc.Err()
}

// New returns a new child cgroup of the v2 hierarchy (Root), its name
// prefix and a random suffix, and fails t unless it has cgroup.procs,
// cgroup.events, cgroup.kill and cgroup.freeze. When t ends it is removed
// (Remove) if the test has not removed it.
func New(t testing.TB, prefix string) string {
	t.Helper()
	root := Root(t)
	dir, err := os.MkdirTemp(root, prefix)
	if err != nil {
		t.Fatalf("creating a cgroup v2 directory in %s: %v", root, err)
	}
	for _, f := range []string{"cgroup.procs", "cgroup.events", "cgroup.kill", "cgroup.freeze"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			unix.Rmdir(dir)
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	t.Cleanup(func() { Remove(t, dir) })
	return dir
}

// Remove thaws, empties (cgroup.kill as a last resort, for a test that
// failed half way) and removes the v2 cgroup dir, and fails t (Errorf) if
// it cannot. A cgroup that is gone counts as removed.
func Remove(t testing.TB, dir string) {
	t.Helper()
	WriteCtl(filepath.Join(dir, "cgroup.freeze"), "0")
	err := RmdirWithin(dir, RemoveWithin)
	if err == unix.EBUSY {
		WriteCtl(filepath.Join(dir, "cgroup.kill"), "1")
		err = RmdirWithin(dir, RemoveWithin)
	}
	if err != nil {
		t.Errorf("removing cgroup %s: %s (cgroup.procs %s)", dir, embryo.Name(err), Procs(dir))
	}
}

// WriteCtl writes val to a control file (cgroup, sysfs, procfs) in one
// write(2) and returns its error: the errno of open or write, or an error
// that says how many bytes a short write took.
func WriteCtl(path, val string) error {
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

// RmdirWithin retries rmdir while it fails with EBUSY, up to timeout, and
// returns its last errno; a directory that is gone counts as removed.
func RmdirWithin(dir string, timeout time.Duration) error {
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

// Event returns the value of key ("populated", "frozen") in the
// cgroup.events of cg.
func Event(cg, key string) (string, error) {
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

// WaitEvent polls cgroup.events until key has value want, up to timeout,
// and returns the last value read and whether it was want. If the file
// cannot be read or has no key, it returns at once with the error's text
// and false.
func WaitEvent(cg, key, want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := Event(cg, key)
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

// Procs is the cgroup.procs of cg (v1 or v2) on one line, "[pid pid]",
// for messages; the error's text if it cannot be read.
func Procs(cg string) string {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return err.Error()
	}
	return "[" + strings.Join(strings.Fields(string(b)), " ") + "]"
}
