package report

import (
	"fmt"
	"html"
	"math"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 800, 460
	plotL, plotT           = 80, 60   // plot area's top left
	plotR, plotB           = 590, 400 // plot area's bottom right
	legendX                = 610
	markerR                = 3.5
	minDecades     float64 = 1 // the y axis spans at least this many decades
)

// style is how a method is drawn; the Go rows are dashed.
var style = map[string]struct {
	color string
	dash  bool
}{
	"fork":        {"#d62728", false},
	"vfork":       {"#1f77b4", false},
	"posix_spawn": {"#17becf", false},
	"clone3":      {"#9467bd", false},
	"osexec":      {"#8c564b", true},
	"embryo_c":    {"#2ca02c", false},
	"embryo_go":   {"#2ca02c", true},
}

// ChartThreads returns the thread count the chart shows: 1 if any cell has
// it, else the smallest there is.
func ChartThreads(cells []results.Cell) int {
	t := 0
	for _, c := range cells {
		if c.Threads == 1 {
			return 1
		}
		if t == 0 || c.Threads < t {
			t = c.Threads
		}
	}
	return t
}

// SVG returns a chart of median per-spawn latency (log scale) against
// caller size (log scale) at the given thread count, one line per bare
// method (the realistic variants are in the tables), with subtitle under
// the title. A whisker spans the lowest to the highest round median.
func SVG(cells []results.Cell, threads int, subtitle string) string {
	g := newGrid(cells)
	methods := g.variantMethods(results.VariantBare)
	var sizes []int
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, k := range g.keys {
		if k.threads != threads {
			continue
		}
		drawn := false
		for _, id := range methods {
			c, ok := g.cells[k][id]
			if !ok || !c.Available || c.MedianUS <= 0 {
				continue
			}
			drawn = true
			wlo, whi := whisker(c)
			lo, hi = min(lo, c.MedianUS, wlo), max(hi, c.MedianUS, whi)
		}
		if drawn {
			sizes = append(sizes, k.rss)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">Per-spawn latency against caller size (median, %d thread%s, bare variants)</text>`+"\n",
		plotL, threads, plural(threads))
	if subtitle != "" {
		fmt.Fprintf(&b, `<text x="%d" y="44" fill="#555">%s</text>`+"\n", plotL, esc(subtitle))
	}
	if len(sizes) == 0 || math.IsInf(lo, 0) {
		fmt.Fprintf(&b, `<text x="%d" y="%d">no results at %d thread%s</text>`+"\n</svg>\n", plotL, (plotT+plotB)/2, threads, plural(threads))
		return b.String()
	}

	// y: decades covering the values; x: log2 of the size.
	yLo, yHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if yHi-yLo < minDecades {
		yHi = yLo + minDecades
	}
	y := func(v float64) float64 {
		return plotB - (math.Log10(v)-yLo)/(yHi-yLo)*(plotB-plotT)
	}
	xLo, xHi := math.Log2(float64(max(sizes[0], 1))), math.Log2(float64(max(sizes[len(sizes)-1], 1)))
	x := func(mib int) float64 {
		if xHi == xLo {
			return (plotL + plotR) / 2
		}
		const pad = 30
		return plotL + pad + (math.Log2(float64(max(mib, 1)))-xLo)/(xHi-xLo)*(plotR-plotL-2*pad)
	}

	// Grid and axes.
	for d := yLo; d <= yHi; d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if math.Log10(v) > yHi+1e-9 {
				break
			}
			yy := y(v)
			stroke, label := "#eee", m != 1 && yHi-yLo <= 3
			if m == 1 {
				stroke, label = "#ccc", true
			}
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", plotL, yy, plotR, yy, stroke)
			if label {
				fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", plotL-6, yy, usLabel(v))
			}
		}
	}
	for _, s := range sizes {
		xx := x(s)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", xx, plotT, xx, plotB)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xx, plotB+18, Size(s))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", plotL, plotT, plotR-plotL, plotB-plotT)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">caller size (memory mapped and touched before spawning; log scale)</text>`+"\n",
		(plotL+plotR)/2, plotB+42)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">median latency, spawn until reaped (log scale)</text>`+"\n",
		(plotT+plotB)/2)

	// One line per method, and the legend.
	ly := plotT + 6
	for _, id := range methods {
		st, ok := style[id]
		if !ok {
			st.color = "#7f7f7f"
		}
		dash := ""
		if st.dash {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		var marks strings.Builder
		available := false
		for _, s := range sizes {
			c, ok := g.cells[key{s, threads}][id]
			if !ok || !c.Available || c.MedianUS <= 0 {
				continue
			}
			available = true
			px, py := x(s), y(c.MedianUS)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px, py))
			spread := ""
			if wlo, whi := whisker(c); whi > wlo {
				fmt.Fprintf(&marks, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"/>`+"\n",
					px, y(wlo), px, y(whi), st.color)
				spread = fmt.Sprintf(", round medians %s–%s µs", Num(wlo), Num(whi))
			}
			fmt.Fprintf(&marks, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>%s, %s: median %s µs%s</title></circle>`+"\n",
				px, py, markerR, st.color, esc(results.Label(id)), Size(s), Num(c.MedianUS), spread)
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), st.color, dash)
		}
		b.WriteString(marks.String())

		label, color := results.Label(id), st.color
		if !available {
			label, color = label+" (n/a)", "#aaa"
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, ly, legendX+28, ly, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legendX+36, ly, esc(label))
		ly += 20
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// whisker returns the lowest and highest round median of c, or its median
// twice without per-round data.
func whisker(c results.Cell) (float64, float64) {
	lo, hi := c.MedianUS, c.MedianUS
	for _, m := range c.RepMedianUS {
		if m > 0 {
			lo, hi = min(lo, m), max(hi, m)
		}
	}
	return lo, hi
}

// usLabel formats a tick value in µs.
func usLabel(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(v/1e6) + " s"
	case v >= 1e3:
		return trimZero(v/1e3) + " ms"
	default:
		return trimZero(v) + " µs"
	}
}

func trimZero(v float64) string {
	s := fmt.Sprintf("%.3g", v)
	if strings.Contains(s, "e") {
		return fmt.Sprintf("%.0f", v)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func esc(s string) string { return html.EscapeString(s) }
