package lifecycle

// The freezers freeze an embryo in every state (series v2, A11): the cgroup
// v2 freezer and system suspend's freeze an unstarted embryo, one idle
// after a failed exec, and a creator waiting in pidfd_spawn_run() or in a
// config call.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	"github.com/emptypidfd/emptypidfd/selftests/internal/kmsg"
)

type holdArg struct {
	// One embryo each; true: first run it with an EXEC of a missing
	// path, so that it is idle after a failed exec.
	FailedExec []bool
}

// heldEmbryo is what became of one embryo of helperHold, errnos by name.
type heldEmbryo struct {
	Failed  string // the run of a missing path, if asked
	Exec    string // EXEC of true-static after the release
	Run     string
	Exit    string
	Exited0 bool
}

// helperHold creates embryos, says "ready" on fd 3 (and closes it), waits
// for its stdin to close, and then configures and runs each embryo to its
// exit. The test freezes it in between.
func helperHold(raw json.RawMessage) (any, error) {
	var arg holdArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	res := make([]heldEmbryo, len(arg.FailedExec))
	fds := make([]int, len(arg.FailedExec))
	for i, failed := range arg.FailedExec {
		fd, err := openEmbryo()
		if err != nil {
			return nil, fmt.Errorf("embryo %d: %v", i, err)
		}
		defer unix.Close(fd)
		fds[i] = fd
		if failed {
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent/emptypidfd-v2", 0); err != nil {
				return nil, fmt.Errorf("embryo %d: EXEC: %s", i, name(err))
			}
			_, err := pidfd.SpawnRun(fd, 0)
			res[i].Failed = name(err)
		}
	}
	if err := sayReady("ready"); err != nil {
		return nil, err
	}
	io.Copy(io.Discard, os.Stdin)
	for i, fd := range fds {
		r := &res[i]
		r.Exec = name(pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0))
		if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
			return nil, fmt.Errorf("embryo %d: ARGV: %s", i, name(err))
		}
		_, err := pidfd.SpawnRun(fd, 0)
		r.Run = name(err)
		if err != nil {
			continue
		}
		ex, err := embryo.WaitExit(fd, embryo.Timeout)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: %v", i, err)
		}
		r.Exit, r.Exited0 = ex.String(), ex.Exited(0)
	}
	return res, nil
}

// startHold starts helperHold in the cgroup cg ("": the test's own) and
// waits until its embryos exist. Closing the returned stdin lets it go on.
func startHold(t *testing.T, arg holdArg, cg string) (*helper.Helper, io.WriteCloser) {
	t.Helper()
	h, stdin, said := startReady(t, "hold", arg, cg)
	if said != "ready" {
		t.Fatalf("the helper did not get ready: said %q", said)
	}
	return h, stdin
}

// checkHeld checks what helperHold reports after the release: every
// embryo (idle after a failed exec where asked) still runs to exit 0.
func checkHeld(t *testing.T, arg holdArg, res []heldEmbryo) {
	t.Helper()
	if len(res) != len(arg.FailedExec) {
		t.Fatalf("the helper reports %d embryos, want %d", len(res), len(arg.FailedExec))
	}
	for i, r := range res {
		if arg.FailedExec[i] && r.Failed != "ENOENT" {
			t.Errorf("embryo %d: run of a missing path: %s, want ENOENT", i, r.Failed)
		}
		if r.Exec != "success" || r.Run != "success" || !r.Exited0 {
			t.Errorf("embryo %d after the freeze and thaw: EXEC %s, run %s, %s; want success, success, exit 0", i, r.Exec, r.Run, r.Exit)
		}
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
			cg := cgroup2.New(t, cgPrefix)
			arg := holdArg{FailedExec: []bool{tc.failed}}
			h, stdin := startHold(t, arg, cg)
			freeze := filepath.Join(cg, "cgroup.freeze")
			defer cgroup2.WriteCtl(freeze, "0")

			if !embryo.Check(t, "writing 1 to cgroup.freeze", cgroup2.WriteCtl(freeze, "1"), 0) {
				t.FailNow()
			}
			if v, ok := cgroup2.WaitEvent(cg, "frozen", "1", killWithin); !ok {
				procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
				t.Errorf("cgroup.events says frozen %s %v after cgroup.freeze (cgroup.procs %q): the embryo was not frozen", v, killWithin, procs)
			}
			embryo.Check(t, "writing 0 to cgroup.freeze", cgroup2.WriteCtl(freeze, "0"), 0)
			if v, ok := cgroup2.WaitEvent(cg, "frozen", "0", killWithin); !ok {
				t.Errorf("cgroup.events says frozen %s %v after the thaw", v, killWithin)
			}
			stdin.Close()
			var res []heldEmbryo
			h.Result(&res)
			checkHeld(t, arg, res)
		})
	}
}

