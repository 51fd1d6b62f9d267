package runner

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Sweep is what the full benchmark ('make bench') runs: Passes passes; in
// each, every (program, caller size) in a random order; each program run
// makes Reps rounds, each round every (method, threads) cell of that
// program once in a random order. A cell thus has Passes x Reps timed
// repetitions, interleaved with every other cell's, so that a drift of the
// machine during the run spreads over all methods alike. With Schedule
// ScheduleSpawns, gospawn's methods are interleaved spawn by spawn instead
// (runner.Params.Interleave): a drift then falls on them alike spawn by
// spawn, not only round by round. The host harness
// writes the sweep to the guest as NAME=value lines (Encode); the guest
// reads it back (ParseSweep).
type Sweep struct {
	Methods  []string // method IDs (results.Methods)
	SizesMiB []int
	Threads  []int
	Passes   int
	Reps     int    // rounds per program run
	Seed     uint64 // of the random orders
	Phases   int    // stamped spawns per method of the per-phase breakdown (0: none)
	TargetMS int    // time a repetition aims at; the program picks the count
	// Bounds of the spawns per thread and repetition.
	MinIterations, MaxIterations int
	Warmup, WarmupMS             int
	Timeout                      time.Duration // bounds one program run
	Out                          string        // guest directory that receives results.jsonl
	Schedule                     string        // ScheduleCells or ScheduleSpawns
	Block                        int           // with ScheduleSpawns, spawns of a method in a row
}

// The schedules of a sweep: cell by cell (each program run's rounds), or,
// for gospawn's methods only, spawn by spawn.
const (
	ScheduleCells  = "cells"
	ScheduleSpawns = "spawns"
)

// DefaultSweep is the sweep of issue 10: 8 MiB to 4 GiB, 1 and 2 threads
// (the host harness lowers or raises that to the host's cores), 3 passes of
// 2 rounds of about 150 ms per cell, 200 stamped spawns per phase method:
// under ten minutes on 2 cores.
func DefaultSweep() Sweep {
	ids := make([]string, len(results.Methods))
	for i, m := range results.Methods {
		ids[i] = m.ID
	}
	return Sweep{
		Methods:       ids,
		SizesMiB:      []int{8, 64, 256, 1024, 4096},
		Threads:       []int{1, 2},
		Passes:        3,
		Reps:          2,
		Seed:          1,
		Phases:        200,
		TargetMS:      150,
		MinIterations: 3,
		MaxIterations: 2000,
		Warmup:        1,
		WarmupMS:      30,
		Timeout:       30 * time.Minute,
		Schedule:      ScheduleCells,
		Block:         1,
	}
}

// Keys of the sweep file, also the suffixes of the EMPTYPIDFD_BENCH_*
// variables through which 'make bench' overrides them.
var SweepKeys = []string{"METHODS", "SIZES_MIB", "THREADS", "PASSES", "REPS", "SEED", "PHASES", "TARGET_MS",
	"MIN_ITERS", "MAX_ITERS", "WARMUP", "WARMUP_MS", "TIMEOUT", "OUT", "SCHEDULE", "BLOCK"}

