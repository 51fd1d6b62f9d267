package lifecycle

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

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() { helpers["configlock"] = helperConfigLock }

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
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, arg.Prog, 0); err != nil {
		return nil, fmt.Errorf("PIDFD_CONFIG_EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{filepath.Base(arg.Prog)}); err != nil {
		return nil, fmt.Errorf("PIDFD_CONFIG_ARGV: %s", name(err))
	}
	if arg.MoveTo != "" {
		if err := writeCtl(filepath.Join(arg.MoveTo, "cgroup.procs"), "0"); err != nil {
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
	ready := os.NewFile(3, "ready")
	if _, err := fmt.Fprint(ready, "ready"); err != nil {
		return nil, fmt.Errorf("saying ready: %v", err)
	}
	ready.Close()
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
	cgA, cgB := newCgroup2(t), newCgroup2(t)
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

	kmsg := openKmsg(t)
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
		if !embryo.Check(t, "writing freezer to /sys/power/pm_test", writeCtl("/sys/power/pm_test", "freezer"), 0) {
			t.FailNow()
		}
		start := time.Now()
		err := writeCtl("/sys/power/state", "freeze")
		took := time.Since(start)
		if err := writeCtl("/sys/power/pm_test", old); err != nil {
			t.Errorf("restoring /sys/power/pm_test to %s: %s", old, name(err))
		}
		t.Logf("suspend to idle with pm_test=freezer: %s after %v", name(err), took.Round(time.Millisecond))
		embryo.Check(t, "writing freeze to /sys/power/state with pm_test=freezer (EBUSY: a task refused to freeze)", err, 0)
	case "cgroup":
		freeze := filepath.Join(cgB, "cgroup.freeze")
		if !embryo.Check(t, "writing 1 to B/cgroup.freeze", writeCtl(freeze, "1"), 0) {
			t.FailNow()
		}
		if v, ok := waitCgroupEvent(cgB, "frozen", "1", killWithin); !ok {
			t.Errorf("B/cgroup.events says frozen %s %v after cgroup.freeze=1: the creator was not frozen (wchans %s)", v, killWithin, taskWchans(h.Pid()))
		}
		embryo.Check(t, "writing 0 to B/cgroup.freeze", writeCtl(freeze, "0"), 0)
		if v, ok := waitCgroupEvent(cgB, "frozen", "0", killWithin); !ok {
			t.Errorf("B/cgroup.events says frozen %s %v after the thaw", v, killWithin)
		}
	}
	for _, line := range kmsg.read(t) {
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
