package embryo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PidsCgroup returns a new, empty cgroup directory under the pids
// controller, removed when t ends: a cgroup2 mount with pids (the test VM
// boots with cgroup_no_v1=pids), or a cgroup v1 pids hierarchy (u-root's
// init mounts one at /sys/fs/cgroup/pids where v1 may have pids). If
// neither is mounted, it mounts one.
func PidsCgroup(t testing.TB) string {
	t.Helper()
	root, v2, err := pidsRoot()
	if err != nil {
		t.Fatalf("pids cgroup: %v", err)
	}
	if v2 {
		// Let the children of the root have pids.* files.
		if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+pids"), 0); err != nil {
			t.Fatalf("enabling pids in %s: %v", root, err)
		}
	}
	dir, err := os.MkdirTemp(root, "emptypidfd-")
	if err != nil {
		t.Fatalf("creating a cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The helper that used it has exited; its tasks may take a
		// moment to leave.
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := unix.Rmdir(dir)
			if err == nil || time.Now().After(deadline) {
				if err != nil {
					t.Errorf("removing cgroup %s: %v", dir, err)
				}
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	for _, f := range []string{"pids.current", "pids.max", "cgroup.procs"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	return dir
}

// V1Cgroup returns a new cgroup directory of a named cgroup v1 hierarchy
// (no controller: "none,name=emptypidfd"), which has v1's cgroup.procs
// and tasks files, mounted for t and removed when t ends.
func V1Cgroup(t testing.TB) string {
	t.Helper()
	mnt := t.TempDir()
	if err := unix.Mount("cgroup", mnt, "cgroup", 0, "none,name=emptypidfd"); err != nil {
		t.Fatalf("mounting a named cgroup v1 hierarchy: %v", err)
	}
	dir, err := os.MkdirTemp(mnt, "hidden-")
	if err != nil {
		unix.Unmount(mnt, unix.MNT_DETACH)
		t.Fatalf("creating a cgroup v1 directory: %v", err)
	}
	t.Cleanup(func() {
		// Its tasks (a helper and its child) have exited; they may
		// take a moment to leave.
		deadline := time.Now().Add(10 * time.Second)
		for unix.Rmdir(dir) == unix.EBUSY && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", mnt, err)
		}
	})
	return dir
}

// pidsRoot finds (or mounts) a hierarchy with the pids controller.
func pidsRoot() (root string, v2 bool, err error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return "", false, err
	}
	for _, m := range mounts {
		if m.fstype == "cgroup" && hasOpt(m.opts, "pids") {
			return m.dir, false, nil
		}
	}
	for _, m := range mounts {
		if m.fstype == "cgroup2" && v2HasPids(m.dir) {
			return m.dir, true, nil
		}
	}
	// Nothing mounted: try cgroup2, then a v1 pids hierarchy.
	dir := "/tmp/emptypidfd-cgroup2"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err == nil {
		if v2HasPids(dir) {
			return dir, true, nil
		}
		unix.Unmount(dir, 0)
	}
	dir = "/tmp/emptypidfd-pids"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, err
	}
	if err := unix.Mount("cgroup", dir, "cgroup", 0, "pids"); err != nil {
		return "", false, fmt.Errorf("no pids controller mounted, and mounting cgroup2 or cgroup -o pids failed: %v", err)
	}
	return dir, false, nil
}

type mount struct{ dir, fstype, opts string }

func cgroupMounts() ([]mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []mount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts [optional...] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		if qf[0] == "cgroup" || qf[0] == "cgroup2" {
			ms = append(ms, mount{dir: pf[4], fstype: qf[0], opts: qf[2]})
		}
	}
	return ms, sc.Err()
}

func hasOpt(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

func v2HasPids(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return err == nil && hasOpt(strings.Join(strings.Fields(string(b)), ","), "pids")
}

// Prewarm has the Go runtime start n threads and leave them idle, so that
// its thread count is stable when the embryo charge is read (Charge), and
// it need not create one while pids.max leaves no room.
func Prewarm(n int) {
	var started sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		started.Add(1)
		go func() {
			runtime.LockOSThread()
			started.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	started.Wait()
	close(release)
	time.Sleep(20 * time.Millisecond)
}

// JoinPidsCgroup readies this process (a helper, not the test) to count
// its embryos in the pids cgroup cg (Charge): threads idle threads for the
// Go runtime (Prewarm), then the move into cg.
func JoinPidsCgroup(cg string, threads int) error {
	Prewarm(threads)
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("joining %s: %w", cg, err)
	}
	return nil
}

// Charge is the pids cgroup cg's pids.current less this process's
// threads: what the embryos (and children) this process has in cg cost,
// read when the thread count is stable around it. It fails if the count
// does not settle in 100 tries.
func Charge(cg string) (int, error) {
	for i := 0; i < 100; i++ {
		t1, err := StatusField("self", "Threads")
		if err != nil {
			return 0, err
		}
		cur, err := ReadInt(filepath.Join(cg, "pids.current"))
		if err != nil {
			return 0, err
		}
		t2, err := StatusField("self", "Threads")
		if err != nil {
			return 0, err
		}
		if t1 == t2 {
			n, err := strconv.Atoi(t1)
			return cur - n, err
		}
	}
	return 0, errors.New("thread count does not settle")
}

// WaitCharge polls Charge until it is want, up to timeout, and returns
// the last value (or the first error).
func WaitCharge(cg string, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := Charge(cg)
		if err != nil || n == want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitPidsCurrent polls the pids cgroup cg until its pids.current is
// want, up to timeout, and returns the last value (or the first error).
func WaitPidsCurrent(cg string, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		n, err := ReadInt(filepath.Join(cg, "pids.current"))
		if err != nil || n == want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ReadInt reads a file holding one integer (pids.current, ...).
func ReadInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// StatusField returns a field of /proc/<pid>/status ("self" for this
// process).
func StatusField(pid, name string) (string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == name {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/%s/status has no %s", pid, name)
}

// ProcPids lists the numeric entries of /proc (the processes it shows).
func ProcPids() (map[int]bool, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	pids := map[int]bool{}
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			pids[n] = true
		}
	}
	return pids, nil
}

// ChildrenInProc lists the processes /proc shows whose parent is this
// process (zombies included).
func ChildrenInProc() ([]int, error) {
	pids, err := ProcPids()
	if err != nil {
		return nil, err
	}
	self := strconv.Itoa(os.Getpid())
	var kids []int
	for p := range pids {
		pp, err := StatusField(strconv.Itoa(p), "PPid")
		if err == nil && pp == self {
			kids = append(kids, p)
		}
	}
	return kids, nil
}
