package stress

// TestFaultInjection fails, in turn, every allocation and user copy a
// call makes: with the kernel's fault injection, a thread that writes n
// to /proc/thread-self/fail-nth has the n-th fault site it reaches next
// (a slab or page allocation, a user copy) fail. For each call below, n
// goes from 1 up until the call passes through fewer than n sites (it
// succeeds and the fault was not consumed). Each failure must be clean:
// an errno an allocation or copy failure may give (cleanFault), nothing
// left behind (no fd, no charge in the pids cgroup, no child), and the
// embryo, if the call was on one, still unstarted and usable.
//
// The kernel must have CONFIG_FAULT_INJECTION, CONFIG_FAILSLAB,
// CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_USERCOPY and
// CONFIG_FAULT_INJECTION_DEBUG_FS: without them the test fails, naming
// them. The debugfs attributes are set so that GFP_KERNEL allocations
// may fail (ignore-gfp-wait=N; fail_page_alloc also min-order=0 and
// ignore-gfp-highmem=N), with verbose=1 (one line per injected fault, no
// stack dump: a "Call Trace:" on the console fails a VM run) and
// task-filter=Y (random injection, which stays off: probability 0, would
// hit only tasks that ask). fail-nth itself hits only the thread that
// set it.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/heartbeat"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

const (
	failNthPath  = "/proc/thread-self/fail-nth"
	debugfsDir   = "/sys/kernel/debug"
	faultConfigs = "CONFIG_FAULT_INJECTION=y, CONFIG_FAILSLAB=y, CONFIG_FAIL_PAGE_ALLOC=y, " +
		"CONFIG_FAULT_INJECTION_USERCOPY=y and CONFIG_FAULT_INJECTION_DEBUG_FS=y (with CONFIG_DEBUG_FS=y)"
)

// faultAttrs are the fault-injection capabilities the test uses, each
// with the config that makes it.
var faultAttrs = []struct{ dir, config string }{
	{"failslab", "CONFIG_FAILSLAB"},
	{"fail_page_alloc", "CONFIG_FAIL_PAGE_ALLOC"},
	{"fail_usercopy", "CONFIG_FAULT_INJECTION_USERCOPY"},
}

// faultSettings are the debugfs attributes the test sets (and restores).
var faultSettings = []struct{ dir, file, val string }{
	{"failslab", "ignore-gfp-wait", "N"},
	{"failslab", "verbose", "1"},
	{"failslab", "task-filter", "Y"},
	{"fail_page_alloc", "ignore-gfp-wait", "N"},
	{"fail_page_alloc", "ignore-gfp-highmem", "N"},
	{"fail_page_alloc", "min-order", "0"},
	{"fail_page_alloc", "verbose", "1"},
	{"fail_page_alloc", "task-filter", "Y"},
	{"fail_usercopy", "verbose", "1"},
	{"fail_usercopy", "task-filter", "Y"},
}

// requireFaultInjection fails t, naming the configs, if the kernel lacks
// what the test needs. It does not skip: the suite runs on the debug
// kernel, which is to have them.
func requireFaultInjection(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(failNthPath); err != nil {
		t.Fatalf("fault injection is not in this kernel (%s: %v): the test needs %s in configs/debug.config", failNthPath, err, faultConfigs)
	}
	if _, err := os.Stat(filepath.Join(debugfsDir, faultAttrs[0].dir)); err != nil {
		// debugfs may not be mounted yet (guestrun mounts it only for
		// kmemleak, after the tests).
		if err := unix.Mount("debugfs", debugfsDir, "debugfs", 0, ""); err != nil && err != unix.EBUSY {
			t.Fatalf("mounting debugfs on %s: %v (the test needs %s)", debugfsDir, err, faultConfigs)
		}
	}
	var missing []string
	for _, a := range faultAttrs {
		if _, err := os.Stat(filepath.Join(debugfsDir, a.dir, "probability")); err != nil {
			missing = append(missing, fmt.Sprintf("%s (%s/%s: %v)", a.config, debugfsDir, a.dir, err))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("the kernel has fail-nth but lacks %s: the test needs %s", strings.Join(missing, ", "), faultConfigs)
	}
}

// configureFaultInjection sets faultSettings, restoring them when t ends.
func configureFaultInjection(t *testing.T) []string {
	t.Helper()
	var set []string
	for _, s := range faultSettings {
		path := filepath.Join(debugfsDir, s.dir, s.file)
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading %s: %v (the test needs %s)", path, err, faultConfigs)
		}
		if err := cgroup2.WriteCtl(path, s.val); err != nil {
			t.Fatalf("setting %s to %s: %v", path, s.val, err)
		}
		prev := strings.TrimSpace(string(old))
		t.Cleanup(func() {
			if err := cgroup2.WriteCtl(path, prev); err != nil {
				t.Errorf("restoring %s to %s: %v", path, prev, err)
			}
		})
		set = append(set, fmt.Sprintf("%s/%s=%s", s.dir, s.file, s.val))
	}
	return set
}

