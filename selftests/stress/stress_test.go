// Package stress is the randomized stress and fault-injection suite of
// empty pidfds (issue 18): many processes and threads making random
// sequences of every operation on embryos, with valid and invalid
// arguments, each answer checked against the errnos DESIGN.md section 3
// allows in the embryo's state (TestStress); every allocation and user
// copy of each call failed in turn with the kernel's fault injection,
// each failure checked to be clean and to leave nothing behind
// (TestFaultInjection); and long create/close and create/run/wait loops
// that must leave memory, pids and fds where they were (TestSoak).
//
// Everything random comes from one seed: a failure prints it and the
// command that replays the run. The knobs are flags of the test binary
// or, since the guest's test runner passes none, environment variables
// (which the kernel command line sets: VMTEST_KERNEL_APPEND):
//
//	-stress.seed      STRESS_SEED      TestStress's seed ("clock": the clock; default: smokeSeed)
//	-stress.duration  STRESS_DURATION  how long TestStress runs (default 40s)
//	-stress.workers   STRESS_WORKERS   worker processes (default 2)
//	-stress.threads   STRESS_THREADS   threads per worker (default 3)
//	-stress.soak      STRESS_SOAK_N    TestSoak's cycles of each kind (default 300)
//	-stress.faultmax  STRESS_FAULT_MAX the highest fault site tried per call (default 2000)
//
// The results are logged as parseable lines (counters_test.go):
// "stress-figures: test=T key=value ...", "stress-calls: test=T op=OP
// calls=N RESULT=N ...", "stress-errnos: ...", "stress-faults: ...",
// "stress-note: ...".
//
// The files, by concern:
//
//	stress_test.go      the knobs, TestStress and its rounds, the replay line
//	engine_test.go      the worker: threads, the op loop, the model of each embryo, the op log
//	ops_test.go         the ops and their weights: create, run, close, dup, wait, poll, signal, getfd, races
//	config_test.go      pidfd_config: every command, valid and invalid, bad sizes and addresses
//	scenarios_test.go   ops in raw fork children: the creator's fork and exit, privilege drops, pid namespaces, cgroups
//	forkchild_test.go   raw fork children: a nosplit list of system calls and its results
//	peer_test.go        the peer process: SCM_RIGHTS and pidfd_getfd
//	contract_test.go    errno sets and the rules by state (DESIGN.md section 3)
//	invariants_test.go  after each round: children, pids, embryo fds, fds, slab counts, the kernel log
//	cgroup_test.go      pids cgroups and cgroup v2 kill and freeze
//	faults_test.go      TestFaultInjection: fail-nth over each call
//	soak_test.go        TestSoak
//	counters_test.go    counters and the parseable log lines
//	mem_test.go         argument memory outside the Go heap, with a guard page
//	units_test.go       tests of the machinery itself, which run anywhere
//	helpers_test.go     TestMain, the helper processes by name, and what several files use
package stress

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// The knobs.

var (
	flagSeed     = flag.Uint64("stress.seed", 0, "TestStress's seed (0: $STRESS_SEED, which may be \"clock\", else a fixed one)")
	flagDuration = flag.Duration("stress.duration", 0, "how long TestStress runs (0: $STRESS_DURATION, else 40s)")
	flagWorkers  = flag.Int("stress.workers", 0, "TestStress's worker processes (0: $STRESS_WORKERS, else 2)")
	flagThreads  = flag.Int("stress.threads", 0, "threads per worker (0: $STRESS_THREADS, else 3)")
	flagSoakN    = flag.Int("stress.soak", 0, "TestSoak's cycles of each kind (0: $STRESS_SOAK_N, else 300)")
	flagFaultMax = flag.Int("stress.faultmax", 0, "the highest fault site TestFaultInjection tries per call (0: $STRESS_FAULT_MAX, else 2000)")
)

type knobs struct {
	Seed     uint64
	SeedFrom string // "flag", "STRESS_SEED" or "clock"
	Duration time.Duration
	Workers  int
	Threads  int
	SoakN    int
	FaultMax int
}

// smokeSeed is TestStress's seed when none is given.
const smokeSeed = 20261204

