package lifecycle

// The last close of the creator's pidfd, and the creator's exit, destroy an
// unstarted embryo without a trace: no SIGCHLD, no zombie, its pid, charges
// and descriptor table released. Only the creator's file decides: a second
// file on the same pid does not, and no embryo holds an unstarted embryo's
// pidfd.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type destroyArg struct{ N int }

type destroyResult struct {
	Waitid, Wait4 string
	Children      []int
	PipeEOF       string
	PipeBytes     int
	SIGCHLD       bool
}

// helperDestroy runs in a process without other children: it creates
// embryos (two holding a pipe's write end), closes them and looks for
// anything left behind.
func helperDestroy(raw json.RawMessage) (any, error) {
	var arg destroyArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, syscall.SIGCHLD)
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var fds []int
	for i := 0; i < arg.N; i++ {
		fd, err := openEmbryo()
		if err != nil {
			return nil, fmt.Errorf("embryo %d: %v", i, err)
		}
		fds = append(fds, fd)
		switch i {
		case 0:
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
				return nil, fmt.Errorf("EXEC: %s", name(err))
			}
			if err := pidfd.ConfigArgv(fd, []string{"childreport"}); err != nil {
				return nil, fmt.Errorf("ARGV: %s", name(err))
			}
			fallthrough
		case 1:
			if err := pidfd.ConfigFDDup(fd, int(w.Fd()), 1+i, 0); err != nil {
				return nil, fmt.Errorf("DUP: %s", name(err))
			}
		}
	}
	w.Close()
	for _, fd := range fds {
		unix.Close(fd)
	}
	var res destroyResult
	res.Waitid, res.Wait4 = waitAny()
	if res.Children, err = embryo.ChildrenInProc(); err != nil {
		return nil, err
	}
	b, err := embryo.ReadAll(r, 10*time.Second)
	res.PipeEOF, res.PipeBytes = name(err), len(b)
	select {
	case <-sigc:
		res.SIGCHLD = true
	case <-time.After(500 * time.Millisecond):
	}
	return res, nil
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

// helperCreator creates an embryo holding the write end of the parent's
// pipe (fd 4) as its fd 1, sends it to the parent over the socket at fd 3,
// and exits when its stdin closes.
func helperCreator(json.RawMessage) (any, error) {
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		return nil, fmt.Errorf("EXEC: %s", name(err))
	}
	if err := pidfd.ConfigFDDup(fd, 4, 1, 0); err != nil {
		return nil, fmt.Errorf("DUP: %s", name(err))
	}
	unix.Close(4)
	if err := embryo.SendFD(3, fd); err != nil {
		return nil, fmt.Errorf("sending the embryo: %v", err)
	}
	io.Copy(io.Discard, os.Stdin)
	return nil, nil
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

type releaseArg struct {
	Cgroup string // the pids cgroup the test moves the helper into
	N      int    // embryos to create
	// Send: send the embryos over the socket at fd 3 and exit, so that
	// the creator's exit destroys them while the test holds them.
	// Otherwise close them and look for what is left.
	Send bool
}

type releaseResult struct {
	Base, WithN, AfterClose int // the pids cgroup's embryo charge (embryo.Charge)
	SIGCHLD                 int // SIGCHLDs the creator got after closing
	Waitid, Wait4           string
	Children                []int
	Nproc                   *nprocChargeResult // after closing
}

// helperRelease runs as an unprivileged user in a pids cgroup the test
// moves it into (it waits for a line on stdin first). It creates arg.N
// embryos, then closes them or sends them to the test and exits.
func helperRelease(raw json.RawMessage) (any, error) {
	var arg releaseArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	embryo.Prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test to move us into %s: %v", arg.Cgroup, err)
	}
	var res releaseResult
	var err error
	if res.Base, err = embryo.Charge(arg.Cgroup); err != nil {
		return nil, err
	}
	fds, err := openEmbryos(arg.N)
	if err != nil {
		return nil, err
	}
	if res.WithN, err = embryo.Charge(arg.Cgroup); err != nil {
		return nil, err
	}
	if arg.Send {
		for i, fd := range fds {
			if err := embryo.SendFD(3, fd); err != nil {
				return nil, fmt.Errorf("sending embryo %d: %v", i, err)
			}
		}
		return res, nil // exiting destroys them
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if res.AfterClose, err = embryo.WaitCharge(arg.Cgroup, res.Base, chargeWithin); err != nil {
		return nil, err
	}
	deadline := time.After(500 * time.Millisecond)
wait:
	for {
		select {
		case <-sigc:
			res.SIGCHLD++
		case <-deadline:
			break wait
		}
	}
	res.Waitid, res.Wait4 = waitAny()
	if res.Children, err = embryo.ChildrenInProc(); err != nil {
		return nil, err
	}
	nproc, err := nprocChargeProbe()
	if err != nil {
		return nil, err
	}
	res.Nproc = &nproc
	return res, nil
}

