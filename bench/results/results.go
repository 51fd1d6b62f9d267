// Package results is the data of the spawn benchmark: the methods it
// compares, the raw lines the benchmark programs print (spawnbench.c and
// cmd/gospawn), the per-cell summary written to results.jsonl, and the
// statistics that turn one into the other.
package results

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// Method is one way of spawning a program and waiting for it, in one of two
// variants: bare (the program alone: path and argv) or realistic (what a
// real caller sets up: stdin, stdout and stderr from a descriptor the caller
// holds open on /dev/null, a 30-variable environment, a working
// directory). Methods compare like for like only within a variant.
type Method struct {
	ID      string // in results.jsonl
	Label   string // in tables and charts
	Binary  string // the benchmark program that implements it
	Flag    string // its -m value
	Family  string // the ID of the bare variant: the same way of spawning
	Variant string // VariantBare or VariantRealistic
}

// The variants of a method.
const (
	VariantBare      = "bare"
	VariantRealistic = "realistic"
	// VariantAttrs is the realistic variant with every SysProcAttr field
	// spawn.Cmd does through an embryo that needs no terminal: only the
	// Go methods have it, and os/exec is its baseline.
	VariantAttrs = "attrs"
)

// Baseline is the method the report divides by: the cheapest classic way,
// which does not copy the caller's address space either. BaselineOf gives
// the baseline of a variant.
const Baseline = "vfork"

// BaselineOf returns the ID of the baseline method of m's variant.
func BaselineOf(m Method) string {
	switch m.Variant {
	case VariantRealistic:
		return Baseline + realisticSuffix
	case VariantAttrs:
		return AttrsBaseline
	}
	return Baseline
}

// AttrsBaseline is the baseline of the attributes variant: os/exec given
// the same SysProcAttr (vfork+execve in C has no such fields).
const AttrsBaseline = "osexec" + attrsSuffix

const (
	realisticSuffix = "_full"
	attrsSuffix     = "_attrs"
)

// attrsFamilies are the families that have the attributes variant.
var attrsFamilies = []string{"osexec", "spawn_go"}

// family lists the bare methods; Methods adds a realistic variant of each.
var family = []Method{
	{ID: "fork", Label: "fork+execve", Binary: "spawnbench", Flag: "fork"},
	{ID: "vfork", Label: "vfork+execve", Binary: "spawnbench", Flag: "vfork"},
	{ID: "posix_spawn", Label: "posix_spawn", Binary: "spawnbench", Flag: "posix_spawn"},
	{ID: "clone3", Label: "clone3 vfork+execve", Binary: "spawnbench", Flag: "clone3"},
	{ID: "osexec", Label: "Go os/exec", Binary: "gospawn", Flag: "osexec"},
	{ID: "spawn_go", Label: "Go spawn.Cmd", Binary: "gospawn", Flag: "spawn"},
	{ID: "embryo_c", Label: "embryo (C)", Binary: "spawnbench", Flag: "embryo"},
	{ID: "embryo_go", Label: "embryo (Go)", Binary: "gospawn", Flag: "embryo"},
}

// Methods lists every method, in the order of tables and charts: the bare
// variants, then the realistic ones.
var Methods = func() []Method {
	var ms []Method
	for _, m := range family {
		m.Family, m.Variant = m.ID, VariantBare
		ms = append(ms, m)
	}
	for _, m := range family {
		m.Family, m.Variant = m.ID, VariantRealistic
		m.ID += realisticSuffix
		m.Flag += realisticSuffix
		m.Label += " (realistic)"
		ms = append(ms, m)
	}
	for _, m := range family {
		if !slices.Contains(attrsFamilies, m.ID) {
			continue
		}
		m.Family, m.Variant = m.ID, VariantAttrs
		m.ID += attrsSuffix
		m.Flag += attrsSuffix
		m.Label += " (attributes)"
		ms = append(ms, m)
	}
	return ms
}()

// Embryo reports whether m spawns through an empty pidfd, which only a
// kernel with the series has.
func (m Method) Embryo() bool {
	return m.Family == "embryo_c" || m.Family == "embryo_go" || m.Family == "spawn_go"
}

// MethodByID returns the method with that ID.
func MethodByID(id string) (Method, bool) {
	i := slices.IndexFunc(Methods, func(m Method) bool { return m.ID == id })
	if i < 0 {
		return Method{}, false
	}
	return Methods[i], true
}

// Label returns the method's label, or id itself for an unknown method.
func Label(id string) string {
	if m, ok := MethodByID(id); ok {
		return m.Label
	}
	return id
}

