package lifecycle

// No signal reaches an embryo: process-group and kill(-1) broadcasts skip
// it, and it starts with nothing pending.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

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
	fd, out, err := reportEmbryo("exit", "0")
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
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

// startedAfter is how an embryo started after the broadcasts went: its
// exit, and the signals pending at its start by its report.
type startedAfter struct {
	Exit           string
	Exited0        bool
	SigPnd, ShdPnd string
}

// check fails t unless the embryo exited 0 with nothing pending at start.
func (s startedAfter) check(t *testing.T) {
	t.Helper()
	if !s.Exited0 {
		t.Errorf("the embryo started after the broadcasts: %s, want exit 0", s.Exit)
	}
	if s.SigPnd != "0000000000000000" || s.ShdPnd != "0000000000000000" {
		t.Errorf("pending signals at start: SigPnd %s ShdPnd %s, want none", s.SigPnd, s.ShdPnd)
	}
}

type pgrpResult struct {
	Pgrp, LeftTo int // the process group at creation, and after setpgid(0, 0)
	ChildPgid    int // the started child's process group
	startedAfter
}

// helperPgrp starts in a process group another process leads. It
// creates an embryo, leaves the group (setpgid(0, 0)) and says "ready" on
// fd 3. On a line on stdin it starts the embryo (childreport waiting on
// its stdin) and says "started <the child's process group>" on fd 3; on a
// second line it lets the child exit and reports on it.
func helperPgrp(json.RawMessage) (any, error) {
	var res pgrpResult
	fd, out, inW, err := readingEmbryo()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer out.Close()
	defer inW.Close()
	res.Pgrp = unix.Getpgrp()
	if err := unix.Setpgid(0, 0); err != nil {
		return nil, fmt.Errorf("setpgid(0, 0): %v", err)
	}
	res.LeftTo = unix.Getpgrp()
	talk := os.NewFile(3, "talk")
	defer talk.Close()
	stdin := bufio.NewReader(os.Stdin)
	if _, err := talk.WriteString("ready\n"); err != nil {
		return nil, fmt.Errorf("writing ready: %v", err)
	}
	if _, err := stdin.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test: %v", err)
	}
	pid, err := pidfd.SpawnRun(fd, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, err := embryo.ParseReport(out)
	if err != nil {
		return nil, fmt.Errorf("the child: %v\n%s", err, raw)
	}
	res.SigPnd, res.ShdPnd = rep.Status["SigPnd"], rep.Status["ShdPnd"]
	if res.ChildPgid, err = unix.Getpgid(pid); err != nil {
		return nil, fmt.Errorf("getpgid(%d) of the started child: %v", pid, err)
	}
	if _, err := fmt.Fprintf(talk, "started %d\n", res.ChildPgid); err != nil {
		return nil, fmt.Errorf("writing started: %v", err)
	}
	if _, err := stdin.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test: %v", err)
	}
	inW.Close()
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return nil, err
	}
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	return res, nil
}

// TestBroadcastPgrpOnlyEmbryo (DESIGN.md section 3: process-group
// broadcasts skip an embryo). A helper starts in a process group another
// process leads, creates an embryo there and leaves the group; once the
// leader is gone and reaped the embryo is the only task that can be in the
// group. kill(-pgrp, 0) and kill(-pgrp, SIGUSR1) must fail with ESRCH, as
// for a group with no process: a kernel that counts the embryo as a member
// answers success. The embryo then starts with nothing pending. The
// control: if the started child is in that group (the embryo was a member
// all along, as a forked child is of its parent's group at fork),
// kill(-pgrp, 0) now succeeds; if it is not, the test can only say that
// nothing in the group was signalled, and logs so.
func TestBroadcastPgrpOnlyEmbryo(t *testing.T) {
	embryo.Require(t)
	leaderR, leaderW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	leader := exec.Command(childreport.Path, "read")
	leader.Stdin = leaderR
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := leader.Start(); err != nil {
		t.Fatalf("starting the group leader: %v", err)
	}
	leaderR.Close()
	leaderDone := false
	t.Cleanup(func() {
		leaderW.Close()
		if !leaderDone {
			leader.Process.Kill()
			leader.Wait()
		}
	})
	pgrp := leader.Process.Pid

	talk, talkW := embryo.Pipe(t)
	h := helper.New(t, "pgrp", nil)
	h.Cmd.SysProcAttr.Setpgid = true
	h.Cmd.SysProcAttr.Pgid = pgrp
	h.Cmd.ExtraFiles = []*os.File{talkW}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	talkW.Close()
	lines := bufio.NewReader(talk)
	say := func(want string) string {
		t.Helper()
		talk.SetReadDeadline(time.Now().Add(embryo.Timeout))
		line, err := lines.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			stdin.Close()
			h.Result(nil)
			t.Fatalf("the helper said %q, %v; want %s", line, err, want)
		}
		return strings.TrimSpace(strings.TrimPrefix(line, want))
	}
	say("ready")
	if pg, err := unix.Getpgid(h.Pid()); err != nil || pg != h.Pid() {
		t.Fatalf("the helper's process group: %d, %v; want its own %d (it left %d)", pg, err, h.Pid(), pgrp)
	}
	leaderW.Close()
	if err := leader.Wait(); err != nil {
		t.Fatalf("the group leader: %v", err)
	}
	leaderDone = true
	embryo.Check(t, fmt.Sprintf("kill(-%d, 0) with only an unstarted embryo in the group", pgrp), unix.Kill(-pgrp, 0), unix.ESRCH)
	embryo.Check(t, fmt.Sprintf("kill(-%d, SIGUSR1) with only an unstarted embryo in the group", pgrp), unix.Kill(-pgrp, unix.SIGUSR1), unix.ESRCH)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	childPgid, _ := strconv.Atoi(say("started "))
	if childPgid == pgrp {
		embryo.Check(t, fmt.Sprintf("kill(-%d, 0) with the started child in the group (control)", pgrp), unix.Kill(-pgrp, 0), 0)
	} else {
		t.Logf("the started child is in process group %d, not %d: the embryo was not a member of %d at the broadcasts", childPgid, pgrp, pgrp)
	}
	if _, err := io.WriteString(stdin, "exit\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	var res pgrpResult
	h.Result(&res)
	t.Logf("%+v", res)
	if res.Pgrp != pgrp {
		t.Errorf("the helper created the embryo in process group %d, want %d: the test is void", res.Pgrp, pgrp)
	}
	res.check(t)
}