// faultTimeout bounds the fault sweep's helper: about six times what it
// takes on the debug kernel under TCG.
const faultTimeout = 15 * time.Minute

func TestFaultInjection(t *testing.T) {
	embryo.Require(t)
	k := mustKnobs(t)
	requireFaultInjection(t)
	set := configureFaultInjection(t)
	t.Logf("fault injection: %s; each call up to fault site %d", strings.Join(set, " "), k.FaultMax)
	// The console check takes the allocation failure reports between
	// these lines for the injected failures they are.
	markKmsg(t, consolelog.FaultInjectionOn)
	t.Cleanup(func() { markKmsg(t, consolelog.FaultInjectionOff) })
	env := newRoundEnv(t)
	cg := embryo.PidsCgroup(t)
	start := time.Now()
	// The sweep took 155 s of helper.Timeout's 180 on the debug kernel
	// alone, and more than 180 after the rest of the suite: its own bound.
	h := helper.NewTimeout(t, "stressfaults", faultArg{PidsCg: cg, Max: k.FaultMax}, faultTimeout)
	var res faultResult
	stop := heartbeat.Start(t, "fault injection", time.Minute)
	h.Result(&res)
	stop()
	for _, f := range res.Failures {
		t.Error(f)
	}
	env.check(t, "after fault injection", cg)
	injected, sites, tolerated := 0, 0, 0
	for _, c := range res.Calls {
		injected += c.Injected
		sites += c.Sites
		tolerated += c.Tolerated
		var b strings.Builder
		for _, r := range slices.Sorted(maps.Keys(c.Errnos)) {
			fmt.Fprintf(&b, " %s=%d", r, c.Errnos[r])
		}
		t.Logf("stress-faults: test=TestFaultInjection call=%s sites=%d injected=%d tolerated=%d iterations=%d converged=%v%s",
			c.Call, c.Sites, c.Injected, c.Tolerated, c.Iterations, c.Converged, b.String())
		if !c.Converged && len(res.Failures) == 0 {
			t.Errorf("%s still consumed its fault at n=%d (STRESS_FAULT_MAX): the sweep did not reach a run without a fault", c.Call, c.Iterations)
		}
	}
	t.Log(figures("TestFaultInjection", "calls", len(res.Calls), "faults_injected", injected, "distinct_sites", sites,
		"tolerated", tolerated, "invariant_checks", res.Invariants+env.checks, "duration_s", fmt.Sprintf("%.1f", time.Since(start).Seconds()),
		"failed", t.Failed()))
}

type faultArg struct {
	PidsCg string
	Max    int
}

type faultCallResult struct {
	Call       string
	Sites      int // the fault sites the call passes through: the last n whose fault it consumed
	Injected   int // iterations whose fault the call consumed
	Tolerated  int // of those, how many the call survived (it succeeded anyway)
	Iterations int
	Converged  bool // it reached an n past its last site
	Errnos     map[string]int
}

type faultResult struct {
	Calls      []faultCallResult
	Failures   []string
	Invariants int
}

// faulter runs the sweeps on one locked thread.
type faulter struct {
	failFD  int
	numBuf  [24]byte
	readBuf [24]byte
	zero    [1]byte // "0", written to disarm (nothing may be allocated before)
	mem     *mem
	devnull int
	dir     string
	pidsCg  string
	seq     int
	res     *faultResult
}

