// Package lifecycle checks an embryo's life: it does not exist for the rest
// of the system before start (ESRCH, invisible to /proc, kill and wait),
// is charged to the pids cgroup, disappears without a trace when its last
// fd closes or its creator exits, starts once, survives a failed exec,
// answers waitid and poll across start and exit, and obeys only its
// creator; after start its fd is an ordinary pidfd (DESIGN.md section 3).
package lifecycle

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func processMadvise(fd int) error {
	var iov unix.Iovec
	_, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 0, unix.MADV_COLD, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func processMrelease(fd int) error {
	_, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(fd), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// setnsUTS is setns(fd, CLONE_NEWUTS) on a thread of its own, which is
// thrown away afterwards (it exits locked) whatever namespace it joined.
func setnsUTS(fd int) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		done <- unix.Setns(fd, unix.CLONE_NEWUTS)
	}()
	return <-done
}

// An op is something done to a process through its pidfd.
type op struct {
	name string
	do   func(t *testing.T, fd int) error
}

func sendSignal(sig unix.Signal) op {
	return op{fmt.Sprintf("pidfd_send_signal(%d)", sig), func(t *testing.T, fd int) error {
		return unix.PidfdSendSignal(fd, sig, nil, 0)
	}}
}

func getfd(target int) op {
	return op{fmt.Sprintf("pidfd_getfd(%d)", target), func(t *testing.T, fd int) error {
		got, err := unix.PidfdGetfd(fd, target, 0)
		if err == nil {
			unix.Close(got)
		}
		return err
	}}
}

var (
	opSetns    = op{"setns(CLONE_NEWUTS)", func(t *testing.T, fd int) error { return setnsUTS(fd) }}
	opMadvise  = op{"process_madvise(MADV_COLD)", func(t *testing.T, fd int) error { return processMadvise(fd) }}
	opMrelease = op{"process_mrelease", func(t *testing.T, fd int) error { return processMrelease(fd) }}
)

func TestESRCHBeforeStart(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if err := pidfd.ConfigFDDup(fd, int(devnull.Fd()), 0, 0); err != nil {
		t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
	}
	for _, o := range []op{
		sendSignal(0), sendSignal(unix.SIGKILL), sendSignal(unix.SIGTERM), sendSignal(unix.SIGSTOP),
		getfd(0), getfd(1), opSetns, opMadvise, opMrelease,
	} {
		t.Run(o.name, func(t *testing.T) {
			embryo.Check(t, o.name+" on an unstarted embryo", o.do(t, fd), unix.ESRCH)
		})
	}
	// No signal reached it: it starts, runs and exits normally.
	embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	if ex := embryo.Wait(t, fd); !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	for _, k := range []string{"SigPnd", "ShdPnd"} {
		if v, err := rep.Hex(k); err != nil || v != 0 {
			t.Errorf("child's %s = %#x (%v), want nothing pending", k, v, err)
		}
	}
}

