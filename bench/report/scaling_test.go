package report

import (
	"math"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// rateCell is a cell whose rounds spawned at the given rates.
func rateCell(method string, threads int, rates ...float64) results.Cell {
	c := results.Cell{Method: method, RSSMiB: 8, Threads: threads, Available: true,
		Repetitions: len(rates), MedianUS: 100, RepSpawnsPerSec: rates}
	c.SpawnsPerSec = results.MedianFloat(rates)
	return c
}

func TestScaling(t *testing.T) {
	// Rounds whose rates drift, each cell its own way, around a median of v.
	rounds := func(v float64) []float64 { return []float64{v, v * 1.01, v * 0.99, v * 1.02, v * 0.98, v} }
	other := func(v float64) []float64 { return []float64{v * 0.97, v, v * 1.03, v, v * 0.99, v * 1.01} }
	cells := []results.Cell{
		rateCell("vfork", 1, rounds(1000)...),
		rateCell("vfork", 2, other(1700)...),
		rateCell("embryo_c", 1, other(900)...),
		rateCell("embryo_c", 2, rounds(1800)...),
		// No one-thread cell: no scaling.
		rateCell("posix_spawn", 2, rounds(1500)...),
		// Unavailable at one thread: no scaling either.
		{Method: "clone3", RSSMiB: 8, Threads: 1},
		rateCell("clone3", 2, rounds(1500)...),
	}
	g := newGrid(cells)
	got := g.scaling(Bootstrap)
	tests := []struct {
		method string
		want   float64 // 0: no scaling
	}{
		{"vfork", 1.7},
		{"embryo_c", 2.0},
		{"posix_spawn", 0},
		{"clone3", 0},
	}
	for _, tc := range tests {
		iv, ok := got[scalingKey{key{8, 2}, tc.method}]
		switch {
		case tc.want == 0 && ok:
			t.Errorf("%s: scaling %+v, want none", tc.method, iv)
		case tc.want == 0:
		case !ok:
			t.Errorf("%s: no scaling, want %.2f", tc.method, tc.want)
		case math.Abs(iv.Point-tc.want) > 1e-9:
			t.Errorf("%s: scaling %.3f, want %.2f", tc.method, iv.Point, tc.want)
		case !iv.HasCI() || iv.Lo > tc.want || iv.Hi < tc.want || iv.Hi-iv.Lo > 0.2:
			t.Errorf("%s: interval %.3f–%.3f, want a narrow one around %.2f", tc.method, iv.Lo, iv.Hi, tc.want)
		}
	}
	if _, ok := got[scalingKey{key{8, 1}, "vfork"}]; ok {
		t.Error("a one-thread cell has a scaling")
	}

	table := New(results.Meta{}, cells, nil).Tables()
	for _, w := range []string{
		"**Scaling**: the aggregate throughput of N threads",
		"| 8 MiB | 2 | 1.70× (",
		" | — | — | 2.00× (",
	} {
		if !strings.Contains(table, w) {
			t.Errorf("table lacks %q:\n%s", w, table)
		}
	}
	counted := New(results.Meta{Mode: results.ModeCounted}, cells, nil).Tables()
	if !strings.Contains(counted, "**Scaling** is not shown") || strings.Contains(counted, "| 1.70× (") {
		t.Errorf("a counted run shows scaling:\n%s", counted)
	}
	// A run with one thread count has no scaling section.
	if one := Table(cells[:1]); strings.Contains(one, "Scaling") {
		t.Errorf("scaling section without a multi-thread cell:\n%s", one)
	}
}