func helperFaults(raw json.RawMessage) (any, error) {
	var arg faultArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	// fail-nth is the thread's: every armed call must be made from the
	// thread that opened it, which this one stays.
	runtime.LockOSThread()
	if err := pidfd.Probe(); err != nil {
		return nil, fmt.Errorf("probing empty pidfds: %w", err)
	}
	if err := embryo.JoinPidsCgroup(arg.PidsCg, 4); err != nil {
		return nil, err
	}
	f := &faulter{pidsCg: arg.PidsCg, res: &faultResult{}, zero: [1]byte{'0'}}
	var err error
	if f.failFD, err = unix.Open(failNthPath, unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open %s: %w", failNthPath, err)
	}
	if f.devnull, err = unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return nil, err
	}
	if f.mem, err = newMem(64 << 10); err != nil {
		return nil, err
	}
	if f.dir, err = os.MkdirTemp("", "stress-faults-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(f.dir)
	// Nothing in the armed window may reach a fault site but the call:
	// no garbage collection (which shrinks stacks, so that a later call
	// grows them again, maybe with an mmap), a stack grown beforehand,
	// and no signal handled on the thread (armed).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	growStack(32)
	for _, c := range faultCalls {
		f.res.Calls = append(f.res.Calls, f.sweep(c, arg.Max))
	}
	// The exec pidfd_spawn_run performs, in the embryo (faults_exec_test.go).
	for _, attr := range execFaultAttrs {
		f.res.Calls = append(f.res.Calls, f.sweepExec(attr, arg.Max))
	}
	return f.res, nil
}

// growStack grows the goroutine's stack by n times 4 KiB.
//
//go:noinline
func growStack(n int) byte {
	var buf [4096]byte
	buf[n%len(buf)] = byte(n)
	if n <= 0 {
		return buf[0]
	}
	return growStack(n-1) + buf[(n*7)%len(buf)]
}

// armed makes c's call with the n-th fault site it reaches failing, and
// says whether it reached it. Signals are blocked on the thread
// meanwhile: a handler's frame written to user memory must not take the
// fault (a process-directed signal is taken by another thread).
func (f *faulter) armed(n int, c faultCall, s fstate) (uintptr, unix.Errno, bool, error) {
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old); err != nil {
		return 0, 0, false, fmt.Errorf("blocking signals: %w", err)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if err := f.arm(n); err != nil {
		return 0, 0, false, fmt.Errorf("arming %s: %w", failNthPath, err)
	}
	ret, e := c.call(s)
	injected, err := f.disarm()
	return ret, e, injected, err
}

// arm makes the n-th fault site this thread reaches fail. Nothing here
// allocates: the next system call of the thread is the call under test.
func (f *faulter) arm(n int) error {
	b := strconv.AppendInt(f.numBuf[:0], int64(n), 10)
	_, err := unix.Pwrite(f.failFD, b, 0)
	return err
}

// disarm reports whether the armed fault was consumed (fail-nth reads 0)
// and sets fail-nth back to 0. A read that fails with EFAULT had one site
// left, consumed by its own copy to user: the call did not consume it.
func (f *faulter) disarm() (bool, error) {
	n, rerr := unix.Pread(f.failFD, f.readBuf[:], 0)
	left := -1
	if rerr == nil {
		left, rerr = strconv.Atoi(strings.TrimSpace(string(f.readBuf[:n])))
	}
	for i := 0; i < 3; i++ {
		// A write that is itself the last site fails with EFAULT,
		// and fail-nth is 0 then too.
		if _, err := unix.Pwrite(f.failFD, f.zero[:], 0); err == nil || err == unix.EFAULT {
			break
		}
	}
	if n, err := unix.Pread(f.failFD, f.readBuf[:], 0); err != nil || strings.TrimSpace(string(f.readBuf[:n])) != "0" {
		return false, fmt.Errorf("%s is not 0 after disarming (%q, %v)", failNthPath, f.readBuf[:max(n, 0)], err)
	}
	switch {
	case rerr == unix.EFAULT:
		return false, nil
	case rerr != nil:
		return false, fmt.Errorf("reading %s: %w", failNthPath, rerr)
	}
	return left == 0, nil
}

// fstate is what a call's setup made.
type fstate struct {
	fd   int // the embryo, -1 if none
	arg  uintptr
	size int
}

// faultCall is one call swept: setup (not armed), the call (armed: one
// raw system call on arguments built by setup), and check, which looks at
// what the call left and tears it down.
type faultCall struct {
	name  string
	setup func(f *faulter) (fstate, error)
	call  func(s fstate) (uintptr, unix.Errno)
	check func(f *faulter, s fstate, ret uintptr, e unix.Errno) error
	// also: errnos the same system call gives under that fault, beyond
	// cleanFault (a file system's own answer to a failed allocation).
	also errset
}