// Raw is one line a benchmark program prints: one timed repetition (one
// round of the sweep) on Threads threads, or, with Available false, why the
// method cannot run.
type Raw struct {
	Method       string  `json:"method"` // the program's -m value
	Available    bool    `json:"available"`
	Reason       string  `json:"reason,omitempty"`
	RSSMiB       int     `json:"rss_mib"`
	CallerRSSKiB int64   `json:"caller_rss_kib"` // VmRSS after growing
	Threads      int     `json:"threads"`
	Rep          int     `json:"rep"`        // the round: repetitions of a cell are interleaved with other cells
	Warmup       int     `json:"warmup"`     // warm-up spawns, fewest of any thread
	Iterations   int     `json:"iterations"` // timed spawns per thread
	WallNS       int64   `json:"wall_ns"`    // from release of the threads to the last one done
	LatNS        []int64 `json:"lat_ns"`     // Threads*Iterations spawn-to-reaped times
}

// Cell is the result of one method at one caller size and thread count:
// one line of results.jsonl. Latencies are over every timed spawn of every
// repetition; SpawnsPerSec is the median over repetitions of the aggregate
// rate. When Available is false, Reason says why and the numbers are zero.
type Cell struct {
	Method          string    `json:"method"`
	RSSMiB          int       `json:"rss_mib"`
	Threads         int       `json:"threads"`
	Available       bool      `json:"available"`
	Reason          string    `json:"reason,omitempty"`
	Iterations      int       `json:"iterations"` // timed spawns, all threads and repetitions
	Repetitions     int       `json:"repetitions"`
	MedianUS        float64   `json:"median_us"`
	P99US           float64   `json:"p99_us"`
	MinUS           float64   `json:"min_us"`
	MaxUS           float64   `json:"max_us"`
	SpawnsPerSec    float64   `json:"spawns_per_sec"`
	RepMedianUS     []float64 `json:"rep_median_us,omitempty"`      // per repetition, to judge stability
	RepSpawnsPerSec []float64 `json:"rep_spawns_per_sec,omitempty"` // per repetition
	// RepLatNS holds every latency of each repetition (round), so that
	// the report can bootstrap confidence intervals of ratios.
	RepLatNS     [][]int64 `json:"rep_lat_ns,omitempty"`
	Warmup       int       `json:"warmup,omitempty"`         // warm-up spawns per thread
	CallerRSSMiB float64   `json:"caller_rss_mib,omitempty"` // measured VmRSS of the caller
	Kernel       string    `json:"kernel"`                   // uname release where it ran
	VCPUs        int       `json:"vcpus,omitempty"`          // CPUs the benchmark saw
	HostNproc    int       `json:"host_nproc,omitempty"`     // host cores behind the VM (host side)
	HostCPU      string    `json:"host_cpu,omitempty"`       // host CPU model (host side)
	Accel        string    `json:"accel,omitempty"`          // "tcg" or "kvm" (host side)

	// Mode is ModeCounted when the latencies are instruction counts
	// (host side); empty or ModeTimed for times.
	Mode string `json:"mode,omitempty"`
}

// Meta describes where a run happened (bench/out/meta.json); the host side
// of 'make bench' records it.
type Meta struct {
	Date      string `json:"date"`       // RFC 3339, when the VM stopped
	Command   string `json:"command"`    // the make command line
	HostCPU   string `json:"host_cpu"`   // model name in the host's /proc/cpuinfo
	HostNproc int    `json:"host_nproc"` // host cores (nproc)
	QEMU      string `json:"qemu"`       // the QEMU command (memory, vCPUs, accelerator)
	Accel     string `json:"accel"`      // "tcg" or "kvm"
	Flavor    string `json:"flavor"`     // kernel flavour (plain or debug)
	Kernel    string `json:"kernel"`     // uname release in the guest
	VCPUs     int    `json:"vcpus"`      // CPUs the guest saw
	Seed      int64  `json:"seed"`       // of the sweep's random order
	Passes    int    `json:"passes"`     // passes over every (program, caller size), in random order
	Rounds    int    `json:"rounds"`     // rounds per pass over every (method, threads), in random order
	// Schedule is "spawns" when gospawn interleaved its methods spawn by
	// spawn (runner.ScheduleSpawns); empty or "cells" otherwise.
	Schedule string `json:"schedule,omitempty"`
	// Block is, in the "spawns" schedule, the spawns of a method in a
	// row in each step (0 or 1: one).
	Block int `json:"block,omitempty"`

	// Mode is ModeTimed or ModeCounted (empty: timed, an older run);
	// ICount, QEMU's -icount options in a counted run.
	Mode   string `json:"mode,omitempty"`
	ICount string `json:"icount,omitempty"`
}

// Counted reports whether a run's latencies are instruction counts: its
// meta data or any of its cells says so.
func Counted(meta Meta, cells []Cell) bool {
	if meta.Mode == ModeCounted {
		return true
	}
	for _, c := range cells {
		if c.Mode == ModeCounted {
			return true
		}
	}
	return false
}

