package vmtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/runner"
	"github.com/emptypidfd/emptypidfd/internal/skips"
	"github.com/emptypidfd/emptypidfd/internal/vmrun"
)

// Set by 'make bench' only.
const (
	envBenchOut     = "EMPTYPIDFD_BENCH_OUT"     // host directory for results.jsonl and meta.json
	envBenchFlavor  = "EMPTYPIDFD_BENCH_FLAVOR"  // kernel flavour, for the record
	envBenchCommand = "EMPTYPIDFD_BENCH_COMMAND" // the make command line, for the record
	// EMPTYPIDFD_BENCH_<key> for each runner.SweepKeys key overrides
	// that setting of runner.DefaultSweep.
	envBenchPrefix = "EMPTYPIDFD_BENCH_"
)

// The whole sweep runs in one guest test binary.
const (
	benchTestTimeout = 170 * time.Minute
	benchVMTimeout   = 180 * time.Minute
)

const sweepPackage = "github.com/emptypidfd/emptypidfd/bench/sweep"

// benchPrograms builds the benchmark programs for the guest and returns the
// initramfs entry that puts them at runner.GuestDir.
func benchPrograms(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bench")
	if err := runner.Build(dir); err != nil {
		t.Fatal(err)
	}
	return dir + ":" + strings.TrimPrefix(runner.GuestDir, "/")
}

// benchSweep is the default sweep with the overrides 'make bench' passed.
func benchSweep(t *testing.T) runner.Sweep {
	t.Helper()
	conf := map[string]string{}
	for _, k := range runner.SweepKeys {
		if v := os.Getenv(envBenchPrefix + k); v != "" && k != "OUT" {
			conf[k] = v
		}
	}
	s, err := runner.ParseSweep(conf)
	if err != nil {
		t.Fatalf("%v (from the %s* variables)", err, envBenchPrefix)
	}
	if conf["THREADS"] == "" {
		s.Threads = defaultThreads(runtime.NumCPU())
	}
	s.Out = vmrun.GuestOutDir
	return s
}

// defaultThreads are the thread counts of a host with nproc cores: powers
// of two up to the cores (at most 4), so that no cell oversubscribes the
// host behind the VM.
func defaultThreads(nproc int) []int {
	threads := []int{1}
	for n := 2; n <= min(nproc, 4); n *= 2 {
		threads = append(threads, n)
	}
	return threads
}