// startInCgroup starts h, moves it into the pids cgroup cg and lets it go
// on (the helper waits for a line on stdin). The cgroup's directory is
// opened to others, so that a helper running as nobody can read its
// pids.current.
func startInCgroup(t *testing.T, h *helper.Helper, cg string) {
	t.Helper()
	if err := os.Chmod(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	h.Start()
	if err := cgroup2.WriteCtl(filepath.Join(cg, "cgroup.procs"), strconv.Itoa(h.Pid())); err != nil {
		t.Fatalf("moving helper %d into %s: %v", h.Pid(), cg, err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatalf("starting helper %d: %v", h.Pid(), err)
	}
}

// TestDestroyReleasesEverything (DESIGN.md section 3: last close of an
// unstarted embryo destroys it, no SIGCHLD, no zombie, its pid and
// RLIMIT_NPROC slot released; the creator's exit destroys it too). A
// creator running as nobody in a pids cgroup of its own makes 4 embryos
// and closes them, or sends them to the test and exits while the test
// holds them. Then the cgroup's pids.current must be back where it was,
// the RLIMIT_NPROC probe of TestRlimitNprocChargeAndRelease must find
// nobody's count back to its visible tasks (a leaked slot makes the first
// embryo at the limit fail), no SIGCHLD and no child may be left: the
// creator's own after close; after the creator's exit, the test's, which
// is made a child subreaper so that an embryo reparented on the way out
// and left as a zombie, or signalled, would be its child. A SIGCHLD of a
// destroyed embryo that coincides with the creator's own cannot be told
// apart (standard signals coalesce): the zombie check covers that.
func TestDestroyReleasesEverything(t *testing.T) {
	embryo.Require(t)
	const n = 4
	t.Run("close", func(t *testing.T) {
		cg := embryo.PidsCgroup(t)
		h := helper.New(t, "release", releaseArg{Cgroup: cg, N: n}).Env("GOMAXPROCS=1").AsUser(helper.Nobody, helper.Nobody)
		startInCgroup(t, h, cg)
		var res releaseResult
		h.Result(&res)
		t.Logf("%+v nproc %+v", res, res.Nproc)
		if res.WithN != res.Base+n {
			t.Errorf("with %d embryos the pids cgroup's charge is %d, want %d: the test is void", n, res.WithN, res.Base+n)
		}
		if res.AfterClose != res.Base {
			t.Errorf("after closing the embryos pids.current less the creator's threads is %d, want %d (the embryos' pids released)", res.AfterClose, res.Base)
		}
		if res.SIGCHLD != 0 {
			t.Errorf("the creator got %d SIGCHLD after closing %d unstarted embryos, want none", res.SIGCHLD, n)
		}
		if res.Waitid != "ECHILD" || res.Wait4 != "ECHILD" {
			t.Errorf("waitid(P_ALL)/wait4(-1) with WNOHANG after closing: %s/%s, want ECHILD (nothing to reap)", res.Waitid, res.Wait4)
		}
		if len(res.Children) != 0 {
			t.Errorf("processes with the creator as parent after closing: %v, want none", res.Children)
		}
		if res.Nproc == nil {
			t.Fatal("no RLIMIT_NPROC probe result")
		}
		checkNproc(t, *res.Nproc, fmt.Sprintf("after closing %d embryos: ", n))
	})
	t.Run("creator exit", func(t *testing.T) {
		cg := embryo.PidsCgroup(t)
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
		}
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
		sigc := make(chan os.Signal, 64)
		signal.Notify(sigc, syscall.SIGCHLD)
		defer signal.Stop(sigc)
		sp, err := embryo.Socketpair()
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sp[0])
		sock := os.NewFile(uintptr(sp[1]), "sock")
		h := helper.New(t, "release", releaseArg{Cgroup: cg, N: n, Send: true}).Env("GOMAXPROCS=1").AsUser(helper.Nobody, helper.Nobody)
		h.Cmd.ExtraFiles = []*os.File{sock}
		startInCgroup(t, h, cg)
		sock.Close()
		var fds []int
		for i := 0; i < n; i++ {
			fd, err := embryo.RecvFD(sp[0], embryo.Timeout)
			if err != nil {
				h.Result(nil)
				t.Fatalf("receiving embryo %d: %v", i, err)
			}
			defer unix.Close(fd)
			fds = append(fds, fd)
		}
		var res releaseResult
		h.Result(&res) // the creator has exited and is reaped
		if res.WithN != res.Base+n {
			t.Errorf("with %d embryos the pids cgroup's charge is %d, want %d: the test is void", n, res.WithN, res.Base+n)
		}
		for i, fd := range fds {
			if ev, err := embryo.PollIn(fd, 10*time.Second); err != nil || ev&(unix.POLLIN|unix.POLLHUP) == 0 {
				t.Errorf("embryo %d, held by the test: poll %#x, %v after its creator exited; want POLLIN or POLLHUP (destroyed)", i, ev, err)
			}
		}
		if cur, err := embryo.WaitPidsCurrent(cg, 0, chargeWithin); err != nil || cur != 0 {
			t.Errorf("pids.current of the exited creator's cgroup: %d, %v; want 0 (its embryos destroyed and uncharged)", cur, err)
		}
		time.Sleep(500 * time.Millisecond)
		got := 0
	drain:
		for {
			select {
			case <-sigc:
				got++
			default:
				break drain
			}
		}
		if got > 1 {
			t.Errorf("the test (parent of the creator, child subreaper) got %d SIGCHLD, want 1 (the creator's): its destroyed embryos signalled", got)
		}
		if ex, err := pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT); err != unix.ECHILD {
			t.Errorf("waitid(P_ALL, WNOHANG) in the subreaper after the creator was reaped: %v, %s; want ECHILD (no embryo left to reap)", ex, embryo.Name(err))
		}
		if kids, err := embryo.ChildrenInProc(); err != nil || len(kids) != 0 {
			t.Errorf("children of the subreaper in /proc after the creator was reaped: %v, %v; want none", kids, err)
		}
		var nres nprocChargeResult
		helper.New(t, "nproccharge", nil).Env("GOMAXPROCS=1").AsUser(helper.Nobody, helper.Nobody).Result(&nres)
		t.Logf("%+v; nproc %+v", res, nres)
		checkNproc(t, nres, fmt.Sprintf("after the exit of nobody's creator of %d embryos: ", n))
	})
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