// withFSErrs adds to c the errnos that openat2() itself gives when the
// file system fails an allocation: tmpfs answers a failed inode allocation
// of O_CREAT with ENOSPC, and PIDFD_FD_OPEN opens as openat2() does.
func withFSErrs(c faultCall, es ...unix.Errno) faultCall {
	c.also = errs(es...)
	return c
}

func (f *faulter) sweep(c faultCall, maxN int) faultCallResult {
	r := faultCallResult{Call: c.name, Errnos: map[string]int{}}
	failed := false
	fail := func(n int, format string, args ...any) {
		failed = true
		f.res.Failures = append(f.res.Failures, fmt.Sprintf("%s, fault at site %d: %s", c.name, n, fmt.Sprintf(format, args...)))
	}
	for n := 1; n <= maxN; n++ {
		r.Iterations = n
		f.mem.reset()
		base, err := openFDs()
		if err != nil {
			fail(n, "%v", err)
			return r
		}
		s, err := c.setup(f)
		if err != nil {
			fail(n, "setup (not armed): %v", err)
			return r
		}
		ret, e, injected, err := f.armed(n, c, s)
		if err != nil {
			fail(n, "%v", err)
			return r
		}
		r.Errnos[errnoName(e)]++
		if injected {
			r.Injected++
			r.Sites = n
			if e == 0 {
				r.Tolerated++
			}
		}
		f.res.Invariants++
		switch {
		case injected && e != 0 && !cleanFault.has(e) && !c.also.has(e):
			fail(n, "unclean errno %s (a failed allocation or copy may give %v)", errnoName(e), cleanFault)
		case !injected && e != 0:
			fail(n, "failed with %s without a fault", errnoName(e))
		}
		if err := c.check(f, s, ret, e); err != nil {
			fail(n, "after %s (fault consumed: %v): %v", errnoName(e), injected, err)
		}
		f.res.Invariants++
		if after, err := openFDs(); err != nil || len(after) != len(base) {
			fail(n, "%d fds before the call, %d after it and its teardown (%v): %v", len(base), len(after), err, fdDiff(base, after))
		}
		if failed {
			break
		}
		if !injected {
			r.Converged = true
			break
		}
	}
	// Nothing left once the sweep is over.
	f.res.Invariants += 2
	if kids, err := waitNoChildren(settle); err != nil || len(kids) > 0 {
		fail(r.Iterations, "children left after the sweep: %v (%v)", kids, err)
		reapAll()
	}
	if n, err := embryo.WaitCharge(f.pidsCg, 0, settle); err != nil || n != 0 {
		fail(r.Iterations, "%d tasks charged to the pids cgroup beyond the helper's threads after the sweep (%v): an embryo survived a failed call", n, err)
	}
	return r
}

func fdDiff(a, b map[int]string) string {
	var d []string
	for fd, tgt := range b {
		if _, ok := a[fd]; !ok {
			d = append(d, fmt.Sprintf("+%d->%s", fd, tgt))
		}
	}
	for fd, tgt := range a {
		if _, ok := b[fd]; !ok {
			d = append(d, fmt.Sprintf("-%d->%s", fd, tgt))
		}
	}
	slices.Sort(d)
	return strings.Join(d, " ")
}

// healthy checks an embryo after a call on it: still unstarted (no call
// but run starts one), configurable, and runnable to a clean exit. It
// closes fd.
func (f *faulter) healthy(fd int) error {
	defer unix.Close(fd)
	if e, err := pidfd.IsEmbryo(fd); err != nil || !e {
		return fmt.Errorf("the embryo is no longer unstarted (fdinfo Embryo %v, %v)", e, err)
	}
	if err := pidfd.ConfigSignals(fd, 0, 0); err != nil {
		return fmt.Errorf("SIGNALS after the call: %s", errnoName(errnoOf(err)))
	}
	return runTrue(fd)
}

// runTrue configures fd to run true-static, runs it and reaps it.
func runTrue(fd int) error {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		return fmt.Errorf("EXEC: %s", errnoName(errnoOf(err)))
	}
	if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
		return fmt.Errorf("ARGV: %s", errnoName(errnoOf(err)))
	}
	return runAndReap(fd)
}

