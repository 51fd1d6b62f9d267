package stress

// Tests of the machinery itself: they need no VM and no empty pidfds,
// and run wherever the package's tests run.

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

func TestErrset(t *testing.T) {
	s := errs(0, unix.EBADF, unix.ETXTBSY)
	for _, e := range []unix.Errno{0, unix.EBADF, unix.ETXTBSY} {
		if !s.has(e) {
			t.Errorf("%v lacks %s", s, errnoName(e))
		}
	}
	if s.has(unix.EINVAL) || s.has(unix.Errno(300)) {
		t.Errorf("%v has EINVAL or errno 300", s)
	}
	if u := s.union(errs(unix.EINVAL)); !u.has(unix.EINVAL) || !u.has(unix.EBADF) {
		t.Errorf("union: %v", u)
	}
	if got := s.String(); got != "{ok, EBADF, ETXTBSY}" {
		t.Errorf("String = %q", got)
	}
}

func TestRules(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  errset
		want errset
	}{
		{"config closed fd", configRule(tgtClosed, stNew, unix.E2BIG, okOnly), errs(unix.EBADF)},
		{"config plain pidfd", configRule(tgtPlain, stNew, 0, okOnly), errs(unix.EINVAL)},
		{"config started: size checks first", configRule(tgtSlot, stStarted, unix.E2BIG, okOnly), errs(unix.E2BIG)},
		{"config started", configRule(tgtSlot, stStarted, 0, okOnly), errs(unix.EBUSY)},
		{"config reaped", configRule(tgtSlot, stReaped, 0, okOnly), errs(unix.EBUSY)},
		{"config unstarted", configRule(tgtSlot, stNew, 0, errs(unix.ENOENT)), errs(unix.ENOENT)},
		{"run flags before state", runRule(tgtSlot, stStarted, true, kTrue, okOnly), errs(unix.EINVAL)},
		{"run started", runRule(tgtSlot, stStarted, false, kTrue, okOnly), errs(unix.EBUSY)},
		{"run without exec", runRule(tgtSlot, stNew, false, kNone, okOnly), errs(unix.EINVAL)},
		{"run exec's errno", runRule(tgtSlot, stNew, false, kBusy, errs(unix.ETXTBSY)), errs(unix.ETXTBSY)},
		{"run not a pidfd", runRule(tgtNotPidfd, stNew, false, kNone, okOnly), errs(unix.EBADF)},
		{"signal unstarted", signalRule(stNew), errs(unix.ESRCH)},
		{"getfd unstarted", getfdRule(stNew), errs(unix.ESRCH)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// The streams are reproducible from the seed, and distinct.
func TestSeeds(t *testing.T) {
	if seedFor(1, 0, 0) != seedFor(1, 0, 0) {
		t.Fatal("seedFor is not a function")
	}
	seen := map[uint64]bool{}
	for r := 0; r < 10; r++ {
		for w := 0; w < 10; w++ {
			s := seedFor(42, r, w)
			if seen[s] {
				t.Fatalf("seedFor(42, %d, %d) repeats", r, w)
			}
			seen[s] = true
		}
	}
	plan := func() []string {
		rng := rand.New(rand.NewPCG(seedFor(7, 1, 2), 3))
		var names []string
		for i := 0; i < 200; i++ {
			names = append(names, pickOp(rng, i%30).name)
		}
		return names
	}
	a, b := plan(), plan()
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("the same seed picks different ops:\n%v\n%v", a, b)
	}
	kinds := map[string]bool{}
	for _, n := range a {
		kinds[n] = true
	}
	if len(kinds) < 15 {
		t.Errorf("200 picks cover only %d ops: %v", len(kinds), kinds)
	}
}

func TestKnobs(t *testing.T) {
	env := map[string]string{"STRESS_SEED": "1234", "STRESS_DURATION": "90s", "STRESS_WORKERS": "4", "STRESS_SOAK_N": "100000"}
	k, err := loadKnobs(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if k.Seed != 1234 || k.SeedFrom != "STRESS_SEED" || k.Duration.Seconds() != 90 || k.Workers != 4 || k.Threads != 3 || k.SoakN != 100000 {
		t.Errorf("knobs %+v", k)
	}
	if got := k.env(); got != "STRESS_SEED=1234 STRESS_DURATION=1m30s STRESS_WORKERS=4 STRESS_SOAK_N=100000" {
		t.Errorf("env() = %q", got)
	}
	if r := k.replay("TestStress"); !strings.Contains(r, "STRESS_SEED=1234") || !strings.Contains(r, "GUEST=stress") {
		t.Errorf("replay %q", r)
	}
	if _, err := loadKnobs(func(k string) string { return map[string]string{"STRESS_DURATION": "soon"}[k] }); err == nil {
		t.Error("a bad STRESS_DURATION was accepted")
	}
}

func TestKmsg(t *testing.T) {
	for _, tc := range []struct {
		line string
		bad  bool
	}{
		{"WARNING: CPU: 1 PID: 77 at kernel/pidfd_embryo.c:200 pidfd_embryo_free+0x1/0x2", true},
		{"BUG: KASAN: slab-use-after-free in pidfd_config+0x10/0x20", true},
		{"UBSAN: shift-out-of-bounds in kernel/pidfd_embryo.c:1", true},
		{"WARNING: possible circular locking dependency detected", true},
		{"Oops: general protection fault, probably for non-canonical address", true},
		{"INFO: lockdep is turned off.", true},
		{"FAULT_INJECTION: forcing a failure.", false},
		{"name failslab, interval 1, probability 0, space 0, times 1", false},
		{"vmalloc error: size 8192, vm_struct allocation failed", false},
		{"Call Trace:", false},
		{"process 'stress.test' launched '/bin/true-static' with NULL argv: empty string added", false},
	} {
		if _, bad := kmsgError(tc.line); bad != tc.bad {
			t.Errorf("kmsgError(%q) = %v, want %v", tc.line, bad, tc.bad)
		}
	}
	if n, err := parseSlabObjects("1234 N0=1234\n"); n != 1234 || err != nil {
		t.Errorf("parseSlabObjects = %d, %v", n, err)
	}
}

func TestCounters(t *testing.T) {
	a, b := newCounters(), newCounters()
	a.add("open", 0)
	a.add("open", unix.EAGAIN)
	b.add("open", 0)
	b.add("config.fd/dup", unix.EBADF)
	b.note("Landlock unavailable")
	b.Invariants = 3
	a.merge(b)
	lines := strings.Join(a.lines("T"), "\n")
	for _, want := range []string{
		"stress-calls: test=T op=config.fd/dup calls=1 EBADF=1",
		"stress-calls: test=T op=open calls=3 EAGAIN=1 ok=2",
		"stress-note: test=T count=1 text=Landlock_unavailable",
	} {
		if !strings.Contains(lines, want) {
			t.Errorf("lines lack %q:\n%s", want, lines)
		}
	}
	if s := strings.Join(a.summaryLines("T"), "\n"); !strings.Contains(s, "stress-errnos: test=T op=config.fd calls=1 EBADF=1") {
		t.Errorf("summary: %s", s)
	}
	if a.Invariants != 3 || a.total() != 4 {
		t.Errorf("invariants %d, total %d", a.Invariants, a.total())
	}
	if f := figures("T", "a", 1, "b", "x y"); f != "stress-figures: test=T a=1 b=x_y" {
		t.Errorf("figures = %q", f)
	}
}

// The child program interpreter, run in this process on harmless calls:
// substitution of an earlier result, skipping after a failed dependency.
func TestRunSteps(t *testing.T) {
	b := newProg()
	pid := b.step("getpid", okOnly, unix.SYS_GETPID)
	d := b.step("dup", okOnly, unix.SYS_FCNTL, 0, unix.F_DUPFD_CLOEXEC, 100)
	c := b.step("close-dup", okOnly, unix.SYS_CLOSE, 0)
	b.from(c, 0, d).after(c, d)
	bad := b.step("close-bad", errs(unix.EBADF), unix.SYS_CLOSE, ^uintptr(0))
	skipped := b.step("skipped", okOnly, unix.SYS_GETPID)
	b.after(skipped, bad)
	var res [maxSteps]cresult
	runSteps(&b.p, &res)
	if res[pid].state != resDone || int(res[pid].ret) != os.Getpid() {
		t.Errorf("getpid: %+v", res[pid])
	}
	if res[d].errno != 0 || res[d].ret < 100 {
		t.Errorf("dup: %+v", res[d])
	}
	if res[c].state != resDone || res[c].errno != 0 {
		t.Errorf("close of the dup (its fd substituted): %+v", res[c])
	}
	if unix.Errno(res[bad].errno) != unix.EBADF {
		t.Errorf("close(-1): %+v", res[bad])
	}
	if res[skipped].state != resSkipped {
		t.Errorf("a step after a failed one ran: %+v", res[skipped])
	}
	if !strings.Contains(b.dump(forkResult{res: res}), "skipped") {
		t.Errorf("dump:\n%s", b.dump(forkResult{res: res}))
	}
}

// A repeated step makes its call until one fails, at most n times.
func TestRunStepsRepeat(t *testing.T) {
	b := newProg()
	// F_DUPFD with a minimum: each call returns the next free fd from
	// 200 up, so the last fd says how many calls were made.
	d := b.step("dup-x3", okOnly, unix.SYS_FCNTL, 0, unix.F_DUPFD_CLOEXEC, 200)
	b.repeat(d, 3)
	bad := b.step("close-bad", errs(unix.EBADF), unix.SYS_CLOSE, ^uintptr(0))
	b.repeat(bad, 5)
	var res [maxSteps]cresult
	runSteps(&b.p, &res)
	for fd := 200; fd <= int(res[d].ret); fd++ {
		unix.Close(fd)
	}
	if res[d].errno != 0 || res[d].ret != 202 {
		t.Errorf("3 dups from 200: last returned %d (%s), want 202", res[d].ret, errnoName(unix.Errno(res[d].errno)))
	}
	if unix.Errno(res[bad].errno) != unix.EBADF || res[bad].state != resDone {
		t.Errorf("a failing repeated step: %+v, want EBADF after its first call", res[bad])
	}
}

// mem's guard page faults for the kernel too.
func TestMemGuard(t *testing.T) {
	m, err := newMem(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer m.free()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	if _, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(p[1]), m.bad(), 1); e != unix.EFAULT {
		t.Errorf("write from the guard page: %v, want EFAULT", e)
	}
	tail := m.putTail([]byte("abcd"))
	if tail+4 != m.bad() {
		t.Errorf("putTail ends at %#x, the guard page is at %#x", tail+4, m.bad())
	}
	if _, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(p[1]), tail, 8); e != unix.EFAULT {
		t.Errorf("write across the guard page: %v, want EFAULT", e)
	}
	m.setMark()
	a := m.alloc(10)
	m.reset()
	if b := m.alloc(10); addr(a) != addr(b) {
		t.Error("reset does not free what was allocated after the mark")
	}
}

// A raw fork child runs its program and reports each step; one killed
// while it waits ends with SIGKILL and its later steps not reached.
func TestForkRun(t *testing.T) {
	w := &worker{res: workerResult{Counters: newCounters()}}
	th := &thread{w: w, ctr: newCounters()}
	var err error
	if th.mem, err = newMem(64 << 10); err != nil {
		t.Fatal(err)
	}
	defer th.mem.free()
	if th.shared, err = sharedPage(); err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(th.shared)

	b := newProg()
	b.blockSignals(th.mem)
	pid := b.step("getpid", okOnly, unix.SYS_GETPID)
	b.step("close-bad", errs(unix.EBADF), unix.SYS_CLOSE, ^uintptr(0))
	fr, err := th.forkRun(b, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !th.checkProg("test", b, fr, exited0) {
		t.Fatalf("checkProg failed: %v", w.res.Failures)
	}
	if got := int(fr.res[pid].ret); got == os.Getpid() || got != fr.exit.Pid {
		t.Errorf("the child's getpid %d, waitid's pid %d, ours %d", got, fr.exit.Pid, os.Getpid())
	}

	var p, ready [2]int
	for _, pp := range []*[2]int{&p, &ready} {
		if err := unix.Pipe2(pp[:], unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pp[0])
		defer unix.Close(pp[1])
	}
	b = newProg()
	b.blockSignals(th.mem)
	// Killed once it says ready: maybe before it records the write.
	rdy := b.step("ready", okOnly, unix.SYS_WRITE, uintptr(ready[1]), th.mem.cstr("r"), 1)
	rd := b.step("read", okOnly, unix.SYS_READ, uintptr(p[0]), addr(th.mem.alloc(8)), 1)
	b.mayNotRun[rdy], b.mayNotRun[rd] = true, true
	fr, err = th.forkRun(b, 0, func(pid int) error {
		if _, err := unix.Read(ready[0], make([]byte, 1)); err != nil {
			return err
		}
		return unix.Kill(pid, unix.SIGKILL)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !th.checkProg("test-kill", b, fr, func(e pidfd.Exit) bool { return e.Signaled(unix.SIGKILL) }) {
		t.Fatalf("checkProg failed: %v", w.res.Failures)
	}
	if st := fr.res[rd].state; st != resNotReached && st != resInProgress {
		t.Errorf("the read of a killed child: %+v", fr.res[rd])
	}
}