type killAllResult struct {
	Self               int
	KillZero, KillUsr1 string // kill(-1, ...) with only an unstarted embryo to reach
	KillStarted        string // kill(-1, 0) with a started child: the control
	startedAfter
}

// helperKillAll is the init of a new pid namespace: kill(-1) there
// reaches every process of the namespace but the caller, that is, with
// one unstarted embryo, nothing at all.
func helperKillAll(json.RawMessage) (any, error) {
	res := killAllResult{Self: os.Getpid()}
	if res.Self != 1 {
		return nil, fmt.Errorf("pid %d: not the init of a new pid namespace", res.Self)
	}
	fd, out, err := reportEmbryo("exit", "0")
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer out.Close()
	res.KillZero = name(unix.Kill(-1, 0))
	res.KillUsr1 = name(unix.Kill(-1, unix.SIGUSR1))

	// The control: a started child is reached.
	ctl, ctlOut, inW, err := readingEmbryo()
	if err != nil {
		return nil, fmt.Errorf("the control: %v", err)
	}
	defer unix.Close(ctl)
	defer ctlOut.Close()
	defer inW.Close()
	if _, err := pidfd.SpawnRun(ctl, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run of the control: %s", name(err))
	}
	if _, raw, err := embryo.ParseReport(ctlOut); err != nil {
		return nil, fmt.Errorf("the control child: %v\n%s", err, raw)
	}
	res.KillStarted = name(unix.Kill(-1, 0))
	inW.Close()
	if ex, err := embryo.WaitExit(ctl, embryo.Timeout); err != nil || !ex.Exited(0) {
		return nil, fmt.Errorf("the control child: %v, %v; want exit 0", ex, err)
	}

	_, rep, ex, err := runReport(fd, out)
	if err != nil {
		return nil, err
	}
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	res.SigPnd, res.ShdPnd = rep.Status["SigPnd"], rep.Status["ShdPnd"]
	return res, nil
}

// TestBroadcastKillAllSkipsEmbryo (DESIGN.md section 3: kill(-1)
// broadcasts skip an embryo). kill(-1) counts every process of the
// caller's pid namespace but init and the caller: from the init of a new
// pid namespace holding one unstarted embryo, kill(-1, 0) and
// kill(-1, SIGUSR1) must fail with ESRCH. (From the root namespace, an
// unprivileged kill(-1) also counts the processes it may not signal, so
// it cannot tell.) A kernel that counts the embryo answers success. The
// control: with a started child, kill(-1, 0) succeeds.
func TestBroadcastKillAllSkipsEmbryo(t *testing.T) {
	embryo.Require(t)
	h := helper.New(t, "killall", nil)
	h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
	var res killAllResult
	h.Result(&res)
	t.Logf("%+v", res)
	if res.KillStarted != "success" {
		t.Errorf("kill(-1, 0) from a pid namespace's init with a started child: %s, want success: the test is void", res.KillStarted)
	}
	if res.KillZero != "ESRCH" {
		t.Errorf("kill(-1, 0) from a pid namespace's init whose only other task is an unstarted embryo: %s, want ESRCH", res.KillZero)
	}
	if res.KillUsr1 != "ESRCH" {
		t.Errorf("kill(-1, SIGUSR1) from a pid namespace's init whose only other task is an unstarted embryo: %s, want ESRCH", res.KillUsr1)
	}
	res.check(t)
}