type vforkControlArg struct {
	Prog   string
	Cgroup string // the child's cgroup (CLONE_INTO_CGROUP)
}

type vforkControlResult struct {
	Run string // what os/exec's Run returned
}

// helperVforkControl is the reference for the runner row: os/exec forks
// with CLONE_VFORK, so the helper's thread waits in the kernel for its
// child's exec, as a runner waits in pidfd_spawn_run. The child starts in
// arg.Cgroup (CLONE_INTO_CGROUP, with the vfork) and execs arg.Prog, which
// the test holds with a fanotify permission event.
func helperVforkControl(raw json.RawMessage) (any, error) {
	var arg vforkControlArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	cgfd, err := unix.Open(arg.Cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %s", arg.Cgroup, name(err))
	}
	defer unix.Close(cgfd)
	cmd := exec.Command(arg.Prog)
	cmd.Args = []string{"true-static"}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	return vforkControlResult{Run: fmt.Sprint(cmd.Run())}, nil
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
			cgA, cgB := cgroup2.New(t, cgPrefix), cgroup2.New(t, cgPrefix)
			prog := filepath.Join(tmpfsDir(t), "true-static")
			helper.CopyFile(t, childreport.TruePath, prog, 0o755)
			fan := newExecBlocker(t, prog)
			defer fan.release() // before the cleanups wait for the helper

			var h *helper.Helper
			var execer int // the process held in its exec, in A
			if tc.vfork {
				cgfd := openCgroup(t, cgB)
				h = helper.New(t, "vforkcontrol", vforkControlArg{Prog: prog, Cgroup: cgA})
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
			defer cgroup2.WriteCtl(freeze, "0") // runs before fan.release
			if !embryo.Check(t, "writing 1 to B/cgroup.freeze", cgroup2.WriteCtl(freeze, "1"), 0) {
				t.FailNow()
			}
			if v, ok := cgroup2.WaitEvent(cgB, "frozen", "1", killWithin); !ok {
				t.Errorf("B/cgroup.events says frozen %s %v after cgroup.freeze: the helper %d waiting for the exec of %d was not frozen (wchans %s)",
					v, killWithin, h.Pid(), execer, taskWchans(h.Pid()))
			}
			embryo.Check(t, "writing 0 to B/cgroup.freeze", cgroup2.WriteCtl(freeze, "0"), 0)
			if v, ok := cgroup2.WaitEvent(cgB, "frozen", "0", killWithin); !ok {
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
				if v, ok := cgroup2.WaitEvent(cg, "populated", "0", killWithin); !ok {
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
	h, stdin := startHold(t, arg, "")

	if !embryo.Check(t, "writing freezer to /sys/power/pm_test", cgroup2.WriteCtl("/sys/power/pm_test", "freezer"), 0) {
		t.FailNow()
	}
	defer func() {
		if err := cgroup2.WriteCtl("/sys/power/pm_test", old); err != nil {
			t.Errorf("restoring /sys/power/pm_test to %s: %s", old, embryo.Name(err))
		}
	}()
	const within = 30 * time.Second
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cgroup2.WriteCtl("/sys/power/state", "freeze") }()
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

// The embryo's config lock and the freezers (from the reproducers of two
// reviews on 2026-11-29). No task may be frozen holding ->lock (lockdep
// warns in __set_task_frozen()), and a call that waits for ->lock must be
// one a freezer can stop:
//
//   - pidfd_spawn_run() waits, freezably, for the exec; with ->lock held,
//     the suspend freezer froze a task holding a lock, and a second
//     thread's config call slept in mutex_lock_killable(), which no
//     freezer stops: suspend failed after 20 s and cgroup.freeze never
//     said frozen (finding A11 again). The run now drops ->lock first.
//   - PIDFD_FD_OPEN of a file with a fanotify FAN_OPEN_PERM mark sleeps,
//     freezably, in fanotify_get_response(), holding ->lock, a mutex then:
//     the suspend freezer froze it with the lock held. ->lock is now a bit
//     lock whose only waiters (the creator's calls) wait interruptibly, so
//     freezing its holder is safe, and lockdep does not track it.
//   - PIDFD_FD_OPEN of a FIFO with no writer blocks in userspace's hands.
//
// The C selftest config_lock_wait_restarts covers a call that waits for
// ->lock (held by a copy from a userfaultfd page): a signal interrupts
// the wait and the call restarts.

type configLockArg struct {
	Prog   string // the program the embryo execs (a fanotify mark holds it)
	Open   string // if set, PIDFD_FD_OPEN of this file blocks instead of a run
	MoveTo string // a cgroup the helper moves to after creating the embryo
}

type configLockResult struct {
	First     string // pidfd_spawn_run(), or PIDFD_FD_OPEN of the FIFO
	Second    string // PIDFD_CONFIG_SIGNALS from another thread
	SecondNow bool   // the second call had returned when the helper said ready
}

// helperConfigLock creates an embryo, moves to arg.MoveTo, and starts a
// call that blocks: pidfd_spawn_run() (the exec is held by the test's
// fanotify group), or PIDFD_FD_OPEN of arg.Open. Then it makes a second
// call from another thread, waits a little, and says "ready" on fd 3.
// It returns when both calls have returned and stdin is closed.
func helperConfigLock(raw json.RawMessage) (any, error) {
	var arg configLockArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, arg.Prog, 0); err != nil {
		return nil, fmt.Errorf("PIDFD_CONFIG_EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{filepath.Base(arg.Prog)}); err != nil {
		return nil, fmt.Errorf("PIDFD_CONFIG_ARGV: %s", name(err))
	}
	if arg.MoveTo != "" {
		if err := cgroup2.WriteCtl(filepath.Join(arg.MoveTo, "cgroup.procs"), "0"); err != nil {
			return nil, fmt.Errorf("moving to %s: %s", arg.MoveTo, name(err))
		}
	}
	first := make(chan string, 1)
	go func() {
		if arg.Open != "" {
			how := unix.OpenHow{Flags: unix.O_RDONLY}
			first <- name(pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, arg.Open, &how, 0))
			return
		}
		_, err := pidfd.SpawnRun(fd, 0)
		first <- name(err)
	}()
	time.Sleep(time.Second) // blocked by now: in the exec, or in the FIFO
	second := make(chan string, 1)
	go func() { second <- name(pidfd.ConfigSignals(fd, 0, 0)) }()
	time.Sleep(500 * time.Millisecond)

	var res configLockResult
	select {
	case res.Second = <-second:
		res.SecondNow = true
	default:
	}
	if err := sayReady("ready"); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		ch  chan string
		res *string
	}{{first, &res.First}, {second, &res.Second}} {
		if *c.res != "" {
			continue
		}
		select {
		case *c.res = <-c.ch:
		case <-time.After(2 * time.Minute):
			return nil, fmt.Errorf("a call has not returned 2 minutes after the test let it go (%+v)", res)
		}
	}
	io.Copy(io.Discard, os.Stdin)
	return res, nil
}

// TestConfigLockFreezable: while the embryo's exec is held (a fanotify
// permission event that is not answered) or a config call is held (a
// PIDFD_FD_OPEN of a FIFO with no writer, or of a file whose
// FAN_OPEN_PERM event is not answered), and a second thread of the
// creator makes a config call, both freezers freeze the creator:
// suspend to idle with pm_test=freezer succeeds, and the cgroup the
// creator moved to reports frozen. Nothing is logged (a task frozen with
// a lock held is a lockdep WARNING). A config call during a run is turned
// away at once with EBUSY rather than queued behind the exec; one made
// while another's open blocks waits for it. After the thaw, both calls
// complete.
func TestConfigLockFreezable(t *testing.T) {
	embryo.Require(t)
	if b, err := os.ReadFile("/sys/power/state"); err != nil || !slices.Contains(strings.Fields(string(b)), "freeze") {
		t.Fatalf("/sys/power/state %q, %v: no suspend to idle, so the suspend freezer cannot be tested (CONFIG_SUSPEND)", b, err)
	}
	for _, freezer := range []string{"suspend", "cgroup"} {
		for _, held := range []string{"exec", "fifo", "fanotify"} {
			// The cgroup v2 freezer's wake-up (signal_wake_up())
			// does not end fanotify_get_response()'s TASK_KILLABLE
			// wait, so no open held there is frozen by it, with or
			// without empty pidfds (by the code; the row failed
			// that way, with no lock held).
			if freezer == "cgroup" && held == "fanotify" {
				continue
			}
			t.Run(freezer+"/"+held, func(t *testing.T) {
				testConfigLockFreezable(t, freezer, held)
			})
		}
	}
}

func testConfigLockFreezable(t *testing.T, freezer, held string) {
	cgA, cgB := cgroup2.New(t, cgPrefix), cgroup2.New(t, cgPrefix)
	prog := filepath.Join(tmpfsDir(t), "true-static")
	helper.CopyFile(t, childreport.TruePath, prog, 0o755)
	fan := newExecBlocker(t, prog)
	defer fan.release()
	arg := configLockArg{Prog: prog, MoveTo: cgB}
	release := fan.release
	var openBlk *execBlocker
	switch held {
	case "fifo":
		arg.Open = filepath.Join(t.TempDir(), "fifo")
		if err := unix.Mkfifo(arg.Open, 0o600); err != nil {
			t.Fatal(err)
		}
		release = fifoWriter(t, arg.Open)
	case "fanotify":
		arg.Open = filepath.Join(filepath.Dir(prog), "data")
		if err := os.WriteFile(arg.Open, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		openBlk = newPermBlocker(t, arg.Open, unix.FAN_OPEN_PERM)
		defer openBlk.release()
		release = openBlk.release
	}
	defer release()

	klog := kmsg.Open(t)
	h, stdin, said := startReady(t, "configlock", arg, cgA)
	if said != "ready" {
		t.Fatalf("the helper said %q, not ready", said)
	}
	switch held {
	case "exec":
		fan.waitExec(t, h.Pid())
	case "fanotify": // the config call waits for the answer
		evs, err := openBlk.next(embryo.Timeout)
		if err != nil || len(evs) != 1 || evs[0].Mask&unix.FAN_OPEN_PERM == 0 || int(evs[0].Pid) != h.Pid() {
			t.Fatalf("fanotify events %+v, %v; want one FAN_OPEN_PERM from the helper %d", evs, err, h.Pid())
		}
	}
	if in, procs := cgroupHas(cgB, h.Pid()); !in {
		t.Fatalf("the helper %d is not in cgroup B (cgroup.procs %q): the test is void", h.Pid(), procs)
	}
	t.Logf("helper %d wchans before the freeze: %s", h.Pid(), taskWchans(h.Pid()))

	switch freezer {
	case "suspend":
		old := pmTest(t)
		if !embryo.Check(t, "writing freezer to /sys/power/pm_test", cgroup2.WriteCtl("/sys/power/pm_test", "freezer"), 0) {
			t.FailNow()
		}
		start := time.Now()
		err := cgroup2.WriteCtl("/sys/power/state", "freeze")
		took := time.Since(start)
		if err := cgroup2.WriteCtl("/sys/power/pm_test", old); err != nil {
			t.Errorf("restoring /sys/power/pm_test to %s: %s", old, name(err))
		}
		t.Logf("suspend to idle with pm_test=freezer: %s after %v", name(err), took.Round(time.Millisecond))
		embryo.Check(t, "writing freeze to /sys/power/state with pm_test=freezer (EBUSY: a task refused to freeze)", err, 0)
	case "cgroup":
		freeze := filepath.Join(cgB, "cgroup.freeze")
		if !embryo.Check(t, "writing 1 to B/cgroup.freeze", cgroup2.WriteCtl(freeze, "1"), 0) {
			t.FailNow()
		}
		if v, ok := cgroup2.WaitEvent(cgB, "frozen", "1", killWithin); !ok {
			t.Errorf("B/cgroup.events says frozen %s %v after cgroup.freeze=1: the creator was not frozen (wchans %s)", v, killWithin, taskWchans(h.Pid()))
		}
		embryo.Check(t, "writing 0 to B/cgroup.freeze", cgroup2.WriteCtl(freeze, "0"), 0)
		if v, ok := cgroup2.WaitEvent(cgB, "frozen", "0", killWithin); !ok {
			t.Errorf("B/cgroup.events says frozen %s %v after the thaw", v, killWithin)
		}
	}
	for _, line := range klog.Lines(t) {
		if strings.Contains(line, "WARNING:") || strings.Contains(line, "BUG:") || strings.Contains(line, "Freezing") && strings.Contains(line, "failed") {
			t.Errorf("kernel log during the freeze: %s", line)
		}
	}

	release()
	stdin.Close()
	var res configLockResult
	h.Result(&res)
	t.Logf("result %+v", res)
	want := configLockResult{First: "success", Second: "EBUSY", SecondNow: true}
	if held != "exec" {
		// The second call waits for the first, which holds ->lock.
		want = configLockResult{First: "success", Second: "success", SecondNow: false}
	}
	if res != want {
		t.Errorf("the calls: %+v; want %+v", res, want)
	}
}