// TestBench is the spawn benchmark: it boots the kernel with the QEMU of
// 'make bench' (memory for the 4 GiB caller, a vCPU per host core up to 4), runs bench/sweep in the guest, and writes
// the guest's results.jsonl, with the host's core count added, and
// meta.json to $EMPTYPIDFD_BENCH_OUT. bench/cmd/benchreport makes the
// tables and chart from them. With -icount in the QEMU command ('make
// bench BENCH_ICOUNT=1') the run is a counted one: the meta data and
// every cell say so (results.ModeCounted), and the latencies are
// instruction counts.
func TestBench(t *testing.T) {
	out := os.Getenv(envBenchOut)
	if out == "" {
		allowSkip(t, "vmtest/TestBench", fmt.Sprintf("the spawn benchmark runs only under 'make bench' (%s is not set)", envBenchOut))
	}
	kbuild := mustEnv(t, envKbuild)
	sweep := benchSweep(t)
	// Before the boot: a QEMU command the report would misread fails now.
	meta := hostMeta(t)
	if meta.Mode == results.ModeCounted {
		t.Logf("counted mode: QEMU -icount %s: guest time advances 1 ns per instruction of any vCPU, "+
			"so latencies are instruction counts; the vCPUs run in turn on one host thread", meta.ICount)
	}
	t.Logf("sweep: methods %v, sizes %v MiB, threads %v, %d passes of %d rounds of ~%d ms, seed %d",
		sweep.Methods, sweep.SizesMiB, sweep.Threads, sweep.Passes, sweep.Reps, sweep.TargetMS, sweep.Seed)
	conf := filepath.Join(t.TempDir(), "bench.conf")
	if err := os.WriteFile(conf, []byte(sweep.Encode()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// A failed run must not leave older results looking current.
	for _, name := range []string{"results.jsonl", "phases.jsonl", "meta.json", "table.md", "latency.svg"} {
		if err := os.Remove(filepath.Join(out, name)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}

	expect, _ := expectations(t, kbuild)
	guestOut := t.TempDir()
	vmrun.Run(t, vmrun.Config{
		Name:     "bench",
		Packages: []string{sweepPackage},
		Files: []string{
			benchPrograms(t),
			conf + ":etc/emptypidfd/bench.conf",
			expect + ":etc/emptypidfd/expect",
		},
		TestTimeout: benchTestTimeout,
		VMTimeout:   benchVMTimeout,
		LogDir:      mustEnv(t, envLogDir),
		OutDir:      guestOut,
		Echo:        []string{"bench: "},
		Skips:       benchBudget(t),
	})

	cells, err := results.ReadCells(filepath.Join(guestOut, "results.jsonl"))
	if err != nil {
		t.Fatalf("the guest wrote no results: %v", err)
	}
	meta.Date = time.Now().UTC().Format(time.RFC3339) // when the VM stopped
	meta.Seed, meta.Passes, meta.Rounds = int64(sweep.Seed), sweep.Passes, sweep.Reps
	meta.Schedule, meta.Block = sweep.Schedule, sweep.Block
	for i := range cells {
		cells[i].HostNproc, cells[i].HostCPU, cells[i].Accel = meta.HostNproc, meta.HostCPU, meta.Accel
		cells[i].Mode = meta.Mode
		meta.Kernel, meta.VCPUs = cells[i].Kernel, cells[i].VCPUs
	}
	writeBenchOut(t, out, cells, meta)
	if sweep.Phases > 0 {
		b, err := os.ReadFile(filepath.Join(guestOut, "phases.jsonl"))
		if err != nil {
			t.Fatalf("the guest wrote no per-phase breakdown: %v", err)
		}
		if err := os.WriteFile(filepath.Join(out, "phases.jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if want := len(sweep.Methods) * len(sweep.SizesMiB) * len(sweep.Threads); len(cells) != want {
		t.Errorf("%d result cells, want %d (methods x sizes x thread counts): the sweep did not finish", len(cells), want)
	}
	if meta.VCPUs > meta.HostNproc {
		t.Logf("note: the guest had %d vCPUs on %d host cores: the emulator shares the host, and multi-thread rows measure that too", meta.VCPUs, meta.HostNproc)
	}
	if top := slices.Max(sweep.Threads); top > meta.HostNproc {
		t.Logf("note: %d threads spawn at once on %d host cores", top, meta.HostNproc)
	}
	t.Logf("results in %s:\n%s\n%s", out, report.RunInfo(meta, cells), report.Table(cells))
}

// benchBudget is the skip budget of the benchmark boot: empty, since the
// sweep must run there (allowed-skips.txt lets it skip everywhere else),
// and a stale entry for it would fail the run.
func benchBudget(t *testing.T) *skips.Budget {
	t.Helper()
	list, err := skips.Parse(strings.NewReader(""), "the benchmark boot (no guest test may skip)")
	if err != nil {
		t.Fatal(err)
	}
	return &skips.Budget{List: list}
}

// hostMeta records what the host side knows about the run.
func hostMeta(t *testing.T) results.Meta {
	t.Helper()
	// vmtest runs VMTEST_QEMU's fields, then VMTEST_QEMU_APPEND's.
	q := strings.TrimSpace(os.Getenv("VMTEST_QEMU") + " " + os.Getenv("VMTEST_QEMU_APPEND"))
	vm, err := results.ParseQEMU(q)
	if err != nil {
		t.Fatal(err)
	}
	return results.Meta{
		Date:      time.Now().UTC().Format(time.RFC3339),
		Command:   os.Getenv(envBenchCommand),
		HostCPU:   hostCPU(),
		HostNproc: runtime.NumCPU(), // as nproc: the CPUs this process may run on
		QEMU:      q,
		Accel:     vm.Accel,
		Flavor:    os.Getenv(envBenchFlavor),
		Mode:      vm.Mode,
		ICount:    vm.ICount,
	}
}

// hostCPU returns the first "model name" of /proc/cpuinfo.
func hostCPU() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func writeBenchOut(t *testing.T, out string, cells []results.Cell, meta results.Meta) {
	t.Helper()
	f, err := os.Create(filepath.Join(out, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := results.WriteCells(f, cells); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "meta.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