// TestAfterStartLikeClonePidfd runs each operation on a started embryo and
// on a fork+exec'd CLONE_PIDFD child of the same program, side by side.
func TestAfterStartLikeClonePidfd(t *testing.T) {
	embryo.Require(t)
	type child struct {
		name     string
		fd, pid  int
		stdin    *os.File // write end: closing it lets the child exit
		out      *os.File
		stdinIno uint64
	}
	start := func(t *testing.T, viaEmbryo bool) *child {
		in, inW := embryo.InputPipe(t)
		var st unix.Stat_t
		if err := unix.Fstat(int(in.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		c := &child{stdin: inW, stdinIno: st.Ino}
		if viaEmbryo {
			c.name = "embryo"
			c.fd = embryo.New(t)
			c.out = embryo.Config(t, c.fd, []string{"read"}, nil)
			if err := pidfd.ConfigFDDup(c.fd, int(in.Fd()), 0, 0); err != nil {
				t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
			}
			c.pid = embryo.Run(t, c.fd)
		} else {
			c.name = "CLONE_PIDFD"
			out, w := embryo.Pipe(t)
			pid, fd, err := embryo.ForkExec(childreport.Path, []string{childreport.Path, "read"}, nil, []int{int(in.Fd()), int(w.Fd()), -1})
			w.Close()
			if err != nil {
				t.Fatalf("fork+exec: %v", err)
			}
			t.Cleanup(func() { unix.Close(fd) })
			c.fd, c.pid, c.out = fd, pid, out
		}
		embryo.Report(t, c.out) // it has started, closed stdout, and waits on stdin
		return c
	}
	kids := []*child{start(t, true), start(t, false)}

	for _, tc := range []struct {
		op   op
		want unix.Errno
	}{
		{sendSignal(0), 0},
		{getfd(0), 0},
		{opSetns, 0},
		{opMadvise, 0},
		{opMrelease, unix.EINVAL}, // the process is not exiting
	} {
		t.Run(tc.op.name, func(t *testing.T) {
			for _, c := range kids {
				embryo.Check(t, c.name+": "+tc.op.name, tc.op.do(t, c.fd), tc.want)
			}
		})
	}
	t.Run("pidfd_getfd(0) is the same pipe", func(t *testing.T) {
		for _, c := range kids {
			got, err := unix.PidfdGetfd(c.fd, 0, 0)
			if err != nil {
				t.Errorf("%s: pidfd_getfd: %v", c.name, err)
				continue
			}
			var st unix.Stat_t
			unix.Fstat(got, &st)
			unix.Close(got)
			if st.Ino != c.stdinIno {
				t.Errorf("%s: pidfd_getfd(0) gave inode %d, the child's stdin is %d", c.name, st.Ino, c.stdinIno)
			}
		}
	})
	t.Run("running: poll and waitid", func(t *testing.T) {
		for _, c := range kids {
			if ev, err := embryo.PollIn(c.fd, 0); err != nil || ev != 0 {
				t.Errorf("%s: poll on a running child: events %#x, %v; want none", c.name, ev, err)
			}
			ex, err := pidfd.Waitid(unix.P_PIDFD, c.fd, unix.WEXITED|unix.WNOHANG)
			if err != nil || ex.Code != 0 {
				t.Errorf("%s: waitid(WNOHANG) on a running child: %v, %v; want no child reported", c.name, ex, embryo.Name(err))
			}
		}
	})
	t.Run("SIGTERM: poll, waitid", func(t *testing.T) {
		for _, c := range kids {
			if err := unix.PidfdSendSignal(c.fd, unix.SIGTERM, nil, 0); err != nil {
				t.Fatalf("%s: pidfd_send_signal(SIGTERM): %v", c.name, err)
			}
		}
		for _, c := range kids {
			ev, err := embryo.PollIn(c.fd, embryo.Timeout)
			if err != nil || ev&unix.POLLIN == 0 {
				t.Errorf("%s: poll after SIGTERM: events %#x, %v; want POLLIN", c.name, ev, err)
			}
			ex := embryo.Wait(t, c.fd)
			if ex.Code != pidfd.CLD_KILLED || ex.Status != int(unix.SIGTERM) || ex.Pid != c.pid {
				t.Errorf("%s: %v, want pid %d killed by SIGTERM", c.name, ex, c.pid)
			}
		}
	})
}

func TestPidInvisibleBeforeStart(t *testing.T) {
	embryo.Require(t)
	var res invisibleResult
	helper.New(t, "invisible", nil).Result(&res)
	t.Logf("markers %d and %d, embryo started as %d", res.Before, res.After, res.Pid)
	if res.Waitid != "ECHILD" {
		t.Errorf("waitid(P_ALL, WNOHANG) with only an embryo for a child: %s, want ECHILD", res.Waitid)
	}
	if res.Wait4 != "ECHILD" {
		t.Errorf("wait4(-1, WNOHANG) with only an embryo for a child: %s, want ECHILD", res.Wait4)
	}
	for p, pp := range res.NewInProc {
		if pp == fmt.Sprint(res.Self) {
			t.Errorf("/proc/%d appeared with the embryo, with PPid %s (the creator)", p, pp)
		}
	}
	if !res.Exited0 {
		t.Errorf("the started embryo: %s, want exit 0", res.Exit)
	}
	if res.Pid <= res.Before || res.Pid >= res.After {
		t.Fatalf("the embryo started as pid %d, outside (%d, %d): its pid was not allocated at creation, so a destroyed embryo could not 'release its pid' (DESIGN.md section 3)",
			res.Pid, res.Before, res.After)
	}
	rec := res.Records[res.Pid]
	if rec.InProc {
		t.Errorf("/proc/%d existed before start", res.Pid)
	}
	if rec.Kill != "ESRCH" {
		t.Errorf("kill(%d, 0) before start: %s, want ESRCH", res.Pid, rec.Kill)
	}
}

func TestBroadcastSkipsEmbryo(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name    string
		killAll bool
	}{
		{"kill(-pgrp) as root", false},
		{"kill(-pgrp) and kill(-1) as nobody", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := helper.New(t, "broadcast", broadcastArg{KillAll: tc.killAll})
			h.Cmd.SysProcAttr.Setpgid = true
			if tc.killAll {
				h.AsUser(helper.Nobody, helper.Nobody)
			}
			var res broadcastResult
			h.Result(&res)
			if res.KillPgrp != "success" {
				t.Errorf("kill(-pgrp, SIGUSR1): %s, want success (the helper itself is in the group)", res.KillPgrp)
			}
			if tc.killAll {
				t.Logf("kill(-1, SIGUSR1) as nobody: %s", res.KillAll)
			}
			if !res.Exited0 || res.ReportErr != "" {
				t.Errorf("embryo started after the broadcast: %s %s; want exit 0 with a report (a SIGUSR1 queued before start kills it)", res.Exit, res.ReportErr)
			}
			if res.ReportErr == "" && (res.SigPnd != "0000000000000000" || res.ShdPnd != "0000000000000000") {
				t.Errorf("pending signals at start: SigPnd %s ShdPnd %s, want none", res.SigPnd, res.ShdPnd)
			}
		})
	}
}