// ParseSweep returns DefaultSweep with the values conf sets, checked.
func ParseSweep(conf map[string]string) (Sweep, error) {
	s := DefaultSweep()
	for k, v := range conf {
		var err error
		switch k {
		case "METHODS":
			s.Methods = strings.Split(v, ",")
			for _, id := range s.Methods {
				if _, ok := results.MethodByID(id); !ok {
					err = fmt.Errorf("unknown method %q", id)
				}
			}
		case "SIZES_MIB":
			s.SizesMiB, err = intList(v, 0)
		case "THREADS":
			s.Threads, err = intList(v, 1)
		case "PASSES":
			s.Passes, err = positive(v)
		case "REPS":
			s.Reps, err = positive(v)
		case "SEED":
			var n int
			n, err = positive(v)
			s.Seed = uint64(n)
		case "PHASES":
			s.Phases, err = strconv.Atoi(v)
		case "TARGET_MS":
			s.TargetMS, err = positive(v)
		case "MIN_ITERS":
			s.MinIterations, err = positive(v)
		case "MAX_ITERS":
			s.MaxIterations, err = positive(v)
		case "WARMUP":
			s.Warmup, err = strconv.Atoi(v)
		case "WARMUP_MS":
			s.WarmupMS, err = strconv.Atoi(v)
		case "TIMEOUT":
			s.Timeout, err = time.ParseDuration(v)
		case "OUT":
			s.Out = v
		case "BLOCK":
			s.Block, err = positive(v)
		case "SCHEDULE":
			s.Schedule = v
			if v != ScheduleCells && v != ScheduleSpawns {
				err = fmt.Errorf("want %s or %s", ScheduleCells, ScheduleSpawns)
			}
		default:
			err = fmt.Errorf("unknown setting (known: %s)", strings.Join(SweepKeys, " "))
		}
		if err != nil {
			return Sweep{}, fmt.Errorf("sweep setting %s=%s: %w", k, v, err)
		}
	}
	if s.MinIterations > s.MaxIterations {
		return Sweep{}, fmt.Errorf("sweep: MIN_ITERS %d is above MAX_ITERS %d", s.MinIterations, s.MaxIterations)
	}
	if s.Block > 1 && s.Schedule != ScheduleSpawns {
		return Sweep{}, fmt.Errorf("sweep: BLOCK=%d needs SCHEDULE=%s", s.Block, ScheduleSpawns)
	}
	if s.Schedule == ScheduleSpawns {
		for _, id := range s.Methods {
			if m, _ := results.MethodByID(id); m.Binary != InterleavingBinary {
				return Sweep{}, fmt.Errorf("sweep: SCHEDULE=%s interleaves %s's methods only, and %s is %s's",
					ScheduleSpawns, InterleavingBinary, id, m.Binary)
			}
		}
	}
	if s.Passes*s.Reps < 3 {
		return Sweep{}, fmt.Errorf("sweep: PASSES=%d x REPS=%d repetitions a cell, the benchmark wants at least 3", s.Passes, s.Reps)
	}
	return s, nil
}

// Encode returns s as the lines ParseSweep reads.
func (s Sweep) Encode() string {
	vals := map[string]string{
		"METHODS":   strings.Join(s.Methods, ","),
		"SIZES_MIB": joinInts(s.SizesMiB),
		"THREADS":   joinInts(s.Threads),
		"PASSES":    strconv.Itoa(s.Passes),
		"REPS":      strconv.Itoa(s.Reps),
		"SEED":      strconv.FormatUint(s.Seed, 10),
		"PHASES":    strconv.Itoa(s.Phases),
		"TARGET_MS": strconv.Itoa(s.TargetMS),
		"MIN_ITERS": strconv.Itoa(s.MinIterations),
		"MAX_ITERS": strconv.Itoa(s.MaxIterations),
		"WARMUP":    strconv.Itoa(s.Warmup),
		"WARMUP_MS": strconv.Itoa(s.WarmupMS),
		"TIMEOUT":   s.Timeout.String(),
		"OUT":       s.Out,
		"SCHEDULE":  s.Schedule,
		"BLOCK":     strconv.Itoa(s.Block),
	}
	var b strings.Builder
	for _, k := range SweepKeys {
		fmt.Fprintf(&b, "%s=%s\n", k, vals[k])
	}
	return b.String()
}

// Params returns the parameters of one program run of the sweep; seed
// orders its rounds.
func (s Sweep) Params(dir string, sizeMiB int, seed uint64) Params {
	return Params{Dir: dir, RSSMiB: sizeMiB, Threads: s.Threads, Reps: s.Reps, Seed: seed,
		TargetMS: s.TargetMS, MinIterations: s.MinIterations, MaxIterations: s.MaxIterations,
		Warmup: s.Warmup, WarmupMS: s.WarmupMS, Timeout: s.Timeout, Interleave: s.Schedule == ScheduleSpawns, Block: s.Block}
}

func intList(v string, least int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < least {
			return nil, fmt.Errorf("%q is not an integer >= %d", f, least)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return slices.Compact(out), nil
}

func positive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a positive integer", v)
	}
	return n, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
