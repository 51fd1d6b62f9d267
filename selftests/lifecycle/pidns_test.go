package lifecycle

// Pid namespaces: pidfd_spawn_run returns the child's pid in the caller's
// namespace, and a thread whose children would be born in another
// namespace cannot create an embryo.

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type pidnsResult struct {
	Self        int    // getpid() of the helper: 1
	Run         int    // what pidfd_spawn_run returned
	FdinfoPid   string // the pidfd's fdinfo, read through the root namespace's /proc
	FdinfoNSpid string
	StatusNSpid string // /proc/<root pid>/status NSpid of the child
	ReportPid   int    // getpid() in the child
	ReportPPid  int    // getppid() in the child
	WaitPid     int    // si_pid of waitid
	Exit        string
	Exited0     bool
}

// helperPidns is the init of a new pid namespace (its /proc is still
// the root namespace's). It starts an embryo and compares the pid
// pidfd_spawn_run returns with what the child and the root namespace's
// /proc say.
func helperPidns(json.RawMessage) (any, error) {
	res := pidnsResult{Self: os.Getpid()}
	fd, out, inW, err := readingEmbryo()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer out.Close()
	defer inW.Close()
	if res.Run, err = pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, err := embryo.ParseReport(out)
	if err != nil {
		return nil, fmt.Errorf("the child: %v\n%s", err, raw)
	}
	res.ReportPid, res.ReportPPid = rep.Pid, rep.PPid
	m, err := pidfd.Fdinfo(fd)
	if err != nil {
		return nil, err
	}
	res.FdinfoPid, res.FdinfoNSpid = m["Pid"], m["NSpid"]
	if res.StatusNSpid, err = embryo.StatusField(res.FdinfoPid, "NSpid"); err != nil {
		return nil, fmt.Errorf("the child's status through the root /proc: %v", err)
	}
	inW.Close()
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return nil, err
	}
	res.WaitPid, res.Exit, res.Exited0 = ex.Pid, ex.String(), ex.Exited(0)
	return res, nil
}

// TestPidInCallerNamespace (DESIGN.md section 3: on success run returns
// the child's pid in the caller's pid namespace). The creator is the init
// of a new pid namespace. pidfd_spawn_run must return the pid the child
// has there: the one the child gets from getpid(), the one waitid reports,
// and the last field of the child's NSpid in the root namespace's /proc
// (whose first field, the root namespace's number, the creator also sees
// in fdinfo and must not be given). The child's parent is the creator, pid
// 1 in that namespace.
func TestPidInCallerNamespace(t *testing.T) {
	embryo.Require(t)
	h := helper.New(t, "pidns", nil)
	h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
	var res pidnsResult
	h.Result(&res)
	t.Logf("%+v", res)
	if res.Self != 1 {
		t.Fatalf("the helper is pid %d in its namespace, want 1: the test is void", res.Self)
	}
	nspid := strings.Fields(res.StatusNSpid)
	if len(nspid) != 2 || nspid[0] != res.FdinfoPid {
		t.Fatalf("the child's NSpid in the root /proc: %q, want 2 levels starting with %s", res.StatusNSpid, res.FdinfoPid)
	}
	if f := strings.Fields(res.FdinfoNSpid); !reflect.DeepEqual(f, nspid) {
		t.Errorf("fdinfo NSpid %q, /proc/%s/status NSpid %q: want the same", res.FdinfoNSpid, res.FdinfoPid, res.StatusNSpid)
	}
	inNs, _ := strconv.Atoi(nspid[1])
	if res.Run != inNs {
		t.Errorf("pidfd_spawn_run returned %d in a pid namespace where the child is %d (root namespace: %s)", res.Run, inNs, nspid[0])
	}
	if res.ReportPid != res.Run || res.WaitPid != res.Run {
		t.Errorf("the child's getpid() %d, waitid's si_pid %d, run returned %d: want all the same", res.ReportPid, res.WaitPid, res.Run)
	}
	if res.ReportPPid != 1 {
		t.Errorf("the child's getppid() is %d, want 1 (its creator, the namespace's init)", res.ReportPPid)
	}
	if !res.Exited0 {
		t.Errorf("the child: %s, want exit 0", res.Exit)
	}
}

// TestPidNsForChildrenEINVAL (pidfd_empty.rst: EINVAL when the caller's
// pid_ns_for_children is not its own pid namespace). A thread that has
// unshared CLONE_NEWPID (its children would be born in a new namespace)
// must get EINVAL from pidfd_open(0, PIDFD_EMPTY); another thread of the
// same process, whose pid_ns_for_children is unchanged, must succeed (the
// control: the condition is the thread's namespace, not the process).
func TestPidNsForChildrenEINVAL(t *testing.T) {
	embryo.Require(t)
	type result struct{ unshare, open string }
	c := make(chan result, 1)
	go func() {
		// Never unlocked: the thread exits with its namespace change.
		runtime.LockOSThread()
		var r result
		r.unshare = embryo.Name(unix.Unshare(unix.CLONE_NEWPID))
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err == nil {
			unix.Close(fd)
		}
		r.open = embryo.Name(err)
		c <- r
	}()
	r := <-c
	if r.unshare != "success" {
		t.Fatalf("unshare(CLONE_NEWPID): %s", r.unshare)
	}
	if r.open != "EINVAL" {
		t.Errorf("pidfd_open(0, PIDFD_EMPTY) after unshare(CLONE_NEWPID): %s, want EINVAL", r.open)
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	embryo.Check(t, "pidfd_open(0, PIDFD_EMPTY) from another thread (control)", err, 0)
	if err == nil {
		unix.Close(fd)
	}
}