type inheritArg struct{ Cgroup string }

// inheritResult: embryo charges in the pids cgroup, and errnos by name,
// by row.
type inheritResult struct {
	// Row "own": INHERIT of the embryo's own pidfd, then close it.
	OwnInherit                       string
	OwnBase, OwnWithEmbryo, OwnAfter int
	// Row "other": INHERIT of embryo B's pidfd into A, close B, then
	// look in A's table (CLOSE of B's fd number and of fd 2), close A.
	OtherInherit              string
	OtherBase, OtherWithBoth  int
	OtherAfterB, OtherAfterAB int
	OtherCloseB, OtherClose2  string
}

// inheritFrom clears FD_CLOEXEC on src for the time of INHERIT into fd.
func inheritFrom(fd, src int) (string, error) {
	if _, err := unix.FcntlInt(uintptr(src), unix.F_SETFD, 0); err != nil {
		return "", fmt.Errorf("clearing FD_CLOEXEC: %v", err)
	}
	err := pidfd.ConfigFDInherit(fd)
	if _, err := unix.FcntlInt(uintptr(src), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return "", fmt.Errorf("setting FD_CLOEXEC: %v", err)
	}
	return name(err), nil
}

// helperInherit moves itself into an empty pids cgroup and measures, by
// the embryos' charge there, whether an embryo survives the close of its
// pidfd after PIDFD_FD_INHERIT could have put that pidfd in an embryo's
// table.
func helperInherit(raw json.RawMessage) (any, error) {
	var arg inheritArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	cg := arg.Cgroup
	if err := embryo.JoinPidsCgroup(cg, 8); err != nil {
		return nil, err
	}
	open := openEmbryo
	var res inheritResult
	var err error

	if res.OwnBase, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	a, err := open()
	if err != nil {
		return nil, err
	}
	if res.OwnWithEmbryo, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	if res.OwnInherit, err = inheritFrom(a, a); err != nil {
		return nil, err
	}
	unix.Close(a)
	if res.OwnAfter, err = embryo.WaitCharge(cg, res.OwnBase, chargeWithin); err != nil {
		return nil, err
	}

	if res.OtherBase, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	if a, err = open(); err != nil {
		return nil, err
	}
	b, err := open()
	if err != nil {
		return nil, err
	}
	if res.OtherWithBoth, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	if res.OtherInherit, err = inheritFrom(a, b); err != nil {
		return nil, err
	}
	unix.Close(b)
	if res.OtherAfterB, err = embryo.WaitCharge(cg, res.OtherBase+1, chargeWithin); err != nil {
		return nil, err
	}
	// Only now: on a kernel that copied B's pidfd, this CLOSE destroys B.
	res.OtherCloseB = name(pidfd.ConfigFDClose(a, b))
	res.OtherClose2 = name(pidfd.ConfigFDClose(a, 2))
	unix.Close(a)
	if res.OtherAfterAB, err = embryo.WaitCharge(cg, res.OtherBase, chargeWithin); err != nil {
		return nil, err
	}
	return res, nil
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
		helper.New(t, "inherit", inheritArg{Cgroup: cg}).Env("GOMAXPROCS=1").Result(&res)
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
