package lifecycle

// waitid(P_PIDFD) treats an embryo as a child that has not exited yet, and
// poll and epoll see nothing until the started process exits.

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

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

// readingChild fork+execs "childreport read", the reference the waitid
// tests compare an embryo with: a running child, once it has reported,
// that waits for its stdin to close (the write end is returned). Its
// pidfd is closed when t ends.
func readingChild(t *testing.T) (pid, fd int, stdin *os.File) {
	t.Helper()
	in, inW := embryo.InputPipe(t)
	out, w := embryo.Pipe(t)
	pid, fd, err := embryo.ForkExec(childreport.Path, []string{childreport.Path, "read"}, nil, []int{int(in.Fd()), int(w.Fd())})
	w.Close()
	if err != nil {
		t.Fatalf("fork+exec of the reference child: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	embryo.Report(t, out)
	return pid, fd, inW
}

// waitidWithin runs waitid(P_PIDFD, fd, options) on a goroutine and
// returns its result, or ok false if it has not returned within d (it is
// left blocked).
func waitidWithin(fd, options int, d time.Duration) (ex pidfd.Exit, err error, ok bool) {
	type result struct {
		ex  pidfd.Exit
		err error
	}
	c := make(chan result, 1)
	go func() {
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, options)
		c <- result{ex, err}
	}()
	select {
	case r := <-c:
		return r.ex, r.err, true
	case <-time.After(d):
		return pidfd.Exit{}, nil, false
	}
}

// TestWaitidNonblockEmbryo (DESIGN.md section 3: waitid(P_PIDFD) treats
// the embryo as a child that has not exited; pidfd_open takes
// PIDFD_NONBLOCK with PIDFD_EMPTY). On a PIDFD_EMPTY|PIDFD_NONBLOCK
// embryo, waitid with WNOHANG returns 0 and reports nothing, and without
// WNOHANG fails at once with EAGAIN, as both do for a running child
// through a PIDFD_NONBLOCK pidfd (the reference, checked first). A kernel
// that does not see the embryo as a child answers ECHILD; one that ignores
// the fd's O_NONBLOCK blocks. The same holds for the same fd after start,
// and once the child exits WNOHANG reports it.
func TestWaitidNonblockEmbryo(t *testing.T) {
	embryo.Require(t)
	fd := embryo.NewUnmanaged(t, pidfd.PIDFD_NONBLOCK)
	t.Cleanup(func() { unix.Close(fd) })
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
		t.Fatalf("F_GETFL of a PIDFD_EMPTY|PIDFD_NONBLOCK embryo: %#x, %v; want O_NONBLOCK", fl, err)
	}
	notExited := func(what string, fd int) {
		t.Helper()
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG)
		if err != nil || ex.Code != 0 {
			t.Errorf("%s: waitid(P_PIDFD, WEXITED|WNOHANG): %v, %s; want 0 with no child reported", what, ex, embryo.Name(err))
		}
		ex, err, ok := waitidWithin(fd, unix.WEXITED, 10*time.Second)
		if !ok {
			t.Errorf("%s: waitid(P_PIDFD, WEXITED) on a PIDFD_NONBLOCK fd blocks, want EAGAIN at once", what)
		} else if err != unix.EAGAIN {
			t.Errorf("%s: waitid(P_PIDFD, WEXITED) on a PIDFD_NONBLOCK fd: %v, %s; want EAGAIN", what, ex, embryo.Name(err))
		}
	}

	refPid, refFd, refInW := readingChild(t)
	refNB, err := pidfd.Open(refPid, pidfd.PIDFD_NONBLOCK)
	if err != nil {
		t.Fatalf("pidfd_open(%d, PIDFD_NONBLOCK): %v", refPid, err)
	}
	defer unix.Close(refNB)
	notExited("reference, a running child", refNB)
	refInW.Close()
	if ex := embryo.Wait(t, refFd); !ex.Exited(0) {
		t.Errorf("the reference child: %v, want exit 0", ex)
	}

	notExited("an unstarted PIDFD_NONBLOCK embryo", fd)
	in, inW := embryo.InputPipe(t)
	out := embryo.Config(t, fd, []string{"read", "3"}, nil)
	if err := pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0); err != nil {
		t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
	}
	pid := embryo.Run(t, fd)
	embryo.Report(t, out)
	notExited("the started embryo, running", fd)
	inW.Close()
	if ev, err := embryo.PollIn(fd, embryo.Timeout); err != nil || ev&unix.POLLIN == 0 {
		t.Fatalf("poll after the child's exit: %#x, %v; want POLLIN", ev, err)
	}
	if ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG); err != nil || !ex.Exited(3) || ex.Pid != pid {
		t.Errorf("waitid(P_PIDFD, WNOHANG) after exit: %v, %s; want pid %d exit 3", ex, embryo.Name(err), pid)
	}
}