// Phase is one step of a spawn in the per-phase breakdown (phases.jsonl):
// the time from milestone From to milestone To, over N spawns. Milestones
// are stamped by the caller (CLOCK_MONOTONIC around each system call) or by
// the kernel's sched_process_fork/exec/exit tracepoints (trace_clock mono).
type Phase struct {
	Method   string  `json:"method"` // a Methods ID
	Step     int     `json:"step"`   // order within the method
	From     string  `json:"from"`
	To       string  `json:"to"`
	Syscalls string  `json:"syscalls,omitempty"` // what the caller calls in this step
	N        int     `json:"n"`
	MedianUS float64 `json:"median_us"`
	P25US    float64 `json:"p25_us"`
	P75US    float64 `json:"p75_us"`
}

// Unavailable returns the cell of a method that cannot run.
func Unavailable(method string, rssMiB, threads int, reason string) Cell {
	return Cell{Method: method, RSSMiB: rssMiB, Threads: threads, Reason: reason}
}

// Summarize folds the repetitions of one method, caller size and thread
// count into a cell. It checks that the lines agree and are complete.
func Summarize(method string, reps []Raw) (Cell, error) {
	if len(reps) == 0 {
		return Cell{}, fmt.Errorf("%s: no repetitions", method)
	}
	first := reps[0]
	c := Cell{
		Method:       method,
		RSSMiB:       first.RSSMiB,
		Threads:      first.Threads,
		Available:    true,
		Repetitions:  len(reps),
		Warmup:       first.Warmup,
		CallerRSSMiB: float64(first.CallerRSSKiB) / 1024,
	}
	var all []int64
	for i, r := range reps {
		if !r.Available {
			return Cell{}, fmt.Errorf("%s: repetition %d says unavailable: %s", method, i, r.Reason)
		}
		if r.RSSMiB != first.RSSMiB || r.Threads != first.Threads {
			return Cell{}, fmt.Errorf("%s: repetition %d is of %d MiB/%d threads, not %d MiB/%d threads",
				method, i, r.RSSMiB, r.Threads, first.RSSMiB, first.Threads)
		}
		if r.Threads < 1 || r.Iterations < 1 {
			return Cell{}, fmt.Errorf("%s: repetition %d has %d threads and %d iterations", method, i, r.Threads, r.Iterations)
		}
		if want := r.Threads * r.Iterations; len(r.LatNS) != want {
			return Cell{}, fmt.Errorf("%s: repetition %d has %d latencies, want %d threads x %d iterations",
				method, i, len(r.LatNS), r.Threads, r.Iterations)
		}
		if r.WallNS <= 0 {
			return Cell{}, fmt.Errorf("%s: repetition %d has wall time %d ns", method, i, r.WallNS)
		}
		for _, l := range r.LatNS {
			if l <= 0 {
				return Cell{}, fmt.Errorf("%s: repetition %d has a latency of %d ns", method, i, l)
			}
		}
		all = append(all, r.LatNS...)
		c.RepLatNS = append(c.RepLatNS, slices.Clone(r.LatNS))
		c.Iterations += len(r.LatNS)
		c.RepMedianUS = append(c.RepMedianUS, us(Median(r.LatNS)))
		c.RepSpawnsPerSec = append(c.RepSpawnsPerSec, round3(float64(len(r.LatNS))/(float64(r.WallNS)/1e9)))
	}
	slices.Sort(all)
	c.MedianUS = us(Median(all))
	c.P99US = us(float64(Percentile(all, 99)))
	c.MinUS = us(float64(all[0]))
	c.MaxUS = us(float64(all[len(all)-1]))
	c.SpawnsPerSec = round3(MedianFloat(c.RepSpawnsPerSec))
	return c, nil
}

func us(ns float64) float64 { return round3(ns / 1000) }

// round3 rounds to three decimals (nanoseconds, for microseconds).
func round3(v float64) float64 {
	const k = 1000
	if v >= 0 {
		return float64(int64(v*k+0.5)) / k
	}
	return -float64(int64(-v*k+0.5)) / k
}

// ParseRaw reads the lines a benchmark program printed.
func ParseRaw(r io.Reader) ([]Raw, error) {
	var out []Raw
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var raw Raw
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, raw)
	}
	return out, sc.Err()
}

// ReadCells reads results.jsonl.
func ReadCells(path string) ([]Cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cells []Cell
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var c Cell
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		cells = append(cells, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cells, nil
}

// WriteCells writes cells to w, one JSON object a line.
func WriteCells(w io.Writer, cells []Cell) error {
	enc := json.NewEncoder(w)
	for _, c := range cells {
		if err := enc.Encode(c); err != nil {
			return err
		}
	}
	return nil
}
