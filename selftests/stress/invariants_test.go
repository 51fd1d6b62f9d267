package stress

// Invariants: what must hold once a round's work is undone. In each
// worker (checkLocal): no child left (no zombie), no embryo charged to its
// pids cgroup, no fd whose fdinfo says "Embryo", the same fds as before.
// In the test (roundEnv.check), after the workers have exited: their pids
// cgroups empty, the kernel's pid, task_struct and filp slab counts back
// near where they were, and no kernel error report in the log
// (/dev/kmsg, matched as internal/consolelog matches the console, plus
// DESIGN's list: BUG:, WARNING:, KASAN, UBSAN, lockdep, possible
// circular, Oops, general protection).

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/kmsg"
)

// settle bounds the waits for the kernel to finish releasing (RCU, the
// reaping of destroyed embryos, TCG).
const settle = 15 * time.Second

// Worker-local invariants.

type localBase struct {
	fds map[int]string
}

func (w *worker) baseline() (localBase, error) {
	fds, err := openFDs()
	if err != nil {
		return localBase{}, err
	}
	if n, err := embryo.Charge(w.arg.PidsCg); err != nil || n != 0 {
		return localBase{}, fmt.Errorf("embryo charge before the round: %d, %v", n, err)
	}
	return localBase{fds: fds}, nil
}

// checkLocal checks the worker's invariants after its threads are done.
func (w *worker) checkLocal(base localBase) {
	fail := func(op, format string, args ...any) {
		w.record(failure{Where: fmt.Sprintf("round %d worker %d end", w.arg.Round, w.arg.Worker), Op: op, What: fmt.Sprintf(format, args...)})
	}
	c := w.res.Counters
	// Children: every started child was reaped by its thread.
	c.Invariants++
	kids, err := waitNoChildren(settle)
	if err != nil || len(kids) > 0 {
		fail("invariant.children", "children left (zombies included): %v (%v)", kids, err)
		reapAll()
	}
	// The pids cgroup: what is left beyond the worker's threads is an
	// embryo (or a child) that outlived its last fd or its creator.
	c.Invariants++
	if n, err := embryo.WaitCharge(w.arg.PidsCg, 0, settle); err != nil || n != 0 {
		fail("invariant.pids", "%d tasks beyond the worker's threads in %s after %v (%v): an embryo outlived its last close or its creator", n, w.arg.PidsCg, settle, err)
	}
	// No fd of an unstarted embryo.
	c.Invariants++
	fds, err := openFDs()
	if err != nil {
		fail("invariant.fds", "%v", err)
		return
	}
	for fd := range fds {
		if e, err := pidfd.IsEmbryo(fd); err == nil && e {
			fail("invariant.embryo-fd", "fd %d is still an unstarted embryo (%s)", fd, fds[fd])
		}
	}
	// The same fds as before.
	c.Invariants++
	var extra, gone []string
	for fd, tgt := range fds {
		if _, ok := base.fds[fd]; !ok {
			extra = append(extra, fmt.Sprintf("%d->%s", fd, tgt))
		}
	}
	for fd, tgt := range base.fds {
		if _, ok := fds[fd]; !ok {
			gone = append(gone, fmt.Sprintf("%d->%s", fd, tgt))
		}
	}
	if len(extra) > 0 || len(gone) > 0 {
		slices.Sort(extra)
		slices.Sort(gone)
		fail("invariant.fds", "fds differ from the round's start: new %v, gone %v", extra, gone)
	}
}

// openFDs maps this process's open fds to what they are (readlink).
func openFDs() (map[int]string, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	fds := map[int]string{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		tgt, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the directory's own fd, closed since
		}
		fds[n] = tgt
	}
	return fds, nil
}

