package lifecycle

// The lifetime holes the review of series v1 found ("Safety in every
// state", DESIGN.md section 3), findings A5 to A11 of series v2: an embryo
// is killable and freezable in every state, only its creator's file
// decides its lifetime and no embryo holds an unstarted embryo's pidfd,
// every user-sized copy is bounded, and argv/envp obey exec's limits. Each
// test fails on v1.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/arena"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// TestKillWhileExecingCgroupKill (series v2, A5): an embryo whose exec
// blocks without bound, here on a fanotify permission event that nobody
// answers, dies with its cgroup's cgroup.kill, so the cgroup empties and
// can be removed. v1: no signal reaches an embryo, so it stays in the
// cgroup for as long as the exec blocks and rmdir fails with EBUSY.
func TestKillWhileExecingCgroupKill(t *testing.T) {
	embryo.Require(t)
	cg := newCgroup2(t)
	prog := filepath.Join(tmpfsDir(t), "true-static")
	helper.CopyFile(t, childreport.TruePath, prog, 0o755)
	fan := newExecBlocker(t, prog)
	defer fan.release() // before the cleanups wait for the helper

	cgfd := openCgroup(t, cg)
	h := startExecBlock(t, execBlockArg{Prog: prog, Argv: []string{"true-static"}}, func(h *helper.Helper) {
		intoCgroup(h, cgfd)
	})
	unix.Close(cgfd)
	pid := fan.waitExec(t, h.Pid()) // the embryo is in its exec, held there
	procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	t.Logf("helper %d, embryo %d execing; cgroup.procs %q", h.Pid(), pid, procs)

	embryo.Check(t, "writing 1 to cgroup.kill", writeCtl(filepath.Join(cg, "cgroup.kill"), "1"), 0)
	if v, ok := waitCgroupEvent(cg, "populated", "0", killWithin); !ok {
		procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		t.Fatalf("cgroup.events says populated %s %v after cgroup.kill, cgroup.procs %q: the execing embryo %d was not killed", v, killWithin, procs, pid)
	}
	if procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs")); err != nil || len(procs) != 0 {
		t.Errorf("cgroup.procs after cgroup.kill: %q, %v; want empty", procs, err)
	}
	embryo.Check(t, "rmdir of the killed cgroup", unix.Rmdir(cg), 0)
}

