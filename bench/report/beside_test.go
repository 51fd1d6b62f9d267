package report

import (
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/results/resultstest"
)

// counted returns a fake counted run of fixture's sweep.
func countedFixture(factor map[string]float64) []results.Cell {
	return resultstest.Run{Seed: 9, Sizes: []int{8, 1024}, Threads: []int{1, 2}, Rounds: 6, Spawns: 100,
		Counted: true, Factor: factor}.Cells()
}

func TestBeside(t *testing.T) {
	timed := fixture(1, nil)
	tests := []struct {
		name    string
		counted []results.Cell
		want    []string // in this order
		not     []string
	}{
		{
			name:    "the count agrees with the timed run",
			counted: countedFixture(nil),
			want: []string{
				"### Counted against timed",
				"- Timed: `t/results.jsonl`, 2026-11-30T10:00:00Z",
				"- Counted: `c/results.jsonl`, `make bench BENCH_ICOUNT=1`",
				"**All variants**: over 60 ratios, |counted/timed − 1| has a median of ",
				"**Bare variants**: over 28 ratios",
				"| caller | threads | method | timed | counted | counted/timed − 1 |",
				"| 8 MiB | 1 | fork+execve | **",
				"**Realistic variants**: over 28 ratios",
			},
			not: []string{"| vfork+execve |", "left out"},
		},
		{
			name:    "the count says the embryo is 40% cheaper",
			counted: countedFixture(map[string]float64{"embryo_c": 0.6}),
			want: []string{
				"and a max of 4", // around 40%
				"(embryo (C), ",
				"| 8 MiB | 1 | embryo (C) |",
				"| **-4",
			},
		},
		{
			name:    "nothing in common",
			counted: []results.Cell{cell("vfork", 16, 1, 1, 1)},
			want:    []string{"The runs have no ratio in common."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Beside(
				Run{Path: "t/results.jsonl", Meta: results.Meta{Date: "2026-11-30T10:00:00Z"}, Cells: timed},
				Run{Path: "c/results.jsonl", Meta: results.Meta{Command: "make bench BENCH_ICOUNT=1", Mode: results.ModeCounted}, Cells: tt.counted})
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Beside lacks %q (or has it out of order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("Beside has %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestBesideSummary(t *testing.T) {
	iv := func(p, lo, hi float64) results.Interval { return results.Interval{Point: p, Lo: lo, Hi: hi} }
	rows := []compared{
		{key{8, 1}, "fork", iv(2, 1.9, 2.1), iv(2.08, 2.08, 2.08)},              // +4%, inside
		{key{8, 1}, "embryo_c", iv(0.9, 0.85, 0.95), iv(0.99, 0.99, 0.99)},      // +10%, outside
		{key{64, 2}, "posix_spawn", iv(1.02, 0.97, 1.07), iv(0.98, 0.98, 0.98)}, // -3.9%, inside, timed not significant
		{key{64, 2}, "clone3", iv(1.1, 1.05, 1.15), iv(0.9, 0.9, 0.9)},          // -18%, outside, other side of 1
	}
	want := "over 4 ratios, |counted/timed − 1| has a median of 7.0% and a max of 18.2% (clone3 vfork+execve, 64 MiB, 2 threads); " +
		"the counted ratio lies outside the timed interval for 2; " +
		"of the timed ratios that are significant, 1 lies on the other side of 1.00× when counted."
	if got := besideSummary(rows); got != want {
		t.Errorf("besideSummary:\n got %s\nwant %s", got, want)
	}
}

func TestCountedReport(t *testing.T) {
	tests := []struct {
		name      string
		meta      results.Meta
		cells     []results.Cell
		counted   bool
		begin     string
		want, not []string
	}{
		{
			name: "timed", cells: fixture(1, nil), begin: BeginMarker,
			want: []string{"**Per-spawn latency**", "spawns per second", "| median µs |"},
			not:  []string{"instruction", "k instr"},
		},
		{
			name: "counted, from the cells", cells: countedFixture(nil), counted: true, begin: CountedBegin,
			want: []string{"**Per-spawn instruction count**", "spawns per 10⁹ guest instructions", "| median k instr |"},
			not:  []string{"µs |", "spawns/s"},
		},
		{
			name: "counted, from the meta data", meta: results.Meta{Mode: results.ModeCounted}, cells: fixture(1, nil),
			counted: true, begin: CountedBegin,
			want: []string{"**Per-spawn instruction count**"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.meta, tt.cells, nil)
			if r.Counted() != tt.counted {
				t.Errorf("Counted() = %v, want %v", r.Counted(), tt.counted)
			}
			if begin, _ := r.Markers(); begin != tt.begin {
				t.Errorf("Markers() begin with %q, want %q", begin, tt.begin)
			}
			got := r.Tables()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("tables lack %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("tables have %q", n)
				}
			}
		})
	}
}
