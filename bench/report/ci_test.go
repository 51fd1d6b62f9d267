package report

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/results/resultstest"
)

// fixture is a small fake run: 2 sizes, 1 and 2 threads, 6 rounds.
func fixture(seed uint64, factor map[string]float64) []results.Cell {
	return resultstest.Run{Seed: seed, Sizes: []int{8, 1024}, Threads: []int{1, 2}, Rounds: 6, Spawns: 100,
		Drift: 0.1, Factor: factor}.Cells()
}

func TestTableIntervals(t *testing.T) {
	cells := fixture(1, map[string]float64{"posix_spawn_full": 1.5})
	got := Table(cells)
	for _, w := range []string{
		"in brackets their 95% confidence interval",
		"### Bare variants",
		"| caller | threads | fork+execve | vfork+execve | posix_spawn | clone3 vfork+execve | Go os/exec | Go spawn.Cmd | embryo (C) | embryo (Go) |",
		"### Realistic variants",
		"on /dev/null",
		// The realistic section has the family labels, not "(realistic)".
		"| caller | threads | fork+execve | vfork+execve | posix_spawn |",
		"**Absolute numbers**",
		// 2 threads × 100 spawns × 6 rounds: enough for a p99.
		"| 8 MiB | 2 | vfork+execve |",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("table lacks %q:\n%s", w, got)
		}
	}
	for _, w := range []string{
		"### Attributes variants",
		"as a multiple of Go os/exec (lower is better)",
		"| caller | threads | Go os/exec | Go spawn.Cmd |",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("table lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "(realistic)") || strings.Contains(got, "(attributes)") {
		t.Errorf("realistic labels in the tables:\n%s", got)
	}
	// posix_spawn is 1.2 times vfork in the profile, the realistic one
	// 1.5 times that: each variant is divided by its own baseline.
	iv := cellInterval(t, cells, "posix_spawn_full", 8, 1)
	if iv.Excludes(1.8) || !iv.Excludes(1.2) {
		t.Errorf("realistic posix_spawn at 8 MiB: %+v, want an interval around 1.8", iv)
	}
	if iv := cellInterval(t, cells, "posix_spawn", 8, 1); iv.Excludes(1.2) {
		t.Errorf("bare posix_spawn at 8 MiB: %+v, want an interval around 1.2", iv)
	}
	// Rows of 600 latencies (1 thread) show the max, of 1200 the p99.
	for _, line := range strings.Split(got, "\n") {
		if !strings.HasPrefix(line, "| 8 MiB | ") || strings.Count(line, "|") != 11 || strings.Contains(line, "×") {
			continue
		}
		one, two := strings.HasPrefix(line, "| 8 MiB | 1 |"), strings.HasPrefix(line, "| 8 MiB | 2 |")
		if one != strings.Contains(line, "† |") || (two && strings.Contains(line, "max ")) {
			t.Errorf("p99 or max wrong in %q", line)
		}
		if !strings.Contains(line, "–") {
			t.Errorf("no spread of the round medians in %q", line)
		}
	}
	// Significant ratios are in bold with their interval.
	if !strings.Contains(got, "| **2.") || !strings.Contains(got, "×** (") {
		t.Errorf("no bold fork ratio with an interval:\n%s", got)
	}
}

// cellInterval returns the latency ratio the report computes for a cell.
func cellInterval(t *testing.T, cells []results.Cell, method string, rss, threads int) results.Interval {
	t.Helper()
	rt, ok := newGrid(cells).ratios(Bootstrap)[ratioKey{key{rss, threads}, method}]
	if !ok || !rt.lat.HasCI() {
		t.Fatalf("no interval for %s at %d MiB, %d threads", method, rss, threads)
	}
	return rt.lat
}

func TestReportDeterministic(t *testing.T) {
	cells := fixture(2, nil)
	a, b := Table(cells), Table(cells)
	if a != b {
		t.Errorf("two reports of the same cells differ")
	}
	// An interval does not depend on which other cells are there.
	var fewer []results.Cell
	for _, c := range cells {
		if c.RSSMiB == 8 {
			fewer = append(fewer, c)
		}
	}
	if x, y := cellInterval(t, cells, "embryo_c", 8, 2), cellInterval(t, fewer, "embryo_c", 8, 2); x != y {
		t.Errorf("interval changed with the other cells: %+v and %+v", x, y)
	}
}

// TestReportTime checks that a full-size report stays fast: 5 sizes, 2
// thread counts, 14 methods, 2000 latencies a cell.
func TestReportTime(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	cells := resultstest.Run{Seed: 3, Sizes: []int{8, 64, 256, 1024, 4096}, Threads: []int{1, 2}, Rounds: 8,
		Spawns: 250, Drift: 0.1}.Cells()
	start := time.Now()
	New(results.Meta{}, cells, nil)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the intervals of %d cells took %v", len(cells), d)
	}
}

