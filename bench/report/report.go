// Package report turns the spawn benchmark's results.jsonl into Markdown
// tables (ratios to vfork+execve first, then absolute numbers), an SVG
// chart of per-spawn latency against caller size, and the generated section
// of BENCH.md.
package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// key names a cell of the sweep.
type key struct{ rss, threads int }

// grid indexes cells by sweep cell and method; a later cell replaces an
// earlier one.
type grid struct {
	keys    []key
	methods []string
	cells   map[key]map[string]results.Cell
}

func newGrid(cells []results.Cell) grid {
	g := grid{cells: map[key]map[string]results.Cell{}}
	present := map[string]bool{}
	for _, c := range cells {
		k := key{c.RSSMiB, c.Threads}
		if g.cells[k] == nil {
			g.cells[k] = map[string]results.Cell{}
			g.keys = append(g.keys, k)
		}
		g.cells[k][c.Method] = c
		present[c.Method] = true
	}
	slices.SortFunc(g.keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.rss, b.rss), cmp.Compare(a.threads, b.threads))
	})
	for _, m := range results.Methods {
		if present[m.ID] {
			g.methods = append(g.methods, m.ID)
			delete(present, m.ID)
		}
	}
	// Methods this version does not know, after the known ones.
	var unknown []string
	for id := range present {
		unknown = append(unknown, id)
	}
	slices.Sort(unknown)
	g.methods = append(g.methods, unknown...)
	return g
}

// Size formats a caller size given in MiB.
func Size(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// Ratio formats a ratio with three significant digits or so.
func Ratio(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0) || r <= 0:
		return "—"
	case r < 0.1:
		return fmt.Sprintf("%.2g×", r)
	case r < 10:
		return fmt.Sprintf("%.2f×", r)
	case r < 100:
		return fmt.Sprintf("%.1f×", r)
	default:
		return fmt.Sprintf("%.0f×", r)
	}
}