var defaultKnobs = knobs{Duration: 40 * time.Second, Workers: 2, Threads: 3, SoakN: 300, FaultMax: 2000}

// loadKnobs reads the flags, then the environment (getenv), then the
// defaults.
func loadKnobs(getenv func(string) string) (knobs, error) {
	k := defaultKnobs
	var err error
	u := func(flagVal uint64, env string, dst *uint64) {
		switch {
		case err != nil:
		case flagVal != 0:
			*dst = flagVal
		case getenv(env) != "":
			*dst, err = strconv.ParseUint(getenv(env), 0, 64)
			if err != nil {
				err = fmt.Errorf("%s=%q: %w", env, getenv(env), err)
			}
		}
	}
	i := func(flagVal int, env string, dst *int) {
		var v uint64
		u(uint64(max(flagVal, 0)), env, &v)
		if v > 0 {
			*dst = int(v)
		}
	}
	if getenv("STRESS_SEED") != "clock" {
		u(*flagSeed, "STRESS_SEED", &k.Seed)
	}
	switch {
	case *flagSeed != 0:
		k.SeedFrom = "flag"
	case getenv("STRESS_SEED") == "clock":
		k.Seed, k.SeedFrom = uint64(time.Now().UnixNano()), "clock"
	case k.Seed != 0:
		k.SeedFrom = "STRESS_SEED"
	default:
		// The smoke in 'make test' walks the same sequences every
		// time, so that CI's result is the code's, not the draw's.
		k.Seed, k.SeedFrom = smokeSeed, "the smoke's fixed seed"
	}
	switch {
	case *flagDuration != 0:
		k.Duration = *flagDuration
	case getenv("STRESS_DURATION") != "" && err == nil:
		k.Duration, err = time.ParseDuration(getenv("STRESS_DURATION"))
		if err != nil {
			err = fmt.Errorf("STRESS_DURATION=%q: %w", getenv("STRESS_DURATION"), err)
		}
	}
	i(*flagWorkers, "STRESS_WORKERS", &k.Workers)
	i(*flagThreads, "STRESS_THREADS", &k.Threads)
	i(*flagSoakN, "STRESS_SOAK_N", &k.SoakN)
	i(*flagFaultMax, "STRESS_FAULT_MAX", &k.FaultMax)
	return k, err
}