func TestFdinfoEmbryo(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a new embryo lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a configured embryo lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent", 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != unix.ENOENT {
		t.Fatalf("run of /nonexistent: %s, want ENOENT", embryo.Name(err))
	}
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo after a failed run lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.Run(t, fd)
	if embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a started embryo still says Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	embryo.Report(t, out)
	embryo.Wait(t, fd)
	if embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a reaped embryo says Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	if embryo.IsEmbryo(t, self) {
		t.Errorf("fdinfo of pidfd_open(getpid(), 0) says Embryo:\\t1")
	}
}

func TestDestroyOnClose(t *testing.T) {
	embryo.Require(t)
	var res destroyResult
	helper.New(t, "destroy", destroyArg{N: 8}).Result(&res)
	if res.Waitid != "ECHILD" {
		t.Errorf("waitid(P_ALL, WNOHANG) after closing unstarted embryos: %s, want ECHILD", res.Waitid)
	}
	if res.Wait4 != "ECHILD" {
		t.Errorf("wait4(-1, WNOHANG) after closing unstarted embryos: %s, want ECHILD", res.Wait4)
	}
	if len(res.Children) != 0 {
		t.Errorf("processes with the creator as parent in /proc (zombies?): %v", res.Children)
	}
	if res.PipeEOF != "success" || res.PipeBytes != 0 {
		t.Errorf("pipe held by the closed embryos' tables: read %d bytes, %s; want EOF (their tables released)", res.PipeBytes, res.PipeEOF)
	}
	if res.SIGCHLD {
		t.Errorf("the creator got SIGCHLD for destroyed embryos")
	}
}

func TestPidsCgroup(t *testing.T) {
	embryo.Require(t)
	cg := embryo.PidsCgroup(t)
	const n = 6
	var res pidsResult
	helper.New(t, "pids", pidsArg{Cgroup: cg, N: n}).Env("GOMAXPROCS=1").Result(&res)
	t.Logf("%s: %+v", cg, res)
	if res.Base != 0 {
		t.Errorf("pids.current less the helper's threads = %d before any embryo, want 0", res.Base)
	}
	if res.WithN != res.Base+n {
		t.Errorf("with %d embryos, pids charge %d, want %d", n, res.WithN, res.Base+n)
	}
	if res.AfterClose != res.Base {
		t.Errorf("after closing the embryos, pids charge %d, want %d (released)", res.AfterClose, res.Base)
	}
	if res.First != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) with one task of room under pids.max=%d: %s, want success", res.Limit, res.First)
	}
	if res.Second != "EAGAIN" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) at pids.max=%d: %s, want EAGAIN", res.Limit, res.Second)
	}
	if res.Again != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) after closing an embryo at pids.max: %s, want success (its charge released)", res.Again)
	}
}

