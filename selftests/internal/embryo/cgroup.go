package embryo

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PidsCgroup returns a new, empty cgroup directory under the pids
// controller, removed when t ends. The guest's init (u-root) binds pids to a
// cgroup v1 hierarchy at /sys/fs/cgroup/pids; a cgroup2 mount with pids
// enabled serves as well. If neither is mounted, it mounts one.
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
