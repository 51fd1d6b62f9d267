package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// helpers are the functions a re-executed test binary runs (helper.Main).
var helpers = map[string]helper.Func{
	"invisible": helperInvisible,
	"broadcast": helperBroadcast,
	"destroy":   helperDestroy,
	"pids":      helperPids,
	"creator":   helperCreator,
	"receiver":  helperReceiver,
	"nproc":     helperNproc,
}

func TestMain(m *testing.M) { helper.Main(m, helpers) }

var name = embryo.Name

// configReport configures an embryo in a helper process (no testing.T) to
// run childreport with args, its stdout a pipe whose read end it returns.
func configReport(fd int, args ...string) (*os.File, error) {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		return nil, fmt.Errorf("EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, append([]string{childreport.Path}, args...)); err != nil {
		return nil, fmt.Errorf("ARGV: %s", name(err))
	}
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	err = pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("DUP to fd 1: %s", name(err))
	}
	return r, nil
}

// runReport starts a configured embryo and collects its report and exit.
func runReport(fd int, out *os.File) (pid int, rep *childreport.Report, ex pidfd.Exit, err error) {
	pid, err = pidfd.SpawnRun(fd, 0)
	if err != nil {
		return -1, nil, ex, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, rerr := embryo.ParseReport(out)
	ex, err = embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return pid, nil, ex, err
	}
	if rerr != nil {
		return pid, nil, ex, fmt.Errorf("child %v: %v\n%s", ex, rerr, raw)
	}
	return pid, rep, ex, nil
}

// runTrue runs /bin/true-static to completion and returns its pid: a
// marker in pid allocation order.
func runTrue() (int, error) {
	pid, fd, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
	if err != nil {
		return -1, fmt.Errorf("fork+exec %s: %v", childreport.TruePath, err)
	}
	defer unix.Close(fd)
	if _, err := embryo.WaitExit(fd, embryo.Timeout); err != nil {
		return -1, err
	}
	return pid, nil
}

type pidRecord struct {
	InProc    bool   // /proc/<pid> existed before start
	Kill      string // kill(pid, 0) before start
	OwnThread bool   // a thread of the helper
}

type invisibleResult struct {
	Self, Before, After, Pid int
	Waitid, Wait4            string
	NewInProc                map[int]string // new /proc entries before start: pid -> PPid
	Records                  map[int]pidRecord
	Exit                     string
	Exited0                  bool
}

// helperInvisible runs in a process without other children: it creates an
// embryo between two marker processes and records what the pids between
// them looked like before start.
func helperInvisible(json.RawMessage) (any, error) {
	res := invisibleResult{Self: os.Getpid(), NewInProc: map[int]string{}, Records: map[int]pidRecord{}}
	var err error
	if res.Before, err = runTrue(); err != nil {
		return nil, err
	}
	inProc, err := embryo.ProcPids()
	if err != nil {
		return nil, err
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "exit", "0")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if res.After, err = runTrue(); err != nil {
		return nil, err
	}
	now, err := embryo.ProcPids()
	if err != nil {
		return nil, err
	}
	for p := range now {
		if !inProc[p] && p != res.After {
			pp, err := embryo.StatusField(strconv.Itoa(p), "PPid")
			if err != nil {
				pp = err.Error()
			}
			res.NewInProc[p] = pp
		}
	}
	_, err = pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG)
	res.Waitid = name(err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	res.Wait4 = name(err)
	for p := res.Before + 1; p < res.After && p < res.Before+4096; p++ {
		var rec pidRecord
		_, err := os.Stat("/proc/" + strconv.Itoa(p))
		rec.InProc = err == nil
		rec.Kill = name(unix.Kill(p, 0))
		_, err = os.Stat("/proc/self/task/" + strconv.Itoa(p))
		rec.OwnThread = err == nil
		res.Records[p] = rec
	}
	pid, _, ex, err := runReport(fd, out)
	if err != nil {
		return nil, err
	}
	res.Pid, res.Exit, res.Exited0 = pid, ex.String(), ex.Exited(0)
	return res, nil
}

