package lifecycle

// An embryo can be killed in every state (series v2, A5 to A8): while its
// exec blocks without bound (cgroup.kill, pid namespace teardown), while
// its creator's config call blocks, and with its runner killed; config
// calls of every kind race with its death.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// TestKillWhileExecingCgroupKill (series v2, A5): an embryo whose exec
// blocks without bound, here on a fanotify permission event that nobody
// answers, dies with its cgroup's cgroup.kill, so the cgroup empties and
// can be removed. v1: no signal reaches an embryo, so it stays in the
// cgroup for as long as the exec blocks and rmdir fails with EBUSY.
func TestKillWhileExecingCgroupKill(t *testing.T) {
	embryo.Require(t)
	cg := cgroup2.New(t, cgPrefix)
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

	embryo.Check(t, "writing 1 to cgroup.kill", cgroup2.WriteCtl(filepath.Join(cg, "cgroup.kill"), "1"), 0)
	if v, ok := cgroup2.WaitEvent(cg, "populated", "0", killWithin); !ok {
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
	cg := cgroup2.New(t, cgPrefix) // the helper's, and so the embryo's

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
	klog := kmsg.Open(t)
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
		if v, _ := cgroup2.Event(cg, "populated"); v == "0" {
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
			checkKmsg(t, klog)
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
	checkKmsg(t, klog)
}

// checkKmsg fails t on a BUG or WARNING logged since k was last read.
func checkKmsg(t *testing.T, k *kmsg.Reader) {
	t.Helper()
	for _, line := range k.Lines(t) {
		if strings.Contains(line, "BUG:") || strings.Contains(line, "WARNING:") {
			t.Errorf("kernel log after the embryo's strings were freed: %s", line)
		}
	}
}

// An embryo destroyed while a config call is under way exits without
// waiting for the call, which may block for as long as userspace wants:
// here PIDFD_FD_OPEN of a FIFO with no writer.

type dyingArg struct {
	Fifo   string // PIDFD_FD_OPEN of it blocks until a writer comes
	MoveTo string // the cgroup the helper moves to, leaving the embryo
}

type dyingResult struct {
	FDOpen string // what the blocked config call returned in the end
}

// helperDying creates an embryo in the cgroup it started in, moves itself
// to arg.MoveTo, starts PIDFD_FD_OPEN of the FIFO (which blocks, holding
// the embryo's config lock), and says "ready <fd>" on fd 3. It returns
// when the open has returned and stdin is closed.
func helperDying(raw json.RawMessage) (any, error) {
	var arg dyingArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := os.WriteFile(filepath.Join(arg.MoveTo, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return nil, fmt.Errorf("moving to %s: %v", arg.MoveTo, err)
	}
	done := make(chan error, 1)
	go func() {
		how := unix.OpenHow{Flags: unix.O_RDONLY}
		done <- pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, arg.Fifo, &how, 0)
	}()
	// The open has had time to block in the FIFO.
	time.Sleep(500 * time.Millisecond)
	if err := sayReady("ready %d", fd); err != nil {
		return nil, err
	}
	var res dyingResult
	select {
	case err := <-done:
		res.FDOpen = name(err)
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("PIDFD_FD_OPEN of the FIFO did not return after a writer came")
	}
	io.Copy(io.Discard, os.Stdin)
	return res, nil
}

// TestDyingEmbryoDoesNotWaitForConfig: an embryo killed (cgroup.kill)
// while its creator's PIDFD_FD_OPEN blocks on a FIFO exits at once: its
// cgroup empties while the call still blocks (pidfd_empty.rst promises
// that cgroup.kill empties a cgroup). The call holds references to what
// it edits (the embryo's task, descriptor table and fs_struct), so the
// embryo need not wait for it; review of 2026-11-29 found v2 waiting, so
// that a creator outside the cgroup could keep it populated without
// bound. The dead embryo's pidfd never shows a pid, and the creator has no
// child. Once a writer opens the FIFO, the call returns ESRCH: the embryo
// it configured is gone.
func TestDyingEmbryoDoesNotWaitForConfig(t *testing.T) {
	embryo.Require(t)
	cgA, cgB := cgroup2.New(t, cgPrefix), cgroup2.New(t, cgPrefix)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	h, stdin, said := startReady(t, "dying", dyingArg{Fifo: fifo, MoveTo: cgB}, cgA)
	fdStr, ok := strings.CutPrefix(said, "ready ")
	if !ok {
		t.Fatalf("the helper said %q, not ready <fd>", said)
	}
	release := fifoWriter(t, fifo)
	defer release()
	helper := strconv.Itoa(h.Pid())

	if v, _ := cgroup2.Event(cgA, "populated"); v != "1" {
		t.Fatalf("cgroup A populated %q before the kill: the embryo is not there, the test is void", v)
	}
	t.Logf("helper %d wchans with the config call blocked: %s", h.Pid(), taskWchans(h.Pid()))
	if err := cgroup2.WriteCtl(filepath.Join(cgA, "cgroup.kill"), "1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := cgroup2.WaitEvent(cgA, "populated", "0", killWithin); !ok {
		t.Errorf("cgroup A populated=%s %v after cgroup.kill, with the creator's config call blocked: the dying embryo waits for the call", v, killWithin)
	}
	info, err := os.ReadFile("/proc/" + helper + "/fdinfo/" + fdStr)
	if err != nil {
		t.Fatal(err)
	}
	m := pidfd.ParseFdinfo(string(info))
	if n, err := strconv.Atoi(m["Pid"]); err != nil || n > 0 {
		t.Errorf("fdinfo of the dead, never started embryo: Pid %q; want 0 or -1", m["Pid"])
	}
	tasks, _ := os.ReadDir("/proc/" + helper + "/task")
	for _, task := range tasks {
		kids, _ := os.ReadFile("/proc/" + helper + "/task/" + task.Name() + "/children")
		if strings.TrimSpace(string(kids)) != "" {
			t.Errorf("children of the helper's thread %s: %q, want none (the embryo never started)", task.Name(), kids)
		}
	}

	release()
	stdin.Close()
	var res dyingResult
	h.Result(&res)
	if res.FDOpen != "ESRCH" {
		t.Errorf("the PIDFD_FD_OPEN that blocked while its embryo died returned %s; want ESRCH", res.FDOpen)
	}
	if v, _ := cgroup2.Event(cgA, "populated"); v != "0" {
		t.Errorf("cgroup A populated=%s after the config call returned", v)
	}
}

// Config calls of every kind race with the embryo's death by cgroup.kill,
// sometimes while the cgroup is frozen. A dying embryo does not wait for a
// config call under way (TestDyingEmbryoDoesNotWaitForConfig), so each of
// these calls may find the embryo's task, descriptor table, fs_struct and
// signal handlers going away under it; the kernel log (KASAN, lockdep) is
// the judge, and every call ends with success or ESRCH.

type killVsConfigArg struct {
	A, B   string // the embryo is made in A, the creator then moves to B
	Rounds int
	Seed   int64
}

type killVsConfigResult struct {
	Rounds int            // rounds in which A emptied after cgroup.kill
	Errs   map[string]int // how the spinning calls ended
	Stuck  string         // the first round in which A did not empty
}

// The config calls each spinner repeats until one fails.
var killVsConfigCalls = []struct {
	name string
	call func(fd int, argv []string) error
}{
	{"signals", func(fd int, _ []string) error { return pidfd.ConfigSignals(fd, 1<<(unix.SIGHUP-1), 0) }},
	{"argv", func(fd int, argv []string) error { return pidfd.ConfigArgv(fd, argv) }},
	{"exec", func(fd int, _ []string) error { return pidfd.ConfigExec(fd, unix.AT_FDCWD, "/bin/true", 0) }},
	{"dup", func(fd int, _ []string) error { return pidfd.ConfigFDDup(fd, 0, 7, 0) }},
	{"close_range", func(fd int, _ []string) error { return pidfd.ConfigFDCloseRange(fd, 5, 9, 0) }},
	{"inherit", func(fd int, _ []string) error { return pidfd.ConfigFDInherit(fd) }},
	{"open", func(fd int, _ []string) error {
		return pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, "/dev/null", &unix.OpenHow{Flags: unix.O_RDWR}, 3)
	}},
	{"cwd", func(fd int, _ []string) error { return pidfd.ConfigCwd(fd, unix.AT_FDCWD, "/tmp", 0) }},
}

func helperKillVsConfig(raw json.RawMessage) (any, error) {
	var arg killVsConfigArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(arg.Seed))
	res := killVsConfigResult{Errs: map[string]int{}}
	var mu sync.Mutex
	argv := make([]string, 200)
	for i := range argv {
		argv[i] = strings.Repeat("x", 100)
	}
	for i := 0; i < arg.Rounds; i++ {
		if err := cgroup2.WriteCtl(filepath.Join(arg.A, "cgroup.procs"), "0"); err != nil {
			return res, fmt.Errorf("moving to A: %s", name(err))
		}
		fd, err := openEmbryo()
		if err != nil {
			return res, fmt.Errorf("round %d: %v", i, err)
		}
		if err := cgroup2.WriteCtl(filepath.Join(arg.B, "cgroup.procs"), "0"); err != nil {
			unix.Close(fd)
			return res, fmt.Errorf("moving to B: %s", name(err))
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for _, c := range killVsConfigCalls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := c.call(fd, argv); err != nil {
						mu.Lock()
						res.Errs[c.name+": "+name(err)]++
						mu.Unlock()
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
		freeze := i%3 == 1
		if freeze {
			cgroup2.WriteCtl(filepath.Join(arg.A, "cgroup.freeze"), "1")
		}
		if err := cgroup2.WriteCtl(filepath.Join(arg.A, "cgroup.kill"), "1"); err != nil {
			return res, fmt.Errorf("cgroup.kill: %s", name(err))
		}
		if freeze {
			time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
			cgroup2.WriteCtl(filepath.Join(arg.A, "cgroup.freeze"), "0")
		}
		_, emptied := cgroup2.WaitEvent(arg.A, "populated", "0", killWithin)
		if !emptied {
			res.Stuck = fmt.Sprintf("round %d: A still populated %v after cgroup.kill; wchans %s", i, killWithin, taskWchans(os.Getpid()))
		}
		stop.Store(true)
		wg.Wait()
		unix.Close(fd)
		if !emptied {
			return res, nil
		}
		res.Rounds++
	}
	return res, nil
}

// TestKillVsConfigStress: 150 rounds; in each, eight threads repeat one
// config command each (signals, argv, exec, dup, close_range, inherit,
// open, cwd) on a fresh embryo while cgroup.kill (every third round
// under cgroup.freeze) destroys it. The embryo's cgroup empties every
// time, and every call ends with ESRCH once the embryo is gone.
func TestKillVsConfigStress(t *testing.T) {
	embryo.Require(t)
	const rounds = 150
	klog := kmsg.Open(t)
	cgA, cgB := cgroup2.New(t, cgPrefix), cgroup2.New(t, cgPrefix)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	h := helper.New(t, "killvsconfig", killVsConfigArg{A: cgA, B: cgB, Rounds: rounds, Seed: seed})
	h.Start()
	var res killVsConfigResult
	h.Result(&res)
	t.Logf("%d rounds; the calls ended with %v", res.Rounds, res.Errs)
	if res.Rounds != rounds {
		t.Errorf("%d of %d rounds done; %s", res.Rounds, rounds, res.Stuck)
	}
	for k, n := range res.Errs {
		if !strings.HasSuffix(k, ": ESRCH") {
			t.Errorf("%d calls ended with %s; want ESRCH only", n, k)
		}
	}
	for _, line := range klog.Lines(t) {
		if strings.Contains(line, "WARNING:") || strings.Contains(line, "BUG:") {
			t.Errorf("kernel log: %s", line)
		}
	}
}