func runAndReap(fd int) error {
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return fmt.Errorf("pidfd_spawn_run: %s", errnoName(errnoOf(err)))
	}
	ex, err := embryo.WaitExit(fd, waitTimeout)
	if err != nil {
		return err
	}
	if !ex.Exited(0) {
		return fmt.Errorf("true-static ended %v", ex)
	}
	return nil
}

// configFault sweeps pidfd_config(cmd) with the struct arg builds on a
// fresh embryo that prep (if set) has prepared.
func configFault(name string, cmd int, arg func(f *faulter) []byte, prep func(f *faulter, fd int) error) faultCall {
	return faultCall{
		name: name,
		setup: func(f *faulter) (fstate, error) {
			fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
			if err != nil {
				return fstate{}, fmt.Errorf("pidfd_open: %s", errnoName(errnoOf(err)))
			}
			if prep != nil {
				if err := prep(f, fd); err != nil {
					unix.Close(fd)
					return fstate{}, err
				}
			}
			a := arg(f)
			return fstate{fd: fd, arg: f.mem.put(a, 0), size: len(a)}, nil
		},
		call: func(s fstate) (uintptr, unix.Errno) {
			_, _, e := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(s.fd), uintptr(cmd), s.arg, uintptr(s.size), 0, 0)
			return 0, e
		},
		check: func(f *faulter, s fstate, _ uintptr, _ unix.Errno) error { return f.healthy(s.fd) },
	}
}

func dupsTo(fds ...int) func(f *faulter, fd int) error {
	return func(f *faulter, fd int) error {
		for _, d := range fds {
			if err := pidfd.ConfigFDDup(fd, f.devnull, d, 0); err != nil {
				return fmt.Errorf("DUP to %d: %s", d, errnoName(errnoOf(err)))
			}
		}
		return nil
	}
}

func fdOpenArg(f *faulter, path string, how unix.OpenHow, dst int) []byte {
	return raw(pidfd.FDArg{
		Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: uint32(dst),
		Path: uint64(f.mem.cstr(path)), How: uint64(f.mem.put(raw(how), 0)), HowSize: uint64(unix.SizeofOpenHow),
	})
}