// waitNoChildren polls /proc until this process has no child, up to
// timeout, and returns those left.
func waitNoChildren(timeout time.Duration) ([]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		kids, err := embryo.ChildrenInProc()
		if err != nil || len(kids) == 0 || time.Now().After(deadline) {
			return kids, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reapAll reaps whatever children are left (after a failure).
func reapAll() {
	for {
		if _, err := pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG); err != nil {
			return
		}
		if kids, _ := embryo.ChildrenInProc(); len(kids) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The kernel log (read with package kmsg): what counts as an error.

// kmsgBad is DESIGN's list of what must not appear during a round.
var kmsgBad = regexp.MustCompile(`BUG:|WARNING:|KASAN|UBSAN|lockdep|possible circular|Oops|general protection`)

// kmsgError says whether a kernel log line reports a kernel error: a
// report internal/consolelog fails a VM run on (but a bare stack trace,
// which is part of such a report and also of benign dumps, and an
// allocation failure report), or a line of DESIGN's list.
func kmsgError(line string) (string, bool) {
	// An allocation failure report (warn_alloc) is the kernel answering
	// a failed allocation as it should: injected by TestFaultInjection,
	// or the guest out of memory, which other checks see.
	if kind, ok := consolelog.Match(line); ok && kind != "stack-trace" && kind != "alloc-failure" {
		return kind, true
	}
	if kmsgBad.MatchString(line) {
		return "listed", true
	}
	return "", false
}

// Slab counts.

// slabCaches are the caches counted: one per task, per pid, per file.
var slabCaches = []string{"pid", "task_struct", "filp"}

// slabCounts maps a cache to its objects in use.
type slabCounts map[string]int

// readSlab reads the objects in use of slabCaches from
// /sys/kernel/slab/<cache>/objects (CONFIG_SLUB_DEBUG), after writing 1
// to its shrink file: that flushes the per-CPU caches and empties KASAN's
// quarantine of the cache, whose freed objects would count as in use.
func readSlab() (slabCounts, error) {
	c := slabCounts{}
	for _, name := range slabCaches {
		dir := filepath.Join("/sys/kernel/slab", name)
		cgroup2.WriteCtl(filepath.Join(dir, "shrink"), "1")
		b, err := os.ReadFile(filepath.Join(dir, "objects"))
		if err != nil {
			return nil, fmt.Errorf("slab counts unavailable (%v): they need CONFIG_SLUB_DEBUG", err)
		}
		n, err := parseSlabObjects(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s/objects: %w", dir, err)
		}
		c[name] = n
	}
	return c, nil
}

// parseSlabObjects parses a SLUB sysfs count ("123 N0=100 N1=23").
func parseSlabObjects(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty count %q", s)
	}
	return strconv.Atoi(f[0])
}

// slabSlack is how far above its baseline a count may end: other tasks
// of the guest come and go, and the test's own threads and files.
func slabSlack(name string, base int) int {
	abs := map[string]int{"pid": 64, "task_struct": 64, "filp": 256}[name]
	return abs + base/20
}

// waitSlab polls the counts until each is within its slack of base, up to
// timeout, and returns the last counts and whether they got there.
func waitSlab(base slabCounts, timeout time.Duration) (slabCounts, bool, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := readSlab()
		if err != nil {
			return nil, false, err
		}
		ok := true
		for name, n := range base {
			if c[name] > n+slabSlack(name, n) {
				ok = false
			}
		}
		if ok || time.Now().After(deadline) {
			return c, ok, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// roundEnv holds what the test checks after each round.
type roundEnv struct {
	kmsg    *kmsg.Reader
	probe   *thread    // the NPROC probe's memory and results page (nprocProbe)
	slab    slabCounts // nil if unavailable
	slabErr error
	checks  int
	peak    slabCounts
}

func newRoundEnv(t *testing.T) *roundEnv {
	t.Helper()
	env := &roundEnv{kmsg: kmsg.Open(t), peak: slabCounts{}}
	env.slab, env.slabErr = readSlab()
	if env.slabErr != nil {
		t.Logf("stress-note: %v: the slab invariant is not checked", env.slabErr)
	}
	env.probe = &thread{}
	var err error
	if env.probe.mem, err = newMem(64 << 10); err != nil {
		t.Fatal(err)
	}
	if env.probe.shared, err = sharedPage(); err != nil {
		t.Fatal(err)
	}
	return env
}

// nprocProbe checks that nothing is left counted against RLIMIT_NPROC for
// nobody, the user the privilege-drop scenarios create embryos as: a raw
// child sets its RLIMIT_NPROC to 2, becomes nobody (which drops its
// capabilities, so the limit holds) and creates an embryo, which counts
// against the limit like a fork. With the probe itself the only task of
// nobody, the count is 2 and the creation succeeds; a charge an embryo or
// a process did not give back makes it EAGAIN. Only meaningful when no
// other process of nobody runs: after a round, when every worker exited.
// The charge of the last probe's embryo, which dies with the probe, goes
// back as that embryo is reaped: an EAGAIN is retried for settle.
//
// Not seen: a leak of root's count (root is exempt from RLIMIT_NPROC, and
// the fault sweeps and the soak create as root); the pids cgroup charge,
// checked above, covers those tasks.
func (env *roundEnv) nprocProbe() error {
	deadline := time.Now().Add(settle)
	for {
		again, err := env.nprocProbeOnce()
		if err == nil || !again || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nprocProbeOnce is one probe; again says whether its failure was the
// EAGAIN that a charge on its way back also gives.
func (env *roundEnv) nprocProbeOnce() (again bool, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := env.probe.mem
	m.reset()
	lim := m.put(raw(unix.Rlimit{Cur: 2, Max: 2}), 0)
	b := newProg()
	b.blockSignals(m)
	l := b.step("prlimit-nproc-2", okOnly, unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NPROC, lim, 0)
	u := b.step("setresuid-nobody", okOnly, unix.SYS_SETRESUID, nobody, nobody, nobody)
	b.after(u, l)
	e := b.open("open-as-nobody", okOnly)
	b.after(e, u)
	fr, err := env.probe.forkRun(b, 0, nil)
	if err != nil {
		return false, fmt.Errorf("the RLIMIT_NPROC probe: %w", err)
	}
	for i := 0; i < int(b.p.n); i++ {
		r := fr.res[i]
		if r.state != resDone || r.errno != 0 {
			what := "did not run"
			if r.state == resDone {
				what = "failed with " + errnoName(unix.Errno(r.errno))
			}
			hint := ""
			again = i == e && unix.Errno(r.errno) == unix.EAGAIN
			if again {
				hint = ": a task of nobody is still counted against RLIMIT_NPROC (an embryo whose charge was not given back?)"
			}
			return again, fmt.Errorf("the RLIMIT_NPROC probe's step %s %s%s\n%s", b.names[i], what, hint, b.dump(fr))
		}
	}
	if !fr.exit.Exited(0) {
		return false, fmt.Errorf("the RLIMIT_NPROC probe ended %v", fr.exit)
	}
	return false, nil
}

// check checks the global invariants after a round whose helpers have all
// exited; pidsCgs are the cgroups they ran in.
func (env *roundEnv) check(t *testing.T, when string, pidsCgs ...string) {
	t.Helper()
	for _, cg := range pidsCgs {
		env.checks++
		if n, err := embryo.WaitPidsCurrent(cg, 0, settle); err != nil || n != 0 {
			t.Errorf("%s: %s/pids.current is %d %v after its processes exited (%v): an embryo outlived its creator (cgroup.procs %s)",
				when, cg, n, settle, err, cgroup2.Procs(cg))
		}
	}
	if env.slab != nil {
		env.checks++
		c, ok, err := waitSlab(env.slab, settle)
		switch {
		case err != nil:
			t.Errorf("%s: %v", when, err)
		case !ok:
			t.Errorf("%s: slab objects in use %v, baseline %v: more than the slack %v after %v: a leak?", when, c, env.slab, env.slacks(), settle)
		}
		for k, v := range c {
			env.peak[k] = max(env.peak[k], v)
		}
	}
	env.checks++
	if err := env.nprocProbe(); err != nil {
		t.Errorf("%s: %v", when, err)
	}
	env.checks++
	lines, err := env.kmsg.Read()
	if err != nil {
		t.Errorf("%s: %v", when, err)
	}
	for _, l := range lines {
		if kind, bad := kmsgError(l); bad {
			t.Errorf("%s: kernel log (%s): %s", when, kind, l)
		}
	}
}

func (env *roundEnv) slacks() map[string]int {
	m := map[string]int{}
	for k, v := range env.slab {
		m[k] = slabSlack(k, v)
	}
	return m
}