func TestRatioCI(t *testing.T) {
	nan := math.NaN()
	for _, tt := range []struct {
		iv   results.Interval
		want string
	}{
		{results.Interval{Point: 1.07, Lo: 0.98, Hi: 1.15}, "1.07× (0.98–1.15)"},
		{results.Interval{Point: 1.2, Lo: 1.1, Hi: 1.3}, "**1.20×** (1.10–1.30)"},
		{results.Interval{Point: 0.5, Lo: 0.45, Hi: 0.55}, "**0.50×** (0.45–0.55)"},
		{results.Interval{Point: 150, Lo: 98, Hi: 210}, "**150×** (98.0–210)"},
		{results.Interval{Point: 1, Lo: 1, Hi: 1}, "1.00×"},
		{results.Interval{Point: 1.3, Lo: nan, Hi: nan}, "1.30×"},
	} {
		if got := RatioCI(tt.iv); got != tt.want {
			t.Errorf("RatioCI(%+v) = %q, want %q", tt.iv, got, tt.want)
		}
	}
}

func TestPhaseTable(t *testing.T) {
	if got := PhaseTable(nil); got != "" {
		t.Errorf("PhaseTable(nil) = %q, want nothing", got)
	}
	// Out of order on purpose: methods follow results.Methods, steps Step.
	phases := resultstest.Phases()
	phases[0], phases[len(phases)-1] = phases[len(phases)-1], phases[0]
	got := PhaseTable(phases)
	want := []string{
		"### Where the time goes",
		"| method | step | what runs | median µs (p25–p75) | share | spawns |",
		"| vfork+execve | start → exec done | vfork, execve | 650 (600–720) | 71% | 500 |",
		"|  | exec done → child exits |  | 210 (185–240) | 23% | 500 |",
		"|  | child exits → reaped | wait4 | 55.0 (48.0–70.0) | 6% | 500 |",
		"| | **total** (sum of the step medians) | | **915** | | |",
		"| embryo (C) | start → pidfd_open returns | pidfd_open | 40.0 (35.0–50.0) | 4% | 500 |",
		"| | **total** (sum of the step medians) | | **1030** | | |",
		"The largest step: vfork+execve: start → exec done (71%); embryo (C): configured → exec done (68%).",
	}
	rest := got
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("phase table lacks %q (or has it out of order):\n%s", w, got)
		}
		rest = rest[i+len(w):]
	}
}

func TestReadPhases(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "phases.jsonl")
	os.WriteFile(good, []byte(`{"method":"vfork","step":0,"from":"start","to":"exec done","syscalls":"vfork, execve","n":5,"median_us":1.5,"p25_us":1,"p75_us":2}`+"\n\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"method\":\n"), 0o644)
	for _, tt := range []struct {
		name, path, wantErr string
		want                int
	}{
		{"one step and a blank line", good, "", 1},
		{"cut line", bad, "bad.jsonl:1", 0},
		{"missing", filepath.Join(dir, "none.jsonl"), "no such file", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPhases(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadPhases: error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ReadPhases: %d steps, %v; want %d", len(got), err, tt.want)
			}
			if got[0].Syscalls != "vfork, execve" || got[0].MedianUS != 1.5 {
				t.Errorf("ReadPhases: %+v", got[0])
			}
		})
	}
}

// TestPhaseTableWholeSpawn: a step named "total" is the whole spawn, the
// base of the shares, and an "alongside" step never counts as the
// largest.
func TestPhaseTableWholeSpawn(t *testing.T) {
	phases := []results.Phase{
		{Method: "vfork", Step: 0, From: "start", To: "created", Syscalls: "vfork", N: 10, MedianUS: 100},
		{Method: "vfork", Step: 1, From: "created", To: "exec_done", Syscalls: "the exec, alongside", N: 10, MedianUS: 900},
		{Method: "vfork", Step: 2, From: "created", To: "vfork_returned", Syscalls: "wake", N: 10, MedianUS: 600},
		{Method: "vfork", Step: 3, From: "start", To: "reaped", Syscalls: "total", N: 10, MedianUS: 1000, P25US: 900, P75US: 1100},
	}
	got := PhaseTable(phases)
	for _, w := range []string{
		"| vfork+execve | start → created | vfork | 100 (0.00–0.00) | 10% | 10 |",
		"|  | created → exec_done | *the exec, alongside* | 900 (0.00–0.00) | 90% | 10 |",
		"| | **start → reaped** | whole spawn | **1000** (900–1100) | | 10 |",
		"The largest step: vfork+execve: created → vfork_returned (60%).",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("phase table lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "| start → reaped | total |") {
		t.Errorf("the whole spawn is listed as a step:\n%s", got)
	}
}
