package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Run is one run for Compare: its results and where they came from.
type Run struct {
	Path  string // of its results.jsonl, to name it
	Meta  results.Meta
	Cells []results.Cell
}

// compared is a method's latency ratio in one sweep cell in both runs.
type compared struct {
	k      key
	method string
	a, b   results.Interval
}

// diff is B/A − 1.
func (c compared) diff() float64 { return c.b.Point/c.a.Point - 1 }

// disjoint reports whether the two runs' intervals do not overlap: the
// runs disagree by more than their own noise.
func (c compared) disjoint() bool {
	return c.a.HasCI() && c.b.HasCI() && (c.a.Hi < c.b.Lo || c.b.Hi < c.a.Lo)
}

// reproTarget is the reproducibility issue 10 aims at: ratios within ±5%
// between two runs on the same machine.
const reproTarget = 0.05

// Compare returns a Markdown comparison of the latency ratios of two
// independent runs: per variant, per caller size, thread count and method,
// each run's ratio to its baseline with its interval and the relative
// difference B/A − 1; and a summary of how far they are apart and how
// many ratios each run finds significant.
func Compare(a, b Run) string {
	byVariant, onlyOne := pairs(a, b)

	var out strings.Builder
	out.WriteString("Two independent runs of the same benchmark, ratio by ratio: per-spawn latency, median, as a multiple of " +
		baselines() + " of the same variant in the same row, with its 95% bootstrap interval " +
		"(**bold**: it excludes 1.00×). B/A − 1 is in **bold** where the two runs' intervals do not overlap.\n\n")
	fmt.Fprintf(&out, "- Run A: %s\n- Run B: %s\n", describe(a), describe(b))

	sideBySide(&out, byVariant, onlyOne, table{
		columns: "| caller | threads | method | run A | run B | B/A − 1 |",
		summary: summary,
		marked:  compared.disjoint,
	})
	return out.String()
}

// table says how sideBySide writes the ratios of two runs: the header of
// its columns, the summary of a group of rows, and which differences are
// in bold.
type table struct {
	columns string
	summary func([]compared) string
	marked  func(compared) bool
}

// sideBySide writes, after out's introduction, the summary of all
// variants, then per variant its summary and one row per ratio: caller
// size, thread count, method, both runs' ratios and B/A − 1.
func sideBySide(out *strings.Builder, byVariant [][]compared, onlyOne int, t table) {
	var all []compared
	var body strings.Builder
	for i, v := range variants {
		rows := byVariant[i]
		if len(rows) == 0 {
			continue
		}
		all = append(all, rows...)
		fmt.Fprintf(&body, "\n**%s**: %s\n\n", v.title, t.summary(rows))
		body.WriteString(t.columns + "\n|---:|---:|:---|---:|---:|---:|\n")
		for _, c := range rows {
			d := percent(c.diff())
			if t.marked(c) {
				d = "**" + d + "**"
			}
			fmt.Fprintf(&body, "| %s | %d | %s | %s | %s | %s |\n",
				Size(c.k.rss), c.k.threads, shortLabel(c.method), RatioCI(c.a), RatioCI(c.b), d)
		}
	}
	if len(all) == 0 {
		out.WriteString("\nThe runs have no ratio in common.\n")
		return
	}
	fmt.Fprintf(out, "\n**All variants**: %s", t.summary(all))
	if onlyOne > 0 {
		fmt.Fprintf(out, " %d ratio%s in only one run %s left out.", onlyOne, plural(onlyOne), cond(onlyOne == 1, "is", "are"))
	}
	out.WriteString("\n")
	out.WriteString(body.String())
}

// pairs returns the latency ratios (every method but the baseline) that
// runs a and b both have, per variant in the order of variants, and how
// many ratios only one of them has.
func pairs(a, b Run) (byVariant [][]compared, onlyOne int) {
	ga, gb := newGrid(a.Cells), newGrid(b.Cells)
	ra, rb := ga.ratios(Bootstrap), gb.ratios(Bootstrap)

	keys := slices.Clone(ga.keys)
	for _, k := range gb.keys {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		return cmp.Or(cmp.Compare(x.rss, y.rss), cmp.Compare(x.threads, y.threads))
	})
	methods := newGrid(append(slices.Clone(a.Cells), b.Cells...)).methods

	for _, v := range variants {
		var rows []compared
		for _, k := range keys {
			for _, id := range methods {
				if variantOf(id) != v.id || id == baselineOf(id) {
					continue
				}
				xa, okA := ra[ratioKey{k, id}]
				xb, okB := rb[ratioKey{k, id}]
				switch {
				case okA && okB:
					rows = append(rows, compared{k, id, xa.lat, xb.lat})
				case okA || okB:
					onlyOne++
				}
			}
		}
		byVariant = append(byVariant, rows)
	}
	return byVariant, onlyOne
}

// summary says how far apart the runs' ratios are and how many of them
// each run finds significant.
func summary(rows []compared) string {
	abs := make([]float64, len(rows))
	worst, within, disjoint := 0, 0, 0
	both, same, one, none := 0, 0, 0, 0
	for i, c := range rows {
		abs[i] = math.Abs(c.diff())
		if abs[i] > abs[worst] {
			worst = i
		}
		if abs[i] <= reproTarget {
			within++
		}
		if c.disjoint() {
			disjoint++
		}
		sa, sb := c.a.Excludes(1), c.b.Excludes(1)
		switch {
		case sa && sb:
			both++
			if (c.a.Point > 1) == (c.b.Point > 1) {
				same++
			}
		case sa || sb:
			one++
		default:
			none++
		}
	}
	w := rows[worst]
	return fmt.Sprintf("over %d ratios, |B/A − 1| has a median of %s and a max of %s (%s, %s, %d thread%s); "+
		"%d within ±%.0f%%; the intervals are disjoint for %d. "+
		"Significant in both runs: %d (%d in the same direction), in one: %d, in neither: %d.",
		len(rows), percentAbs(results.MedianFloat(abs)), percentAbs(abs[worst]),
		shortLabel(w.method), Size(w.k.rss), w.k.threads, plural(w.k.threads),
		within, 100*reproTarget, disjoint, both, same, one, none)
}

// describe names a run: its file and what its meta data says.
func describe(r Run) string {
	parts := []string{"`" + r.Path + "`"}
	m := r.Meta
	if m.Date != "" {
		parts = append(parts, m.Date)
	}
	if m.Command != "" {
		parts = append(parts, "`"+m.Command+"`")
	}
	hostN, vcpus := m.HostNproc, m.VCPUs
	for _, c := range r.Cells {
		hostN, vcpus = cmp.Or(hostN, c.HostNproc), cmp.Or(vcpus, c.VCPUs)
	}
	if vcpus > 0 && hostN > 0 {
		parts = append(parts, fmt.Sprintf("%d vCPUs on %d host cores", vcpus, hostN))
	}
	if m.Passes > 0 {
		parts = append(parts, fmt.Sprintf("%d passes × %d rounds, seed %d", m.Passes, m.Rounds, m.Seed))
	}
	return strings.Join(parts, ", ")
}

// percent formats a relative difference with its sign.
func percent(d float64) string {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return "—"
	}
	return fmt.Sprintf("%+.1f%%", 100*d)
}

func percentAbs(d float64) string { return fmt.Sprintf("%.1f%%", 100*d) }

func cond[T any](c bool, yes, no T) T {
	if c {
		return yes
	}
	return no
}