func TestCreatorExitDestroysEmbryo(t *testing.T) {
	embryo.Require(t)
	sp, err := embryo.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	out, w := embryo.Pipe(t)
	h := helper.New(t, "creator", nil)
	sock := os.NewFile(uintptr(sp[1]), "sock")
	h.Cmd.ExtraFiles = []*os.File{sock, w}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	sock.Close()
	w.Close()
	fd, err := embryo.RecvFD(sp[0], embryo.Timeout)
	if err != nil {
		stdin.Close()
		h.Result(nil)
		t.Fatalf("receiving the embryo: %v", err)
	}
	defer unix.Close(fd)

	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("received fd: fdinfo lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	if ev, err := embryo.PollIn(fd, 0); err != nil || ev != 0 {
		t.Errorf("poll on a live embryo: events %#x, %v; want none", ev, err)
	}
	embryo.Check(t, "pidfd_config by a process that did not create the embryo", pidfd.ConfigSignals(fd, 0, 0), unix.EPERM)

	stdin.Close()
	h.Result(nil)

	ev, err := embryo.PollIn(fd, 10*time.Second)
	if err != nil || ev&(unix.POLLIN|unix.POLLHUP) == 0 {
		t.Errorf("poll on the embryo after its creator exited: events %#x, %v; want POLLIN or POLLHUP", ev, err)
	}
	embryo.Check(t, "pidfd_send_signal(0) after the creator exited", unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH)
	if err := pidfd.ConfigSignals(fd, 0, 0); err != unix.EPERM && err != unix.ESRCH {
		t.Errorf("pidfd_config after the creator exited: %s, want EPERM or ESRCH", embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != unix.EPERM && err != unix.ESRCH {
		t.Errorf("pidfd_spawn_run after the creator exited: %s, want EPERM or ESRCH", embryo.Name(err))
	}
	if b, err := embryo.ReadAll(out, 10*time.Second); err != nil || len(b) != 0 {
		t.Errorf("the embryo's fd 1 (a pipe): read %q, %v; want EOF (its table released)", b, err)
	}
}

func TestRunTwice(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	in, inW := embryo.InputPipe(t)
	out := embryo.Config(t, fd, []string{"read"}, nil)
	if err := pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.Run(t, fd)
	_, err := pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "second pidfd_spawn_run while the child runs", err, unix.EBUSY)
	embryo.Check(t, "pidfd_config while the child runs", pidfd.ConfigSignals(fd, 0, 0), unix.EBUSY)
	inW.Close()
	embryo.Report(t, out)
	embryo.Wait(t, fd)
	_, err = pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "pidfd_spawn_run after the child was reaped", err, unix.EBUSY)
	embryo.Check(t, "pidfd_config after the child was reaped", pidfd.ConfigSignals(fd, 0, 0), unix.EBUSY)
}

func TestRunOnPlainPidfd(t *testing.T) {
	embryo.Require(t)
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	_, kid, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
	if err != nil {
		t.Fatalf("fork+exec with CLONE_PIDFD: %v", err)
	}
	defer unix.Close(kid)
	for _, tc := range []struct {
		name string
		fd   int
	}{{"pidfd_open(getpid(), 0)", self}, {"CLONE_PIDFD child", kid}} {
		_, err := pidfd.SpawnRun(tc.fd, 0)
		embryo.Check(t, "pidfd_spawn_run on "+tc.name, err, unix.EINVAL)
		embryo.Check(t, "pidfd_config on "+tc.name, pidfd.ConfigExec(tc.fd, unix.AT_FDCWD, childreport.Path, 0), unix.EINVAL)
	}
	if ex := embryo.Wait(t, kid); !ex.Exited(0) {
		t.Errorf("the CLONE_PIDFD child: %v, want exit 0", ex)
	}
}

