package report

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// outside reports whether the counted ratio (b) lies outside the timed
// ratio's interval (a): the two measures disagree by more than the timed
// run's noise.
func (c compared) outside() bool {
	return c.a.HasCI() && (c.b.Point < c.a.Lo || c.b.Point > c.a.Hi)
}

// Beside returns, ratio by ratio, the latency ratios of a timed run beside
// those of a counted run of the same sweep ('make bench BENCH_ICOUNT=1'):
// per variant, per caller size, thread count and method, the timed ratio
// with its interval, the counted ratio, and counted/timed − 1, in bold
// where the counted ratio lies outside the timed interval; and a summary
// of where the two disagree.
func Beside(timed, counted Run) string {
	byVariant, onlyOne := pairs(timed, counted)
	var out strings.Builder
	out.WriteString("\n### Counted against timed\n\n")
	out.WriteString("Each latency ratio (median, as a multiple of " + baselines() +
		" of the same variant in the same row) timed, with its 95% bootstrap interval, and counted in instructions. " +
		"counted/timed − 1 is in **bold** where the counted ratio lies outside the timed interval: there the two " +
		"measures disagree by more than the timed run's noise, and what the count cannot see (cache and TLB misses, " +
		"the real cost of a context switch, I/O wait, the vCPUs running at once) is the likely difference.\n\n")
	fmt.Fprintf(&out, "- Timed: %s\n- Counted: %s\n", describe(timed), describe(counted))
	sideBySide(&out, byVariant, onlyOne, table{
		columns: "| caller | threads | method | timed | counted | counted/timed − 1 |",
		summary: besideSummary,
		marked:  compared.outside,
	})
	return out.String()
}

// besideSummary says how far the counted ratios are from the timed ones,
// how many lie outside the timed intervals, and how many point the other
// way from 1.00×.
func besideSummary(rows []compared) string {
	abs := make([]float64, len(rows))
	worst, outside, opposite := 0, 0, 0
	for i, c := range rows {
		abs[i] = math.Abs(c.diff())
		if abs[i] > abs[worst] {
			worst = i
		}
		if c.outside() {
			outside++
		}
		if c.a.Excludes(1) && (c.a.Point > 1) != (c.b.Point > 1) {
			opposite++
		}
	}
	w := rows[worst]
	return fmt.Sprintf("over %d ratios, |counted/timed − 1| has a median of %s and a max of %s (%s, %s, %d thread%s); "+
		"the counted ratio lies outside the timed interval for %d; "+
		"of the timed ratios that are significant, %d %s on the other side of 1.00× when counted.",
		len(rows), percentAbs(results.MedianFloat(abs)), percentAbs(abs[worst]),
		shortLabel(w.method), Size(w.k.rss), w.k.threads, plural(w.k.threads),
		outside, opposite, cond(opposite == 1, "lies", "lie"))
}

// AddTimed puts the latency ratios of timed, a timed run of the same
// sweep, beside this counted run's in Markdown and Section (Beside); path
// names this run.
func (r *Report) AddTimed(timed Run, path string) error {
	if !r.counted {
		return errors.New("a timed run goes beside a counted run's report, and this run is timed")
	}
	if results.Counted(timed.Meta, timed.Cells) {
		return fmt.Errorf("%s is a counted run, not a timed one", timed.Path)
	}
	r.beside = Beside(timed, Run{Path: path, Meta: r.meta, Cells: r.cells})
	return nil
}
