// Package resultstest makes fake benchmark results that follow the
// results.jsonl contract, for tests of what reads them: no VM run needed.
package resultstest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Run describes a fake run. Latencies are log-normal around a median that
// depends on the method, the caller size and the thread count; every
// round has its own drift, shared by all methods (as if the machine got
// faster or slower for a while), which the paired bootstrap must see
// through.
type Run struct {
	Seed    uint64
	Sizes   []int   // caller sizes, MiB
	Threads []int   // thread counts
	Rounds  int     // rounds per cell
	Spawns  int     // timed spawns per thread and round
	Drift   float64 // rounds' drift, ± this fraction
	// Factor multiplies a method's median (by ID) on top of the built-in
	// profile, e.g. to make two runs disagree.
	Factor   map[string]float64
	NoEmbryo bool // embryo methods unavailable, as on a kernel without the series
	HostN    int  // host cores; default 2
	VCPUs    int  // default 2
	// Counted makes a counted run (QEMU -icount): latencies vary by
	// 1% around the median instead of 35%, and the cells and meta data
	// say results.ModeCounted.
	Counted bool
}

// Profile is the median latency in µs of each bare method family with a
// small caller and one thread; fork adds 100 µs per MiB of caller, the
// realistic and attributes variants 15%.
var Profile = map[string]float64{
	"fork": 3000, "vfork": 1500, "posix_spawn": 1800, "clone3": 1700,
	"osexec": 2400, "spawn_go": 2350, "embryo_c": 1400, "embryo_go": 2300,
}

// NoEmbryo is the reason of an unavailable embryo cell.
const NoEmbryo = "pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: the kernel has no empty pidfds"

// Cells returns the cells of the run, as results.Summarize makes them
// from raw lines, for every method in results.Methods.
func (r Run) Cells() []results.Cell {
	rng := rand.New(rand.NewPCG(r.Seed, 1))
	hostN, vcpus := r.HostN, r.VCPUs
	if hostN == 0 {
		hostN = 2
	}
	if vcpus == 0 {
		vcpus = 2
	}
	spread, mode := 0.35, ""
	if r.Counted {
		spread, mode = 0.01, results.ModeCounted
	}
	var cells []results.Cell
	for _, size := range r.Sizes {
		for _, threads := range r.Threads {
			drift := make([]float64, r.Rounds)
			for i := range drift {
				drift[i] = 1 + r.Drift*(2*rng.Float64()-1)
			}
			for _, m := range results.Methods {
				if r.NoEmbryo && m.Embryo() {
					cells = append(cells, results.Unavailable(m.ID, size, threads, NoEmbryo))
					continue
				}
				median := Profile[m.Family] * math.Sqrt(float64(threads))
				if m.Family == "fork" {
					median += 100 * float64(size)
				}
				if m.Variant != results.VariantBare {
					median *= 1.15
				}
				if f, ok := r.Factor[m.ID]; ok {
					median *= f
				}
				var raws []results.Raw
				for round := range r.Rounds {
					// Thread t's spawns are lat[t*Spawns:(t+1)*Spawns];
					// the round lasts as long as the slowest thread.
					lat := make([]int64, threads*r.Spawns)
					var wall, busy int64
					for i := range lat {
						lat[i] = max(1, int64(1000*median*drift[round]*math.Exp(spread*rng.NormFloat64())))
						busy += lat[i]
						if (i+1)%r.Spawns == 0 {
							wall, busy = max(wall, busy), 0
						}
					}
					raws = append(raws, results.Raw{
						Method: m.Flag, Available: true, RSSMiB: size, CallerRSSKiB: int64(size)*1024 + 1500,
						Threads: threads, Rep: round, Warmup: 3, Iterations: r.Spawns,
						WallNS: wall, LatNS: lat,
					})
				}
				c, err := results.Summarize(m.ID, raws)
				if err != nil {
					panic(fmt.Sprintf("resultstest: %v", err))
				}
				c.Kernel, c.VCPUs, c.HostNproc, c.HostCPU, c.Accel = "6.12.117-emptypidfd", vcpus, hostN, "AMD EPYC", "tcg"
				c.Mode = mode
				cells = append(cells, c)
			}
		}
	}
	return cells
}

// Meta returns the meta data of the run.
func (r Run) Meta() results.Meta {
	m := results.Meta{
		Date: "2026-11-30T10:00:00Z", Command: "make bench", HostCPU: "AMD EPYC", HostNproc: max(r.HostN, 2),
		QEMU: "qemu-system-x86_64 -m 8G -smp 2 -cpu max", Accel: "tcg", Flavor: "plain",
		Kernel: "6.12.117-emptypidfd", VCPUs: max(r.VCPUs, 2), Seed: int64(r.Seed), Passes: 2, Rounds: r.Rounds / 2,
	}
	if r.Counted {
		m.Command += " BENCH_ICOUNT=1"
		m.QEMU += " -icount " + results.ICountOptions
		m.Mode, m.ICount = results.ModeCounted, results.ICountOptions
	}
	return m
}

// Phases returns a per-phase breakdown of vfork+execve and the embryo from
// C, as the guest's phase program would write it.
func Phases() []results.Phase {
	return []results.Phase{
		{Method: "embryo_c", Step: 0, From: "start", To: "pidfd_open returns", Syscalls: "pidfd_open", N: 500, MedianUS: 40, P25US: 35, P75US: 50},
		{Method: "embryo_c", Step: 1, From: "pidfd_open returns", To: "configured", Syscalls: "pidfd_config ×2", N: 500, MedianUS: 30, P25US: 25, P75US: 36},
		{Method: "embryo_c", Step: 2, From: "configured", To: "exec done", Syscalls: "pidfd_spawn_run", N: 500, MedianUS: 700, P25US: 640, P75US: 800},
		{Method: "embryo_c", Step: 3, From: "exec done", To: "child exits", N: 500, MedianUS: 200, P25US: 180, P75US: 230},
		{Method: "embryo_c", Step: 4, From: "child exits", To: "reaped", Syscalls: "waitid", N: 500, MedianUS: 60, P25US: 50, P75US: 75},
		{Method: "vfork", Step: 0, From: "start", To: "exec done", Syscalls: "vfork, execve", N: 500, MedianUS: 650, P25US: 600, P75US: 720},
		{Method: "vfork", Step: 1, From: "exec done", To: "child exits", N: 500, MedianUS: 210, P25US: 185, P75US: 240},
		{Method: "vfork", Step: 2, From: "child exits", To: "reaped", Syscalls: "wait4", N: 500, MedianUS: 55, P25US: 48, P75US: 70},
	}
}
