package report

import (
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

func TestCompare(t *testing.T) {
	a := fixture(1, nil)
	tests := []struct {
		name string
		b    []results.Cell
		want []string // in this order
		not  []string
	}{
		{
			name: "two runs of the same machine",
			b:    fixture(2, nil),
			want: []string{
				"- Run A: `a/results.jsonl`, 2026-11-30T10:00:00Z",
				"- Run B: `b/results.jsonl`",
				"**All variants**: over 60 ratios, |B/A − 1| has a median of ",
				"the intervals are disjoint for 0.",
				"**Bare variants**: over 28 ratios",
				"| caller | threads | method | run A | run B | B/A − 1 |",
				"| 8 MiB | 1 | fork+execve | **",
				"**Realistic variants**: over 28 ratios",
				"**Attributes variants**: over 4 ratios",
				"| 8 MiB | 1 | Go spawn.Cmd |",
			},
			not: []string{"| vfork+execve |", "left out"},
		},
		{
			name: "run B's embryo is 30% slower",
			b:    fixture(2, map[string]float64{"embryo_c": 1.3}),
			want: []string{
				"and a max of 3", // around 30%
				"(embryo (C), ",
				"| 8 MiB | 1 | embryo (C) |",
				"| **+3",
			},
		},
		{
			name: "cells in one run only",
			b: func() []results.Cell {
				var bs []results.Cell
				for _, c := range fixture(2, nil) {
					if c.Threads == 1 {
						bs = append(bs, c)
					}
				}
				return bs
			}(),
			want: []string{"over 30 ratios", "30 ratios in only one run are left out."},
			not:  []string{"| 8 MiB | 2 |"},
		},
		{
			name: "nothing in common",
			b:    []results.Cell{cell("vfork", 16, 1, 1, 1)},
			want: []string{"The runs have no ratio in common."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compare(
				Run{Path: "a/results.jsonl", Meta: results.Meta{Date: "2026-11-30T10:00:00Z"}, Cells: a},
				Run{Path: "b/results.jsonl", Cells: tt.b})
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("comparison lacks %q (or has it out of order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("comparison has %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestSummary(t *testing.T) {
	iv := func(p, lo, hi float64) results.Interval { return results.Interval{Point: p, Lo: lo, Hi: hi} }
	rows := []compared{
		{key{8, 1}, "fork", iv(2, 1.9, 2.1), iv(2.08, 2.0, 2.2)},                // +4%, both significant
		{key{8, 1}, "embryo_c", iv(0.9, 0.85, 0.95), iv(0.99, 0.96, 1.02)},      // +10%, one, disjoint
		{key{64, 2}, "posix_spawn", iv(1.02, 0.97, 1.07), iv(1.02, 0.98, 1.06)}, // 0, none
		{key{64, 2}, "clone3", iv(1.1, 1.05, 1.15), iv(0.9, 0.85, 0.95)},        // -18%, both, opposite
	}
	want := "over 4 ratios, |B/A − 1| has a median of 7.0% and a max of 18.2% (clone3 vfork+execve, 64 MiB, 2 threads); " +
		"2 within ±5%; the intervals are disjoint for 2. " +
		"Significant in both runs: 2 (1 in the same direction), in one: 1, in neither: 1."
	if got := summary(rows); got != want {
		t.Errorf("summary:\n got %s\nwant %s", got, want)
	}
}