func TestRunWithoutExec(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	if err := pidfd.ConfigArgv(fd, []string{childreport.Path, "exit", "6"}); err != nil {
		t.Fatal(embryo.Name(err))
	}
	out := embryo.StdoutPipe(t, fd)
	_, err := pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "pidfd_spawn_run without EXEC", err, unix.EINVAL)
	if !embryo.IsEmbryo(t, fd) {
		t.Fatalf("not an unstarted embryo any more after a failed run")
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.RunToExit(t, fd, out, 6)
}

// TestExecFailureRetry: a failed exec leaves the embryo unstarted with its
// configuration, so the same fd can try another path (posix_spawnp).
func TestExecFailureRetry(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "4"}, []string{"K=v"})
	for _, tc := range []struct {
		path string
		want unix.Errno
	}{
		{"/nonexistent/childreport", unix.ENOENT},
		{"/bin/nonexistent", unix.ENOENT},
		{"/", unix.EACCES},
		{"/proc/version", unix.EACCES},
	} {
		if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, tc.path, 0); err != nil {
			t.Fatalf("EXEC %s: %s", tc.path, embryo.Name(err))
		}
		_, err := pidfd.SpawnRun(fd, 0)
		embryo.Check(t, "pidfd_spawn_run of "+tc.path, err, tc.want)
		if !embryo.IsEmbryo(t, fd) {
			t.Fatalf("after the failed run of %s the fd is no unstarted embryo: %v", tc.path, embryo.Fdinfo(t, fd))
		}
		embryo.Check(t, "pidfd_send_signal(0) after a failed run", unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH)
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	pid := embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	if ex := embryo.Wait(t, fd); !ex.Exited(4) || ex.Pid != pid {
		t.Errorf("child: %v, want pid %d exit 4", ex, pid)
	}
	if len(rep.Env) != 1 || rep.Env[0] != "K=v" || len(rep.Argv) != 3 {
		t.Errorf("configuration lost across failed runs: argv %q env %q", rep.Argv, rep.Env)
	}
}