// faultCalls are the calls swept: pidfd_open(PIDFD_EMPTY), each config
// command (each FD action), pidfd_spawn_run (whose own fault sites are
// few: the exec runs in the embryo, which sweepExec reaches).
var faultCalls = []faultCall{
	{
		name:  "pidfd_open",
		setup: func(*faulter) (fstate, error) { return fstate{fd: -1}, nil },
		call: func(fstate) (uintptr, unix.Errno) {
			fd, _, e := unix.Syscall(unix.SYS_PIDFD_OPEN, 0, pidfd.PIDFD_EMPTY, 0)
			return fd, e
		},
		check: func(f *faulter, _ fstate, ret uintptr, e unix.Errno) error {
			if e == 0 {
				return f.healthy(int(ret))
			}
			// A failed creation leaves no task charged.
			if n, err := embryo.WaitCharge(f.pidsCg, 0, settle); err != nil || n != 0 {
				return fmt.Errorf("%d tasks charged to the pids cgroup after a failed creation (%v)", n, err)
			}
			return nil
		},
	},
	configFault("config.exec", pidfd.PIDFD_CONFIG_EXEC, func(f *faulter) []byte {
		return raw(pidfd.ExecArg{Path: uint64(f.mem.cstr(childreport.TruePath)), Dirfd: unix.AT_FDCWD})
	}, nil),
	configFault("config.argv", pidfd.PIDFD_CONFIG_ARGV, func(f *faulter) []byte {
		return raw(pidfd.StringsArg{Strings: uint64(f.mem.strs("true-static", "a", "bb", "ccc"))})
	}, nil),
	configFault("config.envp", pidfd.PIDFD_CONFIG_ENVP, func(f *faulter) []byte {
		return raw(pidfd.StringsArg{Strings: uint64(f.mem.strs("A=1", "B=22", "PATH=/bin"))})
	}, nil),
	configFault("config.fd.dup", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		return raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_DUP, SrcFd: int32(f.devnull), Fd: 1})
	}, nil),
	configFault("config.fd.dup-high", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		// A table the embryo must grow (expand_files()).
		return raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_DUP, SrcFd: int32(f.devnull), Fd: 200})
	}, nil),
	configFault("config.fd.close", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		return raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_CLOSE, Fd: 5})
	}, dupsTo(5)),
	configFault("config.fd.close_range", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		return raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_CLOSE_RANGE, Fd: 3, MaxFd: ^uint32(0)})
	}, dupsTo(3, 4, 5)),
	configFault("config.fd.open", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		return fdOpenArg(f, "/dev/null", unix.OpenHow{Flags: unix.O_RDWR}, 0)
	}, nil),
	withFSErrs(configFault("config.fd.open-creat", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		f.seq++
		return fdOpenArg(f, filepath.Join(f.dir, fmt.Sprintf("f%d", f.seq)), unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: 0o600}, 2)
	}, nil), unix.ENOSPC),
	configFault("config.fd.inherit", pidfd.PIDFD_CONFIG_FD, func(f *faulter) []byte {
		return raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_INHERIT})
	}, nil),
	configFault("config.cwd", pidfd.PIDFD_CONFIG_CWD, func(f *faulter) []byte {
		return raw(pidfd.CwdArg{Path: uint64(f.mem.cstr("/tmp")), Dirfd: unix.AT_FDCWD})
	}, nil),
	configFault("config.signals", pidfd.PIDFD_CONFIG_SIGNALS, func(f *faulter) []byte {
		return raw(pidfd.SignalsArg{Blocked: 1<<(unix.SIGUSR1-1) | 1<<(unix.SIGTERM-1), Ignored: 1 << (unix.SIGPIPE - 1)})
	}, nil),
	configFault("config.rlimit", pidfd.PIDFD_CONFIG_RLIMIT, func(f *faulter) []byte {
		return raw(pidfd.RlimitArg{Resource: unix.RLIMIT_CORE})
	}, nil),
	configFault("config.umask", pidfd.PIDFD_CONFIG_UMASK, func(f *faulter) []byte {
		return raw(pidfd.UmaskArg{Umask: 0o27})
	}, nil),
	// The embryo makes these itself: the fault hits its allocations
	// (prepare_creds(), set_user()'s ucounts), or the caller's groups list.
	configFault("config.uids", pidfd.PIDFD_CONFIG_UIDS, func(f *faulter) []byte {
		return raw(pidfd.IDsArg{Real: 0, Effective: 0, Saved: pidfd.KeepID})
	}, nil),
	configFault("config.groups", pidfd.PIDFD_CONFIG_GROUPS, func(f *faulter) []byte {
		return raw(pidfd.GroupsArg{List: uint64(f.mem.put(raw([2]uint32{0, 0}), 0)), Count: 2})
	}, nil),
	{
		name: "pidfd_spawn_run",
		setup: func(f *faulter) (fstate, error) {
			fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
			if err != nil {
				return fstate{}, fmt.Errorf("pidfd_open: %s", errnoName(errnoOf(err)))
			}
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
				unix.Close(fd)
				return fstate{}, fmt.Errorf("EXEC: %s", errnoName(errnoOf(err)))
			}
			if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
				unix.Close(fd)
				return fstate{}, fmt.Errorf("ARGV: %s", errnoName(errnoOf(err)))
			}
			return fstate{fd: fd}, nil
		},
		call: func(s fstate) (uintptr, unix.Errno) {
			pid, _, e := unix.Syscall(pidfd.SYS_PIDFD_SPAWN_RUN, uintptr(s.fd), 0, 0)
			return pid, e
		},
		check: func(f *faulter, s fstate, _ uintptr, e unix.Errno) error {
			defer unix.Close(s.fd)
			if e == 0 {
				ex, err := embryo.WaitExit(s.fd, waitTimeout)
				if err != nil {
					return err
				}
				if !ex.Exited(0) {
					return fmt.Errorf("true-static ended %v", ex)
				}
				return nil
			}
			// A failed run leaves the embryo unstarted, to run again.
			if em, err := pidfd.IsEmbryo(s.fd); err != nil || !em {
				return fmt.Errorf("the embryo is no longer unstarted after a failed run (Embryo %v, %v)", em, err)
			}
			return runAndReap(s.fd)
		},
	},
}

// markKmsg writes line to the kernel log at KERN_WARNING, which reaches
// the console.
func markKmsg(t *testing.T, line string) {
	t.Helper()
	if err := cgroup2.WriteCtl("/dev/kmsg", "<4>"+line+"\n"); err != nil {
		t.Fatalf("writing %q to /dev/kmsg: %v", line, err)
	}
}