// Num formats an absolute number with a sensible precision.
func Num(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// Table returns the Markdown tables for cells: median per-spawn latency and
// aggregate throughput, each as a multiple of vfork+execve in the same cell
// (caller size and thread count), then the absolute numbers.
func Table(cells []results.Cell) string {
	g := newGrid(cells)
	if len(g.keys) == 0 {
		return "No results.\n"
	}
	var b strings.Builder
	base := results.Label(results.Baseline)
	fmt.Fprintf(&b, "**Per-spawn latency**, median, as a multiple of %s in the same row (lower is better):\n\n", base)
	g.ratioTable(&b, func(c results.Cell) float64 { return c.MedianUS })
	fmt.Fprintf(&b, "\n**Aggregate throughput** of all threads, spawns per second, as a multiple of %s in the same row (higher is better):\n\n", base)
	g.ratioTable(&b, func(c results.Cell) float64 { return c.SpawnsPerSec })
	b.WriteString("\n**Absolute numbers** (latency from spawn until the child is reaped, over every timed spawn of every repetition; spawns/s is the median of the repetitions):\n\n")
	b.WriteString("| caller | threads | method | median µs | p99 µs | min µs | max µs | spawns/s | spawns × reps |\n")
	b.WriteString("|---:|---:|:---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range g.keys {
		for _, id := range g.methods {
			c, ok := g.cells[k][id]
			if !ok {
				continue
			}
			if !c.Available {
				fmt.Fprintf(&b, "| %s | %d | %s | n/a | | | | | |\n", Size(k.rss), k.threads, results.Label(id))
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %d × %d |\n",
				Size(k.rss), k.threads, results.Label(id), Num(c.MedianUS), Num(c.P99US),
				Num(c.MinUS), Num(c.MaxUS), Num(c.SpawnsPerSec), c.Iterations/max(c.Repetitions, 1), c.Repetitions)
		}
	}
	if notes := g.unavailable(); notes != "" {
		b.WriteString("\n" + notes)
	}
	return b.String()
}

// ratioTable writes one row per sweep cell and one column per method of
// value(method's cell) / value(baseline's cell).
func (g grid) ratioTable(b *strings.Builder, value func(results.Cell) float64) {
	b.WriteString("| caller | threads |")
	for _, id := range g.methods {
		fmt.Fprintf(b, " %s |", results.Label(id))
	}
	b.WriteString("\n|---:|---:|")
	for range g.methods {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, k := range g.keys {
		fmt.Fprintf(b, "| %s | %d |", Size(k.rss), k.threads)
		base, baseOK := g.cells[k][results.Baseline]
		for _, id := range g.methods {
			c, ok := g.cells[k][id]
			switch {
			case !ok:
				b.WriteString(" |")
			case !c.Available:
				b.WriteString(" n/a |")
			case !baseOK || !base.Available || value(base) <= 0:
				b.WriteString(" — |")
			default:
				fmt.Fprintf(b, " %s |", Ratio(value(c)/value(base)))
			}
		}
		b.WriteString("\n")
	}
}

// unavailable explains the n/a entries: each distinct reason once, with the
// methods it applies to.
func (g grid) unavailable() string {
	type note struct {
		reason  string
		methods []string
	}
	var notes []note
	for _, id := range g.methods {
		for _, k := range g.keys {
			c, ok := g.cells[k][id]
			if !ok || c.Available {
				continue
			}
			i := slices.IndexFunc(notes, func(n note) bool { return n.reason == c.Reason })
			if i < 0 {
				notes = append(notes, note{reason: c.Reason})
				i = len(notes) - 1
			}
			if !slices.Contains(notes[i].methods, results.Label(id)) {
				notes[i].methods = append(notes[i].methods, results.Label(id))
			}
		}
	}
	var b strings.Builder
	for _, n := range notes {
		reason := n.reason
		if reason == "" {
			reason = "no reason given"
		}
		fmt.Fprintf(&b, "n/a (%s): %s.\n", strings.Join(n.methods, ", "), strings.TrimSuffix(reason, "."))
	}
	return b.String()
}

// Markers delimit the generated section of BENCH.md.
const (
	BeginMarker = "<!-- bench:begin: generated by 'make bench' (bench/cmd/benchreport); edits between the markers are overwritten -->"
	EndMarker   = "<!-- bench:end -->"
)

// Section returns the generated part of BENCH.md: where and how the run
// was made, the TCG caveat, the tables, and the chart (svg, a path
// relative to BENCH.md; none if empty).
func Section(meta results.Meta, cells []results.Cell, svg string) string {
	var b strings.Builder
	b.WriteString(RunInfo(meta, cells))
	b.WriteString("\n")
	b.WriteString(Table(cells))
	if svg != "" {
		fmt.Fprintf(&b, "\n![Per-spawn latency against caller size, one line per method](%s)\n", svg)
	}
	return b.String()
}

// RunInfo describes the run: command, date, kernel, machine (what is known
// of them), and what the numbers are not.
func RunInfo(meta results.Meta, cells []results.Cell) string {
	kernel, vcpus, hostN := meta.Kernel, meta.VCPUs, meta.HostNproc
	accel, hostCPU := meta.Accel, meta.HostCPU
	for _, c := range cells {
		kernel = cmp.Or(kernel, c.Kernel)
		vcpus = cmp.Or(vcpus, c.VCPUs)
		hostN = cmp.Or(hostN, c.HostNproc)
		accel = cmp.Or(accel, c.Accel)
		hostCPU = cmp.Or(hostCPU, c.HostCPU)
	}
	var b strings.Builder
	if meta.Command != "" {
		fmt.Fprintf(&b, "- Command: `%s`\n", meta.Command)
	}
	if meta.Date != "" {
		fmt.Fprintf(&b, "- Date: %s\n", meta.Date)
	}
	if kernel != "" {
		fmt.Fprintf(&b, "- Kernel: `%s`", kernel)
		if meta.Flavor != "" {
			fmt.Fprintf(&b, " (%s flavour)", meta.Flavor)
		}
		b.WriteString("\n")
	}
	switch {
	case meta.QEMU != "":
		fmt.Fprintf(&b, "- VM: `%s`, %s, %d vCPUs\n", meta.QEMU, strings.ToUpper(cmp.Or(accel, "accelerator unknown")), vcpus)
	case vcpus > 0:
		fmt.Fprintf(&b, "- CPUs the benchmark saw: %d\n", vcpus)
	}
	switch {
	case hostCPU != "" && hostN > 0:
		fmt.Fprintf(&b, "- Host: %s, %d cores (nproc)\n", hostCPU, hostN)
	case hostN > 0:
		fmt.Fprintf(&b, "- Host: %d cores (nproc)\n", hostN)
	}
	switch accel {
	case "tcg":
		b.WriteString("\n> **These are QEMU TCG (software emulation) times, not hardware times.** " +
			"Emulation slows some operations far more than others, so only compare methods within one run, " +
			"through the ratios; the absolute microseconds say little about a real machine.")
		if vcpus > hostN && hostN > 0 {
			fmt.Fprintf(&b, " The VM had %d vCPUs on %d host cores: rows with more threads than host cores "+
				"measure the emulator sharing the host as much as the kernel.", vcpus, hostN)
		}
		b.WriteString("\n")
	case "kvm":
		b.WriteString("\n> Times in a KVM guest: close to, but not the same as, bare-metal times.\n")
	}
	return b.String()
}

// Replace returns doc with the text between the BENCH.md markers replaced
// by section.
func Replace(doc, section string) (string, error) {
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i < 0 || j < 0 {
		return "", errors.New("BENCH.md markers not found: it needs a line " + BeginMarker + " and a line " + EndMarker)
	}
	if j < i {
		return "", errors.New("BENCH.md: the end marker comes before the begin marker")
	}
	if strings.Count(doc, BeginMarker) != 1 || strings.Count(doc, EndMarker) != 1 {
		return "", errors.New("BENCH.md: more than one pair of markers")
	}
	start := i + len(BeginMarker)
	return doc[:start] + "\n" + strings.TrimRight(section, "\n") + "\n" + doc[j:], nil
}