func TestWaitAndPollAcrossStart(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	in, inW := embryo.InputPipe(t)
	out := embryo.Config(t, fd, []string{"read", "9"}, nil)
	if err := pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
		t.Fatalf("epoll_ctl(ADD) of an unstarted embryo: %v", err)
	}
	events := make([]unix.EpollEvent, 1)
	notReady := func(when string) {
		t.Helper()
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG)
		if err != nil || ex.Code != 0 {
			t.Errorf("%s: waitid(P_PIDFD, WNOHANG): %v, %s; want 0 with no child reported", when, ex, embryo.Name(err))
		}
		if ev, err := embryo.PollIn(fd, 0); err != nil || ev != 0 {
			t.Errorf("%s: poll: events %#x, %v; want none", when, ev, err)
		}
		if n, err := unix.EpollWait(ep, events, 0); err != nil || n != 0 {
			t.Errorf("%s: epoll_wait: %d events, %v; want none", when, n, err)
		}
	}

	notReady("before start")
	type result struct {
		ex  pidfd.Exit
		err error
	}
	blocked := make(chan result, 1)
	go func() {
		// WNOWAIT: leave the zombie for poll and the final reap.
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOWAIT)
		blocked <- result{ex, err}
	}()
	stillBlocked := func(when string) {
		t.Helper()
		select {
		case r := <-blocked:
			t.Fatalf("%s: blocking waitid(P_PIDFD) returned %v, %v", when, r.ex, r.err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	stillBlocked("before start")

	pid := embryo.Run(t, fd)
	embryo.Report(t, out) // the child runs and now waits on stdin
	notReady("running")
	stillBlocked("running")

	inW.Close()
	select {
	case r := <-blocked:
		if r.err != nil || !r.ex.Exited(9) || r.ex.Pid != pid {
			t.Errorf("blocking waitid(P_PIDFD) from before start: %v, %v; want pid %d exit 9", r.ex, r.err, pid)
		}
	case <-time.After(embryo.Timeout):
		t.Fatalf("blocking waitid(P_PIDFD) did not return within %v of the child's exit", embryo.Timeout)
	}
	if ev, err := embryo.PollIn(fd, 0); err != nil || ev&unix.POLLIN == 0 {
		t.Errorf("poll after exit: events %#x, %v; want POLLIN", ev, err)
	}
	if n, err := unix.EpollWait(ep, events, 0); err != nil || n != 1 || events[0].Events&unix.EPOLLIN == 0 {
		t.Errorf("epoll_wait after exit: %d events %+v, %v; want EPOLLIN", n, events[:max(n, 0)], err)
	}
	if ex := embryo.Wait(t, fd); !ex.Exited(9) {
		t.Errorf("reaping: %v, want exit 9", ex)
	}
}

// TestOnlyCreatorMayConfigure hands an embryo to another process in each
// way a descriptor travels, and checks that it can neither configure nor
// start it, while the creator still can.
func TestOnlyCreatorMayConfigure(t *testing.T) {
	embryo.Require(t)
	for _, how := range []string{"scm", "inherit", "getfd"} {
		t.Run(how, func(t *testing.T) {
			fd := embryo.New(t)
			out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
			h := helper.New(t, "receiver", receiverArg{How: how, Fd: fd})
			var sp [2]int
			switch how {
			case "scm":
				var err error
				if sp, err = embryo.Socketpair(); err != nil {
					t.Fatal(err)
				}
				defer unix.Close(sp[0])
				s := os.NewFile(uintptr(sp[1]), "sock")
				defer s.Close()
				h.Cmd.ExtraFiles = []*os.File{s}
			case "inherit":
				// What fork() of the creator leaves: the same open
				// file in another process.
				dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				f := os.NewFile(uintptr(dup), "embryo")
				defer f.Close()
				h.Cmd.ExtraFiles = []*os.File{f}
			}
			h.Start()
			if how == "scm" {
				if err := embryo.SendFD(sp[0], fd); err != nil {
					t.Fatalf("sending the embryo: %v", err)
				}
			}
			var res receiverResult
			h.Result(&res)
			if m := pidfd.ParseFdinfo(res.Fdinfo); m["Embryo"] != "1" {
				t.Errorf("the receiver's fdinfo lacks Embryo:\\t1:\n%s", res.Fdinfo)
			}
			for _, c := range []struct{ what, got string }{
				{"PIDFD_CONFIG_EXEC", res.Exec},
				{"PIDFD_CONFIG_SIGNALS", res.Signals},
				{"unknown command (EPERM comes first)", res.Unknown},
				{"pidfd_spawn_run", res.Run},
				{"pidfd_spawn_run(flags 1) (EPERM comes first)", res.RunF},
			} {
				if c.got != "EPERM" {
					t.Errorf("receiver's %s: %s, want EPERM", c.what, c.got)
				}
			}
			if res.SendSignal != "ESRCH" {
				t.Errorf("receiver's pidfd_send_signal(0): %s, want ESRCH", res.SendSignal)
			}
			// The creator's configuration is intact (the receiver's
			// EXEC of true-static did not land) and it can start it.
			embryo.Run(t, fd)
			if rep := embryo.Report(t, out); rep.PPid != os.Getpid() {
				t.Errorf("the child's parent is %d, want the creator %d", rep.PPid, os.Getpid())
			}
			if ex := embryo.Wait(t, fd); !ex.Exited(0) {
				t.Errorf("child: %v, want exit 0", ex)
			}
		})
	}
}

// TestRlimitNproc: creating an embryo is charged to RLIMIT_NPROC as fork
// is (EAGAIN at the limit). Root is exempt from the limit, so the helper
// runs as nobody.
func TestRlimitNproc(t *testing.T) {
	embryo.Require(t)
	h := helper.New(t, "nproc", nil).AsUser(helper.Nobody, helper.Nobody)
	var res nprocResult
	h.Result(&res)
	if res.ForkZero != "EAGAIN" {
		t.Errorf("fork with RLIMIT_NPROC 0 as nobody: %s, want EAGAIN (the comparison is void)", res.ForkZero)
	}
	if res.AtZero != "EAGAIN" {
		t.Errorf("pidfd_open(0, PIDFD_EMPTY) with RLIMIT_NPROC 0: %s, want EAGAIN", res.AtZero)
	}
	if res.Restored != "success" {
		t.Errorf("pidfd_open(0, PIDFD_EMPTY) after restoring RLIMIT_NPROC: %s, want success", res.Restored)
	}
}