// TestKillWhileExecingPidnsTeardown (series v2, A6): when the init of a pid
// namespace dies, an embryo of that namespace whose exec blocks without
// bound dies too, the init's exit completes, and the program never runs,
// not even when the exec is let go afterwards. v1: the embryo cannot be
// killed, so the dying init waits for it forever, and once the exec is let
// go the program starts in the dead namespace.
func TestKillWhileExecingPidnsTeardown(t *testing.T) {
	embryo.Require(t)
	dir := tmpfsDir(t)
	prog := filepath.Join(dir, "childreport")
	marker := filepath.Join(dir, "marker") // childreport writes its report there
	helper.CopyFile(t, childreport.Path, prog, 0o755)
	fan := newExecBlocker(t, prog)
	defer fan.release() // before the cleanups wait for the helper

	arg := execBlockArg{Prog: prog, Argv: []string{"childreport"}, Env: []string{childreport.EnvOutFile + "=" + marker}}
	h := startExecBlock(t, arg, func(h *helper.Helper) {
		h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
	})
	hfd, err := pidfd.Open(h.Pid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open(helper %d): %v", h.Pid(), err)
	}
	defer unix.Close(hfd)
	if nspid, err := embryo.StatusField(strconv.Itoa(h.Pid()), "NSpid"); err != nil || !strings.HasSuffix(nspid, "\t1") {
		t.Fatalf("the helper's NSpid %q (%v): it is not the init of a new pid namespace", nspid, err)
	}
	pid := fan.waitExec(t, h.Pid())

	if err := unix.PidfdSendSignal(hfd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatalf("SIGKILL to the namespace's init: %v", err)
	}
	ev, err := embryo.PollIn(hfd, killWithin)
	exited := err == nil && ev&unix.POLLIN != 0
	if !exited {
		t.Errorf("the namespace's init (pid %d) has not finished exiting %v after SIGKILL (poll: %#x, %v): it waits for the execing embryo %d", h.Pid(), killWithin, ev, err, pid)
	} else if ex, err := pidfd.Waitid(unix.P_PIDFD, hfd, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG); err != nil || ex.Code != pidfd.CLD_KILLED || ex.Status != int(unix.SIGKILL) {
		t.Errorf("the namespace's init: %v, %v; want killed by SIGKILL", ex, embryo.Name(err))
	}

	fan.release() // allows the exec, if anything is still there to exec
	if !exited {
		// v1: the exec goes on now; wait for it so that the marker
		// says whether the program ran and the cleanup can reap.
		if ev, err := embryo.PollIn(hfd, embryo.Timeout); err != nil || ev&unix.POLLIN == 0 {
			t.Errorf("the namespace's init has not exited %v after the exec was allowed either (poll: %#x, %v)", embryo.Timeout, ev, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		b, _ := os.ReadFile(marker)
		t.Errorf("the embryo's program ran in the dead pid namespace; its report:\n%s", b)
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat %s: %v", marker, err)
	}
}

// openSecondFile opens /proc/self/fd/<fd>: a new pidfs file for the same
// pid, not a dup of fd's file.
func openSecondFile(t *testing.T, fd int) int {
	t.Helper()
	fd2, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open(/proc/self/fd/%d, O_RDONLY) of an embryo's pidfd: %s", fd, embryo.Name(err))
	}
	var st1, st2 unix.Stat_t
	if err := unix.Fstat(fd, &st1); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fstat(fd2, &st2); err != nil {
		t.Fatal(err)
	}
	fl1, err1 := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	fl2, err2 := unix.FcntlInt(uintptr(fd2), unix.F_GETFL, 0)
	if st1.Dev != st2.Dev || st1.Ino != st2.Ino || err1 != nil || err2 != nil ||
		fl1&unix.O_ACCMODE != unix.O_RDWR || fl2&unix.O_ACCMODE != unix.O_RDONLY {
		unix.Close(fd2)
		t.Fatalf("/proc/self/fd/%d opened inode %d:%d flags %#x (%v), the pidfd is %d:%d flags %#x (%v): not a second file on the same pid; the test is void",
			fd, st2.Dev, st2.Ino, fl2, err2, st1.Dev, st1.Ino, fl1, err1)
	}
	return fd2
}

// TestSecondFileDoesNotDestroy (series v2, A7): only the creator's file
// decides an embryo's lifetime. A second pidfs file on the same pid, here
// the pidfd reopened through /proc/self/fd, neither destroys the embryo
// when it closes nor keeps it alive when the creator's file closes. v1:
// the close of any pidfs file of the pid destroys the embryo.
func TestSecondFileDoesNotDestroy(t *testing.T) {
	embryo.Require(t)
	t.Run("closing the second file", func(t *testing.T) {
		fd := embryo.New(t)
		out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
		fd2 := openSecondFile(t, fd)
		if err := unix.Close(fd2); err != nil {
			t.Fatal(err)
		}
		argv := []string{childreport.Path, "exit", "0"}
		if !embryo.Check(t, "PIDFD_CONFIG_ARGV on the creator's fd after the second file closed", pidfd.ConfigArgv(fd, argv), 0) {
			t.FailNow()
		}
		if !embryo.IsEmbryo(t, fd) {
			t.Fatalf("after the second file closed, fdinfo of the creator's fd lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
		}
		embryo.RunToExit(t, fd, out, 0)
	})
	t.Run("closing the creator's file while a second one is open", func(t *testing.T) {
		fd := embryo.NewUnmanaged(t, 0)
		fd2 := openSecondFile(t, fd)
		defer unix.Close(fd2)
		if err := unix.Close(fd); err != nil {
			t.Fatal(err)
		}
		ev, err := embryo.PollIn(fd2, killWithin)
		if err != nil || ev&(unix.POLLIN|unix.POLLHUP) == 0 {
			t.Fatalf("poll on the second file %v after the creator's file closed: events %#x, %v; want POLLIN or POLLHUP (the embryo destroyed)", killWithin, ev, err)
		}
		_, err = pidfd.Waitid(unix.P_PIDFD, fd2, unix.WEXITED|unix.WNOHANG)
		embryo.Check(t, "waitid(P_PIDFD) on the second file of a destroyed embryo", err, unix.ECHILD)
	})
}

// TestNoEmbryoPidfdInEmbryo (series v2, A7): an embryo never holds an
// unstarted embryo's pidfd, its own or another's, so no embryo keeps itself
// or another alive after its creator closed it (a cycle no close breaks).
// PIDFD_FD_DUP of such a pidfd fails with EINVAL and leaves nothing;
// PIDFD_FD_INHERIT leaves such pidfds out as it leaves O_CLOEXEC ones out.
// A started process's pidfd is an ordinary descriptor. v1: the DUPs succeed
// and INHERIT copies the pidfds, so closing them destroys nothing.
func TestNoEmbryoPidfdInEmbryo(t *testing.T) {
	embryo.Require(t)
	dupRejected := func(t *testing.T, into, src int, flags int, what string) {
		t.Helper()
		embryo.Check(t, "PIDFD_FD_DUP of "+what, pidfd.ConfigFDDup(into, src, 3, flags), unix.EINVAL)
		// Also undoes a v1 DUP, so that the embryos can be destroyed.
		embryo.Check(t, "CLOSE of the fd the rejected DUP named", pidfd.ConfigFDClose(into, 3), unix.EBADF)
	}
	t.Run("DUP of its own pidfd", func(t *testing.T) {
		a := embryo.New(t)
		dupRejected(t, a, a, 0, "the embryo's own pidfd")
		dupRejected(t, a, a, pidfd.PIDFD_FD_CLOEXEC, "the embryo's own pidfd with PIDFD_FD_CLOEXEC")
	})
	t.Run("DUP of another embryo's pidfd", func(t *testing.T) {
		a, b := embryo.New(t), embryo.New(t)
		dupRejected(t, a, b, 0, "another embryo's pidfd")
		dupRejected(t, a, b, pidfd.PIDFD_FD_CLOEXEC, "another embryo's pidfd with PIDFD_FD_CLOEXEC")
	})
	t.Run("DUP of an embryo idle after a failed exec", func(t *testing.T) {
		a, b := embryo.New(t), embryo.New(t)
		if err := pidfd.ConfigExec(b, unix.AT_FDCWD, "/nonexistent/emptypidfd-v2", 0); err != nil {
			t.Fatal(embryo.Name(err))
		}
		_, err := pidfd.SpawnRun(b, 0)
		if !embryo.Check(t, "run of a missing path", err, unix.ENOENT) {
			t.FailNow()
		}
		dupRejected(t, a, b, 0, "the pidfd of an embryo idle after a failed exec")
	})
	t.Run("INHERIT", func(t *testing.T) {
		cg := embryo.PidsCgroup(t)
		var res inheritResult
		helper.New(t, "v2inherit", inheritArg{Cgroup: cg}).Env("GOMAXPROCS=1").Result(&res)
		t.Logf("%s: %+v", cg, res)
		if res.OwnWithEmbryo != res.OwnBase+1 || res.OtherWithBoth != res.OtherBase+2 {
			t.Fatalf("embryo charges %d -> %d with one, %d -> %d with two: the pids cgroup does not count embryos; the test is void",
				res.OwnBase, res.OwnWithEmbryo, res.OtherBase, res.OtherWithBoth)
		}
		if res.OwnInherit != "success" {
			t.Errorf("INHERIT with the embryo's own pidfd not close-on-exec: %s, want success (the pidfd left out)", res.OwnInherit)
		}
		if res.OwnAfter != res.OwnBase {
			t.Errorf("after INHERIT of its own pidfd and its close, the embryo charge is %d, want %d: the embryo holds itself", res.OwnAfter, res.OwnBase)
		}
		if res.OtherInherit != "success" {
			t.Errorf("INHERIT into A with B's pidfd not close-on-exec: %s, want success (the pidfd left out)", res.OtherInherit)
		}
		if res.OtherAfterB != res.OtherBase+1 {
			t.Errorf("after INHERIT of B's pidfd into A and the close of B's, the charge is %d, want %d (A only): A holds B", res.OtherAfterB, res.OtherBase+1)
		}
		if res.OtherCloseB != "EBADF" {
			t.Errorf("CLOSE in A of the fd number of B's pidfd after INHERIT: %s, want EBADF (left out)", res.OtherCloseB)
		}
		if res.OtherClose2 != "success" {
			t.Errorf("CLOSE in A of fd 2 (the helper's stderr) after INHERIT: %s, want success (inherited)", res.OtherClose2)
		}
		if res.OtherAfterAB != res.OtherBase {
			t.Errorf("after closing A too, the charge is %d, want %d", res.OtherAfterAB, res.OtherBase)
		}
	})
	t.Run("a started process's pidfd may be DUPed", func(t *testing.T) {
		// A started embryo's pidfd and a CLONE_PIDFD child's.
		started := embryo.New(t)
		in, inW := embryo.InputPipe(t)
		out := embryo.Config(t, started, []string{"read"}, nil)
		if err := pidfd.ConfigFDDup(started, int(in.Fd()), 0, 0); err != nil {
			t.Fatal(embryo.Name(err))
		}
		embryo.Run(t, started)
		embryo.Report(t, out)
		_, kid, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
		if err != nil {
			t.Fatalf("fork+exec with CLONE_PIDFD: %v", err)
		}
		defer unix.Close(kid)

		a := embryo.New(t)
		embryo.Check(t, "PIDFD_FD_DUP of a started embryo's pidfd", pidfd.ConfigFDDup(a, started, 3, 0), 0)
		embryo.Check(t, "PIDFD_FD_DUP of a CLONE_PIDFD child's pidfd", pidfd.ConfigFDDup(a, kid, 4, 0), 0)
		report := filepath.Join(t.TempDir(), "report")
		embryo.ConfigProgram(t, a, childreport.Path, []string{childreport.Path}, []string{childreport.EnvOutFile + "=" + report})
		embryo.Run(t, a)
		if ex := embryo.Wait(t, a); !ex.Exited(0) {
			t.Errorf("child: %v, want exit 0", ex)
		}
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatalf("no report: %v", err)
		}
		rep, err := childreport.Parse(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		for _, n := range []int{3, 4} {
			if f, ok := rep.FD(n); !ok || !strings.Contains(f.Target, "pidfd") {
				t.Errorf("the child's fd %d: %+v (present %v), want the DUPed pidfd; fds %v", n, f, ok, rep.FDNums())
			}
		}
		inW.Close()
		if ex := embryo.Wait(t, started); !ex.Exited(0) {
			t.Errorf("the started embryo: %v, want exit 0", ex)
		}
		if ex := embryo.Wait(t, kid); !ex.Exited(0) {
			t.Errorf("the CLONE_PIDFD child: %v, want exit 0", ex)
		}
	})
}

// openat2Raw is openat2(AT_FDCWD, path, how, size) with any size.
func openat2Raw(path uint64, how []byte, size int) (int, error) {
	dirfd := unix.AT_FDCWD
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(path), uintptr(unsafe.Pointer(&how[0])), uintptr(size), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// TestFDOpenHowSizeBounded (series v2, A9): PIDFD_FD_OPEN takes an open_how
// of at most a page, as openat2 does (E2BIG above), so no caller makes the
// kernel scan an unbounded user buffer for non-zero bytes. v1 accepts any
// size whose tail is zero.
func TestFDOpenHowSizeBounded(t *testing.T) {
	embryo.Require(t)
	page := unix.Getpagesize()
	a := arena.New(t, 1<<16)
	path := a.CStringAddr(os.DevNull)
	fd := embryo.New(t)
	for _, tc := range []struct {
		name string
		size int
		want unix.Errno
	}{
		{"how_size = sizeof(struct open_how)", unix.SizeofOpenHow, 0},
		{"how_size = PAGE_SIZE, zeros after the struct", page, 0},
		{"how_size = PAGE_SIZE + 1, zeros after the struct", page + 1, unix.E2BIG},
		{"how_size = 2 * PAGE_SIZE, zeros after the struct", 2 * page, unix.E2BIG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			how := arena.Place(a, unix.OpenHow{Flags: unix.O_RDONLY}, tc.size)
			ref, err := openat2Raw(path, how, tc.size)
			if err == nil {
				unix.Close(ref)
			}
			if embryo.Errno(err) != tc.want {
				t.Fatalf("openat2 itself with how_size %d: %s, want %s: the comparison is void", tc.size, embryo.Name(err), embryo.ErrnoName(tc.want))
			}
			arg := arena.Place(a, pidfd.FDArg{
				Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: 3,
				Path: path, How: arena.Addr(how), HowSize: uint64(tc.size),
			}, 0)
			err = pidfd.Config(fd, pidfd.PIDFD_CONFIG_FD, arena.Ptr(arg), pidfd.PIDFD_FD_SIZE_VER0)
			embryo.Check(t, "PIDFD_FD_OPEN with "+tc.name, err, tc.want)
			want := unix.Errno(0) // the opened fd is there
			if tc.want != 0 {
				want = unix.EBADF // a failed OPEN installs nothing
			}
			embryo.Check(t, "CLOSE of fd 3 after the OPEN", pidfd.ConfigFDClose(fd, 3), want)
		})
	}
}

// TestArgvEnvpLimitsAsExec (series v2, A10): ARGV and ENVP are held to
// exec's limit when they are configured: argv and envp strings and their
// pointers together against a quarter of the embryo's RLIMIT_STACK (at
// least ARG_MAX, at most 6 MiB), so what config accepts exec also accepts.
// v1 allowed 6 MiB of strings per vector whatever the stack limit, without
// counting pointers.
func TestArgvEnvpLimitsAsExec(t *testing.T) {
	embryo.Require(t)
	var res argvLimitsResult
	helper.New(t, "v2argvlimits", nil).Result(&res)
	t.Logf("%+v", res)
	for _, c := range []struct{ what, got, want string }{
		{"ARGV of 300 KiB, embryo created under RLIMIT_STACK 8 MiB (limit 2 MiB)", res.BigArgv300, "success"},
		{"ARGV of 300 KiB under RLIMIT_STACK 1 MiB (limit 256 KiB)", res.Argv300, "E2BIG"},
		{"ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Argv200, "success"},
		{"ENVP of 100 KiB after ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Envp100, "E2BIG"},
		{"run with ARGV of 200 KiB after the rejected ENVP", res.Run200, "success"},
		{"ARGV of 200 KiB (second embryo)", res.Argv200b, "success"},
		{"ENVP of 20 KiB after ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Envp20, "success"},
		{"run with ARGV of 200 KiB and ENVP of 20 KiB", res.Run220, "success"},
		{"ARGV of 40000 one-byte strings (80 KB of strings, 400 KB with pointers)", res.ArgvTiny, "E2BIG"},
		{"ENVP of 40000 one-byte strings", res.EnvpTiny, "E2BIG"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	if res.Run200 == "success" && !res.Exited200 {
		t.Errorf("child with ARGV of 200 KiB: %s, want exit 0", res.Exit200)
	}
	if res.Run220 == "success" && !res.Exited220 {
		t.Errorf("child with ARGV of 200 KiB and ENVP of 20 KiB: %s, want exit 0", res.Exit220)
	}
}

// TestFreezerFreezesEmbryo (series v2, A11): the cgroup v2 freezer freezes
// a cgroup that holds an embryo, unstarted or idle after a failed exec:
// cgroup.events reports "frozen 1". After the thaw the embryo still
// configures and runs. v1: an embryo sleeps in TASK_NEW or TASK_IDLE,
// which the freezer cannot freeze, so the cgroup never reports frozen.
func TestFreezerFreezesEmbryo(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name   string
		failed bool
	}{
		{"unstarted", false},
		{"idle after a failed exec", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg := newCgroup2(t)
			cgfd := openCgroup(t, cg)
			arg := holdArg{FailedExec: []bool{tc.failed}}
			h, stdin := startHold(t, arg, func(h *helper.Helper) { intoCgroup(h, cgfd) })
			unix.Close(cgfd)
			freeze := filepath.Join(cg, "cgroup.freeze")
			defer writeCtl(freeze, "0")

			if !embryo.Check(t, "writing 1 to cgroup.freeze", writeCtl(freeze, "1"), 0) {
				t.FailNow()
			}
			if v, ok := waitCgroupEvent(cg, "frozen", "1", killWithin); !ok {
				procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
				t.Errorf("cgroup.events says frozen %s %v after cgroup.freeze (cgroup.procs %q): the embryo was not frozen", v, killWithin, procs)
			}
			embryo.Check(t, "writing 0 to cgroup.freeze", writeCtl(freeze, "0"), 0)
			if v, ok := waitCgroupEvent(cg, "frozen", "0", killWithin); !ok {
				t.Errorf("cgroup.events says frozen %s %v after the thaw", v, killWithin)
			}
			stdin.Close()
			var res []heldEmbryo
			h.Result(&res)
			checkHeld(t, arg, res)
		})
	}
}

// TestFreezerFreezesRunner (series v2 review): the cgroup v2 freezer
// freezes a creator that waits in pidfd_spawn_run() for its embryo's exec.
// It covers the v2 review finding "a runner waiting in pidfd_spawn_run
// keeps its cgroup from freezing". The helper creates the embryo while in
// cgroup A, moves itself into cgroup B and runs the embryo, whose exec a
// fanotify permission event holds without bound; the embryo stays in A,
// so B holds only the runner. Once the exec is held, writing 1 to
// B/cgroup.freeze makes B/cgroup.events say "frozen 1": the runner's wait
// is wrapped in cgroup_enter_frozen()/cgroup_leave_frozen(), as vfork()'s
// is. After the thaw, the denied exec ends the run, which returns.
// Without the fix the runner sleeps where the freezer cannot stop it and
// B never reports frozen.
//
// The "vfork control" row shows the existing kernel path the fix follows:
// a CLONE_VFORK parent in B whose child, in A, is held in its exec the same
// way; B reports frozen 1.
func TestFreezerFreezesRunner(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name  string
		vfork bool
	}{
		{"vfork control", true},
		{"pidfd_spawn_run", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cgA, cgB := newCgroup2(t), newCgroup2(t)
			prog := filepath.Join(tmpfsDir(t), "true-static")
			helper.CopyFile(t, childreport.TruePath, prog, 0o755)
			fan := newExecBlocker(t, prog)
			defer fan.release() // before the cleanups wait for the helper

			var h *helper.Helper
			var execer int // the process held in its exec, in A
			if tc.vfork {
				cgfd := openCgroup(t, cgB)
				h = helper.New(t, "v2vforkcontrol", vforkControlArg{Prog: prog, Cgroup: cgA})
				intoCgroup(h, cgfd)
				h.Start()
				unix.Close(cgfd)
				evs, err := fan.next(embryo.Timeout)
				if err != nil {
					t.Fatalf("waiting for the vfork child's exec to reach the fanotify permission check: %v", err)
				}
				if len(evs) != 1 || evs[0].Mask&unix.FAN_OPEN_EXEC_PERM == 0 {
					t.Fatalf("fanotify events %+v; want one FAN_OPEN_EXEC_PERM, from the vfork child", evs)
				}
				execer = int(evs[0].Pid)
				if in, procs := cgroupHas(cgA, execer); !in {
					t.Fatalf("the execing child %d is not in cgroup A (cgroup.procs %q): the control is void", execer, procs)
				}
			} else {
				cgfd := openCgroup(t, cgA)
				arg := execBlockArg{Prog: prog, Argv: []string{"true-static"}, MoveTo: cgB}
				h = startExecBlock(t, arg, func(h *helper.Helper) { intoCgroup(h, cgfd) })
				unix.Close(cgfd)
				execer = fan.waitExec(t, h.Pid()) // the embryo is in its exec, held there
			}
			hfd, err := pidfd.Open(h.Pid(), 0)
			if err != nil {
				t.Fatalf("pidfd_open(helper %d): %v", h.Pid(), err)
			}
			defer unix.Close(hfd)
			if in, procs := cgroupHas(cgB, h.Pid()); !in {
				t.Fatalf("the helper %d is not in cgroup B (cgroup.procs %q): the test is void", h.Pid(), procs)
			}
			_, procsA := cgroupHas(cgA, execer)
			_, procsB := cgroupHas(cgB, execer)
			t.Logf("helper %d waits for process %d's exec; cgroup A procs %q, B procs %q", h.Pid(), execer, procsA, procsB)

			freeze := filepath.Join(cgB, "cgroup.freeze")
			defer writeCtl(freeze, "0") // runs before fan.release
			if !embryo.Check(t, "writing 1 to B/cgroup.freeze", writeCtl(freeze, "1"), 0) {
				t.FailNow()
			}
			if v, ok := waitCgroupEvent(cgB, "frozen", "1", killWithin); !ok {
				t.Errorf("B/cgroup.events says frozen %s %v after cgroup.freeze: the helper %d waiting for the exec of %d was not frozen (wchans %s)",
					v, killWithin, h.Pid(), execer, taskWchans(h.Pid()))
			}
			embryo.Check(t, "writing 0 to B/cgroup.freeze", writeCtl(freeze, "0"), 0)
			if v, ok := waitCgroupEvent(cgB, "frozen", "0", killWithin); !ok {
				t.Errorf("B/cgroup.events says frozen %s %v after the thaw", v, killWithin)
			}

			if err := fan.deny(); err != nil {
				t.Errorf("%v; closing the fanotify group instead", err)
				fan.release()
			}
			if ev, err := embryo.PollIn(hfd, killWithin); err != nil || ev&unix.POLLIN == 0 {
				fan.release()
				t.Fatalf("the helper %d has not exited %v after its child's exec was denied (poll: %#x, %v): the run hangs (wchans %s)",
					h.Pid(), killWithin, ev, err, taskWchans(h.Pid()))
			}
			if tc.vfork {
				var res vforkControlResult
				h.Result(&res)
				t.Logf("os/exec Run after FAN_DENY: %s", res.Run)
			} else {
				var res execBlockResult
				h.Result(&res)
				t.Logf("pidfd_spawn_run after FAN_DENY: %s (pid %d); EPERM expected for a denied exec", res.Run, res.Pid)
			}
			for _, cg := range []string{cgA, cgB} {
				if v, ok := waitCgroupEvent(cg, "populated", "0", killWithin); !ok {
					procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
					t.Errorf("%s: populated %s %v after the helper exited (cgroup.procs %q)", cg, v, killWithin, procs)
				}
			}
		})
	}
}

// pmTest returns the selected mode of /sys/power/pm_test ("[none] core
// ... freezer").
func pmTest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/sys/power/pm_test")
	if err != nil {
		t.Fatalf("/sys/power/pm_test: %v (the test kernel has CONFIG_PM_DEBUG)", err)
	}
	for _, f := range strings.Fields(string(b)) {
		if strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return strings.Trim(f, "[]")
		}
	}
	t.Fatalf("/sys/power/pm_test %q selects no mode", b)
	return ""
}

// TestSuspendFreezesEmbryo (series v2, A11): system suspend's freezer
// freezes embryos, unstarted and idle after a failed exec: with pm_test
// "freezer", a write of "freeze" (suspend to idle) to /sys/power/state
// freezes every task, waits, thaws and succeeds. The embryos still run
// afterwards. v1: the freezer gives up after freeze_timeout_msecs (20 s)
// on the embryos and the write fails with EBUSY.
func TestSuspendFreezesEmbryo(t *testing.T) {
	embryo.Require(t)
	b, err := os.ReadFile("/sys/power/state")
	if err != nil {
		t.Fatalf("/sys/power/state: %v (the test kernel has CONFIG_SUSPEND)", err)
	}
	if !slices.Contains(strings.Fields(string(b)), "freeze") {
		t.Fatalf("/sys/power/state offers %q, no \"freeze\": the kernel cannot suspend to idle, so the suspend freezer cannot be tested (CONFIG_SUSPEND)", strings.TrimSpace(string(b)))
	}
	old := pmTest(t)
	if old != "none" {
		t.Logf("/sys/power/pm_test was %q", old)
	}
	arg := holdArg{FailedExec: []bool{false, true}}
	h, stdin := startHold(t, arg, nil)

	if !embryo.Check(t, "writing freezer to /sys/power/pm_test", writeCtl("/sys/power/pm_test", "freezer"), 0) {
		t.FailNow()
	}
	defer func() {
		if err := writeCtl("/sys/power/pm_test", old); err != nil {
			t.Errorf("restoring /sys/power/pm_test to %s: %s", old, embryo.Name(err))
		}
	}()
	const within = 30 * time.Second
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- writeCtl("/sys/power/state", "freeze") }()
	select {
	case err = <-done:
	case <-time.After(2 * within):
		t.Fatalf("writing freeze to /sys/power/state has not returned after %v", 2*within)
	}
	took := time.Since(start)
	t.Logf("suspend to idle with pm_test=freezer: %s after %v", embryo.Name(err), took.Round(time.Millisecond))
	embryo.Check(t, "writing freeze to /sys/power/state with pm_test=freezer (EBUSY: a task refused to freeze)", err, 0)
	if took > within {
		t.Errorf("the freezer test took %v, want under %v", took, within)
	}
	stdin.Close()
	var res []heldEmbryo
	h.Result(&res)
	checkHeld(t, arg, res)
}