func mustKnobs(t *testing.T) knobs {
	t.Helper()
	k, err := loadKnobs(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// env is the knobs as environment variables: those that differ from the
// defaults, and the seed.
func (k knobs) env() string {
	kv := []string{fmt.Sprintf("STRESS_SEED=%d", k.Seed)}
	d := defaultKnobs
	if k.Duration != d.Duration {
		kv = append(kv, "STRESS_DURATION="+k.Duration.String())
	}
	for _, x := range []struct {
		name      string
		got, dflt int
	}{
		{"STRESS_WORKERS", k.Workers, d.Workers},
		{"STRESS_THREADS", k.Threads, d.Threads},
		{"STRESS_SOAK_N", k.SoakN, d.SoakN},
		{"STRESS_FAULT_MAX", k.FaultMax, d.FaultMax},
	} {
		if x.got != x.dflt {
			kv = append(kv, fmt.Sprintf("%s=%d", x.name, x.got))
		}
	}
	return strings.Join(kv, " ")
}

// replay is the command that runs test again with these knobs: in the
// VM (the kernel command line passes the variables to the guest's init,
// and so to the test), or by hand in a guest.
func (k knobs) replay(test string) string {
	return fmt.Sprintf("make vmtest GUEST=stress RUN='^%s$' VMTEST_KERNEL_APPEND='console=ttyS0 %s'  "+
		"(in a guest: %s ./stress.test -test.v -test.run '^%s$')", test, k.env(), k.env(), test)
}

// TestStress runs rounds of the random-operation engine until the
// duration is spent: in each, workers (helper processes, engine_test.go),
// each with its peer (peer_test.go), run their threads for about
// roundLen, check their own invariants and exit; then the test checks
// the global ones (invariants_test.go). Any unclean errno or broken
// invariant fails the test with the seed, the thread's last ops and the
// replay command.
func TestStress(t *testing.T) {
	embryo.Require(t)
	k := mustKnobs(t)
	replay := k.replay("TestStress")
	t.Logf("stress: seed %d (from %s), %v, %d workers of %d threads; replay: %s", k.Seed, k.SeedFrom, k.Duration, k.Workers, k.Threads, replay)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d; replay: %s", k.Seed, replay)
		}
	})
	env := newRoundEnv(t)
	cgs := make([]workerCgroups, k.Workers)
	for i := range cgs {
		cgs[i] = newWorkerCgroups(t)
	}
	dir := t.TempDir()
	total := newCounters()
	start := time.Now()
	deadline := start.Add(k.Duration)
	rounds, ops := 0, 0
	for rounds == 0 || time.Until(deadline) > minRound/2 {
		d := min(roundLen, max(time.Until(deadline), minRound))
		res := runRound(t, k, rounds, d, cgs, dir)
		for _, r := range res {
			total.merge(r.Counters)
			ops += r.Ops
			for _, f := range r.Failures {
				t.Errorf("seed %d: %v", k.Seed, f)
			}
		}
		var pids []string
		for _, cg := range cgs {
			pids = append(pids, cg.pids)
		}
		env.check(t, fmt.Sprintf("round %d", rounds), pids...)
		rounds++
		// A line a round: the console of a long run is never silent
		// long enough for the VM's watchdog.
		t.Logf("stress: round %d done: %d ops, %d calls, %s left", rounds, ops, total.total(), max(time.Until(deadline), 0).Round(time.Second))
		if t.Failed() {
			break
		}
	}
	total.Rounds = rounds
	total.Invariants += env.checks
	for _, l := range total.lines("TestStress") {
		t.Log(l)
	}
	for _, l := range total.summaryLines("TestStress") {
		t.Log(l)
	}
	t.Log(figures("TestStress", "seed", k.Seed, "duration_s", fmt.Sprintf("%.1f", time.Since(start).Seconds()),
		"workers", k.Workers, "threads", k.Threads, "rounds", rounds, "ops", ops, "calls", total.total(),
		"invariant_checks", total.Invariants, "failed", t.Failed(),
		"slab_base", slabString(env.slab), "slab_peak", slabString(env.peak)))
}

const (
	roundLen = 10 * time.Second
	minRound = 3 * time.Second
)

func slabString(c slabCounts) string {
	var s []string
	for _, name := range slabCaches {
		if n, ok := c[name]; ok {
			s = append(s, fmt.Sprintf("%s:%d", name, n))
		}
	}
	if len(s) == 0 {
		return "unavailable"
	}
	return strings.Join(s, ",")
}

// runRound runs one round: a peer and a worker per cgroup pair, for d.
func runRound(t *testing.T, k knobs, round int, d time.Duration, cgs []workerCgroups, dir string) []workerResult {
	t.Helper()
	type pair struct{ w, p *helper.Helper }
	pairs := make([]pair, len(cgs))
	for i, cg := range cgs {
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socketpair: %v", err)
		}
		wEnd, pEnd := os.NewFile(uintptr(sp[0]), "worker-end"), os.NewFile(uintptr(sp[1]), "peer-end")
		p := helper.New(t, "stresspeer", nil)
		p.Cmd.ExtraFiles = []*os.File{pEnd}
		w := helper.New(t, "stressworker", workerArg{
			Seed: k.Seed, Round: round, Worker: i, Threads: k.Threads, Duration: d,
			Dir:    filepath.Join(dir, fmt.Sprintf("r%d-w%d", round, i)),
			PidsCg: cg.pids, KillCg: cg.kill,
		})
		w.Cmd.ExtraFiles = []*os.File{wEnd}
		p.Start()
		w.Start()
		wEnd.Close()
		pEnd.Close()
		pairs[i] = pair{w, p}
	}
	res := make([]workerResult, len(pairs))
	for i, pr := range pairs {
		pr.w.Result(&res[i])
		var peer peerResult
		pr.p.Result(&peer)
		if res[i].Counters == nil {
			res[i].Counters = newCounters()
		}
		res[i].Counters.merge(&counters{Calls: map[string]map[string]int{"peer.requests": {"ok": peer.Requests}}})
	}
	return res
}