type broadcastArg struct{ KillAll bool }

type broadcastResult struct {
	KillPgrp, KillAll string
	Exit              string
	Exited0           bool
	ReportErr         string
	SigPnd, ShdPnd    string
}

// helperBroadcast runs as its own process group leader: it sends SIGUSR1
// (ignored by itself) to its process group, and to every process it may
// signal (kill(-1)), while it has an unstarted embryo, whose default
// disposition for SIGUSR1 is to die.
func helperBroadcast(raw json.RawMessage) (any, error) {
	var arg broadcastArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	signal.Ignore(syscall.SIGUSR1)
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "exit", "0")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	var res broadcastResult
	res.KillPgrp = name(unix.Kill(-unix.Getpgrp(), unix.SIGUSR1))
	if arg.KillAll {
		res.KillAll = name(unix.Kill(-1, unix.SIGUSR1))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw2, rerr := embryo.ParseReport(out)
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return nil, err
	}
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	if rerr != nil {
		res.ReportErr = fmt.Sprintf("%v: %q", rerr, raw2)
	} else {
		res.SigPnd, res.ShdPnd = rep.Status["SigPnd"], rep.Status["ShdPnd"]
	}
	return res, nil
}

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
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: pidfd_open: %s", i, name(err))
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
	_, err = pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG)
	res.Waitid = name(err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	res.Wait4 = name(err)
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

type pidsArg struct {
	Cgroup string
	N      int
}

type pidsResult struct {
	Base, WithN, AfterClose int
	First, Second, Again    string
	Limit                   int
}

// prewarm has the Go runtime start n threads and leave them idle, so that
// it need not create one while pids.max leaves no room.
func prewarm(n int) {
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

// embryoCharge is pids.current less this process's threads: what the
// embryos cost, read when the thread count is stable around it.
func embryoCharge(cg string) (int, error) {
	for i := 0; i < 100; i++ {
		t1, err := embryo.StatusField("self", "Threads")
		if err != nil {
			return 0, err
		}
		cur, err := embryo.ReadInt(cg + "/pids.current")
		if err != nil {
			return 0, err
		}
		t2, err := embryo.StatusField("self", "Threads")
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

// waitCharge polls until the embryo charge is want (up to 10 s) and returns
// the last value.
func waitCharge(cg string, want int) (int, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := embryoCharge(cg)
		if err != nil || n == want || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// helperPids moves itself into an empty pids cgroup and checks that
// embryos are charged there and uncharged on close, and that pids.max
// stops their creation with EAGAIN.
func helperPids(raw json.RawMessage) (any, error) {
	var arg pidsArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	prewarm(8)
	cg := arg.Cgroup
	if err := os.WriteFile(cg+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return nil, fmt.Errorf("joining %s: %v", cg, err)
	}
	var res pidsResult
	var err error
	if res.Base, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	var fds []int
	for i := 0; i < arg.N; i++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: %s", i, name(err))
		}
		fds = append(fds, fd)
	}
	if res.WithN, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if res.AfterClose, err = waitCharge(cg, res.Base); err != nil {
		return nil, err
	}

	// Room for exactly one more task.
	defer os.WriteFile(cg+"/pids.max", []byte("max"), 0)
	for i := 0; ; i++ {
		cur, err := embryo.ReadInt(cg + "/pids.current")
		if err != nil {
			return nil, err
		}
		res.Limit = cur + 1
		if err := os.WriteFile(cg+"/pids.max", []byte(strconv.Itoa(res.Limit)), 0); err != nil {
			return nil, fmt.Errorf("setting pids.max: %v", err)
		}
		if now, err := embryo.ReadInt(cg + "/pids.current"); err == nil && now == cur {
			break
		}
		if i == 10 {
			return nil, errors.New("pids.current does not settle")
		}
	}
	e1, err1 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	e2, err2 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.First, res.Second = name(err1), name(err2)
	if err2 == nil {
		unix.Close(e2)
	}
	if err1 == nil {
		unix.Close(e1)
		if _, err := waitCharge(cg, res.Base); err != nil {
			return nil, err
		}
	}
	e3, err3 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.Again = name(err3)
	if err3 == nil {
		unix.Close(e3)
	}
	return res, nil
}

// helperCreator creates an embryo holding the write end of the parent's
// pipe (fd 4) as its fd 1, sends it to the parent over the socket at fd 3,
// and exits when its stdin closes.
func helperCreator(json.RawMessage) (any, error) {
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
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

type receiverArg struct {
	How string // "scm", "inherit" or "getfd"
	Fd  int    // getfd: the embryo's fd number in the parent
}

type receiverResult struct {
	Fdinfo                            string
	Exec, Signals, Unknown, Run, RunF string
	SendSignal                        string
}

// helperReceiver gets an embryo it did not create and tries to configure
// and start it.
func helperReceiver(raw json.RawMessage) (any, error) {
	var arg receiverArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	var fd int
	switch arg.How {
	case "scm":
		var err error
		if fd, err = embryo.RecvFD(3, embryo.Timeout); err != nil {
			return nil, err
		}
	case "inherit":
		fd = 3
	case "getfd":
		pp, err := pidfd.Open(os.Getppid(), 0)
		if err != nil {
			return nil, fmt.Errorf("pidfd_open(parent): %v", err)
		}
		if fd, err = unix.PidfdGetfd(pp, arg.Fd, 0); err != nil {
			return nil, fmt.Errorf("pidfd_getfd(parent, %d): %v", arg.Fd, err)
		}
	default:
		return nil, fmt.Errorf("unknown way %q", arg.How)
	}
	var res receiverResult
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return nil, err
	}
	res.Fdinfo = strings.TrimSpace(string(b))
	res.Exec = name(pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0))
	res.Signals = name(pidfd.ConfigSignals(fd, 0, 0))
	res.Unknown = name(pidfd.Config(fd, 99, 0, 0))
	_, err = pidfd.SpawnRun(fd, 0)
	res.Run = name(err)
	_, err = pidfd.SpawnRun(fd, 1)
	res.RunF = name(err)
	res.SendSignal = name(unix.PidfdSendSignal(fd, 0, nil, 0))
	return res, nil
}

// nprocResult is what helperNproc saw, errnos by name.
type nprocResult struct {
	AtZero   string // pidfd_open(0, PIDFD_EMPTY) with RLIMIT_NPROC 0
	ForkZero string // fork with RLIMIT_NPROC 0, for comparison
	Restored string // pidfd_open after the limit is restored
}

// helperNproc runs as an unprivileged user, for whom RLIMIT_NPROC holds:
// with a limit of 0 an embryo cannot be created, as a fork cannot.
func helperNproc(json.RawMessage) (any, error) {
	prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return nil, fmt.Errorf("getrlimit: %v", err)
	}
	zero := unix.Rlimit{Cur: 0, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &zero); err != nil {
		return nil, fmt.Errorf("setrlimit(RLIMIT_NPROC, 0): %v", err)
	}
	var res nprocResult
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.AtZero = name(err)
	if err == nil {
		unix.Close(fd)
	}
	// A raw fork: the child, if any, exits at once without running Go.
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0)
	if errno == 0 && pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	if errno == 0 {
		var ws unix.WaitStatus
		unix.Wait4(int(pid), &ws, 0, nil)
		res.ForkZero = "success"
	} else {
		res.ForkZero = name(errno)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return nil, fmt.Errorf("restoring RLIMIT_NPROC: %v", err)
	}
	fd, err = pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.Restored = name(err)
	if err == nil {
		unix.Close(fd)
	}
	return res, nil
}