// TestKilledRunnerLargeArgvFreedInProcessContext (series v2, A8): the
// runner is killed while the embryo's exec of a 5 MiB argv (vmalloc()ed)
// is held, then the exec is let go. v1 let the exec succeed and left the
// strings to the last put_pid(), which may run with interrupts off: here
// F_SETOWN takes a reference to the started child's pid, the child is
// reaped, and F_SETOWN 0 drops the last reference under the file's
// f_owner lock with interrupts disabled, and v1 logs "BUG: sleeping
// function called from invalid context" from vfree()
// (CONFIG_DEBUG_ATOMIC_SLEEP). v2 destroys the embryo when its creator
// dies (pidfd_empty.rst), so the program never runs, and the embryo frees
// the strings in process context (a killed exec leaves them to a work
// item); no lookup finds the unstarted embryo's pid, so no f_owner can
// hold it. The test takes whichever path the kernel takes and checks the
// log either way; the started path is the one that fails on v1.
func TestKilledRunnerLargeArgvFreedInProcessContext(t *testing.T) {
	embryo.Require(t)
	dir := tmpfsDir(t)
	prog := filepath.Join(dir, "childreport")
	fifo := filepath.Join(dir, "report")
	helper.CopyFile(t, childreport.Path, prog, 0o755)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fan := newExecBlocker(t, prog)
	defer fan.release()
	cg := newCgroup2(t) // the helper's, and so the embryo's

	// A child that outlives the killed runner comes to us, or to init.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)

	const bigArgs = 40 // 5 MiB: above KMALLOC_MAX_SIZE (4 MiB), so kvmalloc() uses vmalloc()
	arg := execBlockArg{Prog: prog, Argv: []string{"childreport"}, Env: []string{childreport.EnvOutFile + "=" + fifo}, BigArgs: bigArgs}
	cgfd := openCgroup(t, cg)
	h := startExecBlock(t, arg, func(h *helper.Helper) { intoCgroup(h, cgfd) })
	unix.Close(cgfd)
	pid := fan.waitExec(t, h.Pid())

	if err := h.Cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL to the runner %d: %v", h.Pid(), err)
	}
	h.Cmd.Wait() // killed: no result to read
	kmsg := openKmsg(t)
	fan.release() // the exec goes on and succeeds; the child blocks opening the FIFO

	// A reference to the started child's pid in a file's f_owner.
	owner, err := os.CreateTemp(t.TempDir(), "owner")
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	deadline := time.Now().Add(embryo.Timeout)
	for {
		_, err := unix.FcntlInt(owner.Fd(), unix.F_SETOWN, pid)
		if err == nil {
			break // started: v1
		}
		if !errors.Is(err, unix.ESRCH) || time.Now().After(deadline) {
			t.Fatalf("F_SETOWN %d (the child, once its exec is allowed): %v; neither started nor destroyed", pid, err)
		}
		if v, _ := cgroupEvent(cg, "populated"); v == "0" {
			// Destroyed with its creator: v2. The program never ran.
			r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			r.Close()
			if len(b) != 0 {
				t.Errorf("the embryo's program ran after its creator was killed: %d bytes of report", len(b))
			}
			time.Sleep(time.Second) // RCU, the work item
			checkKmsg(t, kmsg)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	report, err := os.ReadFile(fifo) // lets the child write its report and exit
	if err != nil {
		t.Fatalf("reading the child's report from %s: %v", fifo, err)
	}
	if !strings.Contains(string(report), strings.Repeat("a", 1000)) {
		t.Errorf("the child's report (%d bytes) does not show its big argv", len(report))
	}
	switch ex, err := pidfd.Waitid(unix.P_PID, pid, unix.WEXITED); {
	case errors.Is(err, unix.ECHILD):
		t.Logf("the child %d is not ours to reap (reparented to init)", pid)
	case err != nil || !ex.Exited(0):
		t.Errorf("the child %d: %v, %v; want exit 0", pid, ex, err)
	}
	for time.Now().Before(deadline) { // released: its pid unhashed
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, fs.ErrNotExist) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let RCU drop the pid hash's reference: F_SETOWN's is the last.
	time.Sleep(time.Second)
	if _, err := unix.FcntlInt(owner.Fd(), unix.F_SETOWN, 0); err != nil {
		t.Fatalf("F_SETOWN 0: %v", err)
	}
	time.Sleep(time.Second) // for a work item that frees them
	checkKmsg(t, kmsg)
}

// checkKmsg fails t on a BUG or WARNING logged since k was last read.
func checkKmsg(t *testing.T, k *kmsgReader) {
	t.Helper()
	for _, line := range k.read(t) {
		if strings.Contains(line, "BUG:") || strings.Contains(line, "WARNING:") {
			t.Errorf("kernel log after the embryo's strings were freed: %s", line)
		}
	}
}

// kmsgReader reads the kernel log records written after it was opened.
type kmsgReader struct{ fd int }

func openKmsg(t *testing.T) *kmsgReader {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		t.Fatalf("lseek(/dev/kmsg, 0, SEEK_END): %v", err)
	}
	return &kmsgReader{fd: fd}
}

// read returns the message of each record logged since the last read.
func (k *kmsgReader) read(t *testing.T) []string {
	t.Helper()
	var lines []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(k.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			return lines
		}
		if errors.Is(err, unix.EPIPE) { // overwritten records: read on
			continue
		}
		if err != nil {
			t.Fatalf("reading /dev/kmsg: %v", err)
		}
		_, msg, _ := strings.Cut(string(buf[:n]), ";")
		lines = append(lines, strings.TrimRight(msg, "\n"))
	}
}
