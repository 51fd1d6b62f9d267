// Package sweep is the guest side of 'make bench': it runs every method of
// the spawn benchmark at every caller size and thread count of the sweep the
// host harness (vmtest/bench_test.go) wrote into the initramfs, and writes
// one results.Cell a line to results.jsonl in the directory the host
// collects. Progress lines start with "bench: " on the console.
//
// Its test skips anywhere but in the benchmark VM.
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/bench/phases"
	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/runner"
)

// Files the host harness puts in the initramfs.
const (
	sweepFile  = "/etc/emptypidfd/bench.conf" // runner.Sweep.Encode
	expectFile = "/etc/emptypidfd/expect"     // what the kernel's headers promise
)

func progress(format string, args ...any) {
	fmt.Printf("bench: "+format+"\n", args...)
}

func threads(n int) string {
	if n == 1 {
		return "1 thread"
	}
	return fmt.Sprintf("%d threads", n)
}

func TestSweep(t *testing.T) {
	if os.Getenv("VMTEST_IN_GUEST") != "1" {
		t.Skip("runs only inside the benchmark VM: use 'make bench'")
	}
	conf, err := runner.ReadConf(sweepFile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no %s: this boot is not a 'make bench' run", sweepFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := runner.ParseSweep(conf)
	if err != nil {
		t.Fatal(err)
	}
	if s.Out == "" {
		t.Fatalf("%s does not say where results go (OUT)", sweepFile)
	}
	expect, err := runner.ReadConf(expectFile)
	if err != nil {
		t.Fatalf("what the harness expects of the kernel: %v", err)
	}
	embryoExpected := expect["PIDFD_EMPTY"] == "present"

	path := filepath.Join(s.Out, "results.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)

	// The methods of each program, in the order of results.Methods.
	var programs []string
	byProgram := map[string][]results.Method{}
	for _, id := range s.Methods {
		m, ok := results.MethodByID(id)
		if !ok {
			t.Fatalf("unknown method %q", id)
		}
		if byProgram[m.Binary] == nil {
			programs = append(programs, m.Binary)
		}
		byProgram[m.Binary] = append(byProgram[m.Binary], m)
	}
	type run struct {
		program string
		size    int
	}
	var runs []run
	for _, p := range programs {
		for _, size := range s.SizesMiB {
			runs = append(runs, run{p, size})
		}
	}

	progress("kernel %s, %d CPUs; %d methods x sizes %v MiB x threads %v; %d passes of %d rounds of ~%d ms, seed %d",
		runner.Kernel(), runtime.NumCPU(), len(s.Methods), s.SizesMiB, s.Threads, s.Passes, s.Reps, s.TargetMS, s.Seed)
	start := time.Now()
	rng := rand.New(rand.NewPCG(s.Seed, 1))
	batches := map[int]*runner.Batch{}
	for pass := range s.Passes {
		rng.Shuffle(len(runs), func(i, j int) { runs[i], runs[j] = runs[j], runs[i] })
		for _, r := range runs {
			t0 := time.Now()
			b, err := runner.RunBatch(context.Background(), byProgram[r.program], s.Params(runner.GuestDir, r.size, rng.Uint64()>>2|1))
			if err != nil {
				progress("pass %d: %s at %s: FAILED: %v", pass+1, r.program, report.Size(r.size), err)
				t.Fatal(err)
			}
			if batches[r.size] == nil {
				batches[r.size] = &runner.Batch{}
			}
			batches[r.size].Add(b)
			progress("pass %d/%d: %s at %s done in %s (total %s)", pass+1, s.Passes, r.program, report.Size(r.size),
				time.Since(t0).Round(time.Second), time.Since(start).Round(time.Second))
		}
	}

	for _, size := range s.SizesMiB {
		for _, id := range s.Methods {
			m, _ := results.MethodByID(id)
			cells, err := batches[size].Cells(m, size, s.Threads)
			if err != nil {
				t.Fatalf("%s at %s: %v", m.Label, report.Size(size), err)
			}
			for _, c := range cells {
				if err := enc.Encode(c); err != nil {
					t.Fatalf("writing %s: %v", path, err)
				}
				if !c.Available {
					progress("%s %s %s: n/a: %s", m.Label, report.Size(size), threads(c.Threads), c.Reason)
					if m.Embryo() && embryoExpected {
						t.Errorf("%s unavailable on a kernel whose headers define PIDFD_EMPTY: %s", m.Label, c.Reason)
					}
					continue
				}
				progress("%s %s %s: median %s µs (rounds %s..%s), %s spawns/s (%d spawns)",
					m.Label, report.Size(size), threads(c.Threads), report.Num(c.MedianUS),
					report.Num(slices.Min(c.RepMedianUS)), report.Num(slices.Max(c.RepMedianUS)),
					report.Num(c.SpawnsPerSec), c.Iterations)
			}
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	if s.Phases > 0 {
		t.Run("phases", func(t *testing.T) { runPhases(t, s, embryoExpected) })
	}
	progress("sweep done in %s", time.Since(start).Round(time.Second))
}

// tracefs is where the guest's tracing directory is mounted.
const tracefs = "/sys/kernel/tracing"

// phaseEvents are the trace events the breakdown reads.
var phaseEvents = []string{"sched_process_fork", "sched_process_exec", "sched_process_exit"}

// runPhases runs spawnbench -P with the sched_process_* events traced on
// the CLOCK_MONOTONIC clock and writes the breakdown to phases.jsonl.
func runPhases(t *testing.T, s runner.Sweep, embryoExpected bool) {
	if _, err := os.Stat(filepath.Join(tracefs, "trace")); err != nil {
		if err := os.MkdirAll(tracefs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("nodev", tracefs, "tracefs", 0, ""); err != nil {
			t.Fatalf("mounting tracefs on %s: %v (the bench kernel has CONFIG_FTRACE)", tracefs, err)
		}
		defer unix.Unmount(tracefs, 0)
	}
	ctl := func(file, val string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tracefs, file), []byte(val), 0); err != nil {
			t.Fatalf("writing %q to %s: %v", val, file, err)
		}
	}
	ctl("tracing_on", "0")
	ctl("trace_clock", "mono")
	ctl("buffer_size_kb", "16384")
	for _, ev := range phaseEvents {
		ctl("events/sched/"+ev+"/enable", "1")
		defer ctl("events/sched/"+ev+"/enable", "0")
	}
	ctl("trace", "")
	ctl("tracing_on", "1")
	methods := []string{"vfork", "vfork_full", "embryo", "embryo_full"}
	cmd := exec.Command(filepath.Join(runner.GuestDir, "spawnbench"), "-P", strconv.Itoa(s.Phases),
		"-m", strings.Join(methods, ","), "-p", filepath.Join(runner.GuestDir, runner.Noop))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	ctl("tracing_on", "0")
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, stderr.String())
	}
	spawns, unavailable, err := phases.ParseSpawns(strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("output of %s: %v", cmd, err)
	}
	for m, why := range unavailable {
		progress("phases: %s n/a: %s", m, why)
		if embryoExpected {
			t.Errorf("%s unavailable on a kernel whose headers define PIDFD_EMPTY: %s", m, why)
		}
	}
	tr, err := os.Open(filepath.Join(tracefs, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	events, err := phases.ParseTrace(tr)
	if err != nil {
		t.Fatal(err)
	}
	// spawnbench's -m names: embryo is the C method.
	id := func(flag string) string {
		if strings.HasPrefix(flag, "embryo") {
			return "embryo_c" + strings.TrimPrefix(flag, "embryo")
		}
		return flag
	}
	ps, err := phases.Breakdown(spawns, events, id)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Out, "phases.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, p := range ps {
		if err := enc.Encode(p); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
		progress("phases: %s: %s → %s (%s): median %s µs (%s..%s), %d spawns", p.Method, p.From, p.To, p.Syscalls,
			report.Num(p.MedianUS), report.Num(p.P25US), report.Num(p.P75US), p.N)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}