// kernelSigaction is the x86_64 kernel's struct sigaction.
type kernelSigaction struct {
	Handler  uintptr
	Flags    uint64
	Restorer uintptr
	Mask     uint64
}

const saRestart = 0x10000000

func rtSigaction(sig unix.Signal, act, old *kernelSigaction) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// noRestart clears SA_RESTART from the Go runtime's handler for sig (the
// runtime installs every handler with it), so that a system call the
// signal interrupts fails with EINTR, and returns a function that puts the
// handler back.
func noRestart(sig unix.Signal) (restore func() error, err error) {
	var old kernelSigaction
	if err := rtSigaction(sig, nil, &old); err != nil {
		return nil, fmt.Errorf("rt_sigaction(%v) get: %v", sig, err)
	}
	if old.Handler <= 1 {
		return nil, fmt.Errorf("rt_sigaction(%v): handler %#x, want the Go runtime's", sig, old.Handler)
	}
	act := old
	act.Flags &^= saRestart
	if err := rtSigaction(sig, &act, nil); err != nil {
		return nil, fmt.Errorf("rt_sigaction(%v) set: %v", sig, err)
	}
	return func() error { return rtSigaction(sig, &old, nil) }, nil
}

// TestWaitidEmbryoInterrupted (DESIGN.md section 3: a blocking waitid on
// an embryo waits for the start and the exit, and is interrupted by
// signals as usual). A thread blocks in waitid(P_PIDFD, WEXITED) on an
// unstarted embryo; SIGUSR1, whose handler (the Go runtime's) has no
// SA_RESTART, must end it with EINTR, as it ends the same wait on a
// running child (the reference, checked first). A kernel whose wait on an
// embryo sleeps uninterruptibly, or returns before the signal, fails.
// The embryo is still an embryo afterwards and runs.
func TestWaitidEmbryoInterrupted(t *testing.T) {
	embryo.Require(t)
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, syscall.SIGUSR1)
	defer signal.Stop(sigc)
	restore, err := noRestart(unix.SIGUSR1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := restore(); err != nil {
			t.Errorf("restoring the SIGUSR1 handler: %v", err)
		}
	}()
	interrupt := func(what string, fd int) {
		t.Helper()
		type result struct {
			ex  pidfd.Exit
			err error
		}
		tidc := make(chan int, 1)
		done := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tidc <- unix.Gettid()
			ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED)
			done <- result{ex, err}
		}()
		tid := <-tidc
		// Wait until it sleeps in waitid, then signal it until it
		// returns (a signal that came before it entered would be lost).
		inWaitid := fmt.Sprintf("%d ", unix.SYS_WAITID)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
			if strings.HasPrefix(string(b), inWaitid) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		select {
		case r := <-done:
			t.Fatalf("%s: blocking waitid(P_PIDFD, WEXITED) returned before any signal: %v, %s", what, r.ex, embryo.Name(r.err))
		case <-time.After(300 * time.Millisecond):
		}
		giveUp := time.After(10 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := unix.Tgkill(os.Getpid(), tid, unix.SIGUSR1); err != nil {
				t.Fatalf("tgkill(%d, SIGUSR1): %v", tid, err)
			}
			select {
			case r := <-done:
				if r.err != unix.EINTR {
					t.Errorf("%s: blocking waitid(P_PIDFD, WEXITED) hit by SIGUSR1 without SA_RESTART: %v, %s; want EINTR", what, r.ex, embryo.Name(r.err))
				}
				return
			case <-tick.C:
			case <-giveUp:
				t.Fatalf("%s: blocking waitid(P_PIDFD, WEXITED) still blocked 10 s into SIGUSR1s: not interruptible", what)
			}
		}
	}

	_, refFd, refInW := readingChild(t)
	interrupt("reference, a running child", refFd)
	refInW.Close()
	embryo.Wait(t, refFd)

	fd := embryo.New(t)
	interrupt("an unstarted embryo", fd)
	if !embryo.IsEmbryo(t, fd) {
		t.Fatalf("after the interrupted wait the fd is no unstarted embryo: %v", embryo.Fdinfo(t, fd))
	}
	out := embryo.Config(t, fd, []string{"exit", "5"}, nil)
	embryo.RunToExit(t, fd, out, 5)
}
