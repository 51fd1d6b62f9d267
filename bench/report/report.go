// Package report turns the spawn benchmark's results.jsonl into Markdown
// tables (per variant: ratios to vfork+execve with their bootstrap
// intervals, then absolute numbers with their spread), the per-phase
// breakdown of phases.jsonl, an SVG chart of per-spawn latency against
// caller size, the generated section of BENCH.md, and the comparison of
// two runs.
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

// variantMethods returns the methods of the grid in a variant, in
// results.Methods order.
func (g grid) variantMethods(variant string) []string {
	var ms []string
	for _, id := range g.methods {
		if variantOf(id) == variant {
			ms = append(ms, id)
		}
	}
	return ms
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

// Report is the report of one run: the intervals of its ratios are
// computed once, in New, for every table that shows them.
type Report struct {
	meta    results.Meta
	cells   []results.Cell
	phases  []results.Phase
	g       grid
	ratios  map[ratioKey]ratio
	scale   map[scalingKey]results.Interval // throughput over one thread's (grid.scaling)
	counted bool                            // the latencies are instruction counts (results.ModeCounted)
	units   units
	beside  string // a counted run's ratios beside a timed run's (AddTimed)
}

// New computes the ratios of a run and their intervals (a few seconds for
// a full sweep). phases may be nil.
func New(meta results.Meta, cells []results.Cell, phases []results.Phase) *Report {
	g := newGrid(cells)
	counted := results.Counted(meta, cells)
	return &Report{meta: meta, cells: cells, phases: phases, g: g, ratios: g.ratios(Bootstrap),
		scale: g.scaling(Bootstrap), counted: counted, units: unitsOf(counted)}
}

// Counted reports whether the run's latencies are instruction counts.
func (r *Report) Counted() bool { return r.counted }

// units names what a run's numbers are. In a counted run the guest's
// clocks advance 1 ns per instruction, so what results.jsonl calls a
// microsecond is a thousand instructions, and a second 10⁹.
type units struct {
	where string // the breakdown's title: where the time goes, or the instructions go
	lat   string // the unit of a latency
	rate  string // the unit of throughput, short
	per   string // the unit of throughput, in words
}

func unitsOf(counted bool) units {
	if counted {
		return units{where: "Where the instructions go", lat: "k instr", rate: "spawns/G instr",
			per: "spawns per 10⁹ guest instructions (of all vCPUs)"}
	}
	return units{where: "Where the time goes", lat: "µs", rate: "spawns/s", per: "spawns per second"}
}

// Table returns the tables of cells (see Report.Tables).
func Table(cells []results.Cell) string { return New(results.Meta{}, cells, nil).Tables() }

// Markdown returns table.md: the run info, the tables, a counted run's
// ratios beside a timed run's (AddTimed), and the per-phase breakdown if
// there is one.
func (r *Report) Markdown() string {
	return RunInfo(r.meta, r.cells) + "\n" + r.Tables() + r.beside + r.PhaseTable()
}

// Section returns the generated part of BENCH.md: Markdown and the chart
// (svg, a path relative to BENCH.md; none if empty).
func (r *Report) Section(svg string) string {
	s := r.Markdown()
	if svg != "" {
		s += "\n![Per-spawn latency against caller size, bare variants, one line per method; " +
			"whiskers: the range of the round medians](" + svg + ")\n"
	}
	return s
}

// The table footnote markers.
const (
	maxMark  = "†" // the max instead of the p99
	overMark = "‡" // more threads than host cores
)

// p99Min is the fewest latencies for which the report prints the p99: the
// top 1% then holds at least 10 spawns.
const p99Min = 1000

var variants = []struct{ id, title, what string }{
	{results.VariantBare, "Bare variants", "each method spawns the program with its path and argv only"},
	{results.VariantRealistic, "Realistic variants",
		"each method also gives the child stdin, stdout and stderr on /dev/null, from a descriptor the caller holds open, " +
			"a 30-variable environment and a working directory"},
	{results.VariantAttrs, "Attributes variants",
		"the Go methods give the child what the realistic variants give it and a SysProcAttr with every field that spawn.Cmd " +
			"does through an embryo and that needs no terminal: Setsid, a Credential (the caller's ids, no supplementary groups), " +
			"Chroot \"/\", UseCgroupFD (the caller's own cgroup) and Pdeathsig; the ratios are to os/exec given the same fields " +
			"(vfork+execve has no such fields)"},
}

// baselines names the baselines of the ratios, for a sentence that covers
// every variant.
func baselines() string {
	return results.Label(results.Baseline) + " (" + shortLabel(results.AttrsBaseline) + " in the attributes variants)"
}

// Tables returns the Markdown tables, one section per variant: median
// per-spawn latency and aggregate throughput as multiples of the
// variant's baseline in the same cell (caller size and thread count),
// with their intervals, then the absolute numbers.
func (r *Report) Tables() string {
	g := r.g
	if len(g.keys) == 0 {
		return "No results.\n"
	}
	var b strings.Builder
	withCI := false
	for _, rt := range r.ratios {
		withCI = withCI || (rt.lat.HasCI() && rt.lat.Lo != rt.lat.Hi)
	}
	if withCI {
		fmt.Fprintf(&b, "Ratios are to %s of the same variant in the same row; in brackets their 95%% confidence interval "+
			"(paired two-level bootstrap: the same rounds drawn for both methods, then spawns within each round; "+
			"%d resamples). **Bold**: the interval excludes 1.00×, the difference is significant.\n",
			baselines(), cmp.Or(Bootstrap.Resamples, results.DefaultResamples))
	} else {
		fmt.Fprintf(&b, "Ratios are to %s of the same variant in the same row; the results have no per-round latencies, "+
			"so there are no intervals.\n", baselines())
	}
	notes := map[string]bool{}
	for _, v := range variants {
		methods := g.variantMethods(v.id)
		if len(methods) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n%s.\n\n", v.title, upperFirst(v.what))
		base := shortLabel(baselineOf(methods[0]))
		fmt.Fprintf(&b, "**Per-spawn %s**, median, as a multiple of %s (lower is better):\n\n",
			cond(r.counted, "instruction count", "latency"), base)
		r.ratioTable(&b, methods, func(rt ratio) results.Interval { return rt.lat }, notes)
		fmt.Fprintf(&b, "\n**Aggregate throughput** of all threads, %s, as a multiple of %s (higher is better):\n\n", r.units.per, base)
		r.ratioTable(&b, methods, func(rt ratio) results.Interval { return rt.rate }, notes)
		r.scalingTable(&b, methods)
		fmt.Fprintf(&b, "\n**Absolute numbers** (%s from spawn until the child is reaped, over every timed spawn of every round; "+
			"round medians: the lowest and highest median of a round; %s is the median of the rounds):\n\n",
			cond(r.counted, "guest instructions, in thousands,", "latency"), r.units.rate)
		r.absoluteTable(&b, methods, notes)
	}
	var foot strings.Builder
	if notes[maxMark] {
		fmt.Fprintf(&foot, "%s Fewer than %d latencies in the cell: its p99 would rest on fewer than 10 spawns, "+
			"so the table shows the max instead.\n", maxMark, p99Min)
	}
	if notes[overMark] {
		hostN, vcpus := r.hostCores()
		fmt.Fprintf(&foot, "%s More spawning threads than the %d host cores behind the VM's %d vCPUs: "+
			"these rows measure how the emulator shares the host as much as the kernel.\n", overMark, hostN, vcpus)
	}
	foot.WriteString(g.unavailable())
	if foot.Len() > 0 {
		b.WriteString("\n" + foot.String())
	}
	return b.String()
}

// hostCores returns the host cores and vCPUs of the run, from the meta
// data or else the cells.
func (r *Report) hostCores() (hostN, vcpus int) {
	hostN, vcpus = r.meta.HostNproc, r.meta.VCPUs
	for _, c := range r.cells {
		hostN, vcpus = cmp.Or(hostN, c.HostNproc), cmp.Or(vcpus, c.VCPUs)
	}
	return hostN, vcpus
}

// threadsCell formats the thread count of a row, marked when the row has
// more threads than the host cores (or vCPUs) behind it.
func (r *Report) threadsCell(k key, notes map[string]bool) string {
	hostN, vcpus := r.hostCores()
	for _, c := range r.g.cells[k] {
		hostN, vcpus = cmp.Or(c.HostNproc, hostN), cmp.Or(c.VCPUs, vcpus)
	}
	if (hostN > 0 && k.threads > hostN) || (vcpus > 0 && k.threads > vcpus) {
		notes[overMark] = true
		return fmt.Sprintf("%d%s", k.threads, overMark)
	}
	return fmt.Sprint(k.threads)
}

// ratioTable writes one row per sweep cell and one column per method of
// the interval pick chooses.
func (r *Report) ratioTable(b *strings.Builder, methods []string, pick func(ratio) results.Interval, notes map[string]bool) {
	methodsHeader(b, methods)
	for _, k := range r.g.keys {
		fmt.Fprintf(b, "| %s | %s |", Size(k.rss), r.threadsCell(k, notes))
		for _, id := range methods {
			c, ok := r.g.cells[k][id]
			rt := r.ratios[ratioKey{k, id}]
			switch {
			case !ok:
				b.WriteString(" |")
			case !c.Available:
				b.WriteString(" n/a |")
			case !rt.ok:
				b.WriteString(" — |")
			default:
				fmt.Fprintf(b, " %s |", RatioCI(pick(rt)))
			}
		}
		b.WriteString("\n")
	}
}

// methodsHeader writes the head of a table with a row per sweep cell and
// a column per method.
func methodsHeader(b *strings.Builder, methods []string) {
	b.WriteString("| caller | threads |")
	for _, id := range methods {
		fmt.Fprintf(b, " %s |", shortLabel(id))
	}
	b.WriteString("\n|---:|---:|")
	for range methods {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
}

// absoluteTable writes a row per sweep cell and method.
func (r *Report) absoluteTable(b *strings.Builder, methods []string, notes map[string]bool) {
	u := r.units.lat
	fmt.Fprintf(b, "| caller | threads | method | median %s | round medians %s | p99 %s | min %s | max %s | %s | spawns × rounds |\n",
		u, u, u, u, u, r.units.rate)
	b.WriteString("|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range r.g.keys {
		for _, id := range methods {
			c, ok := r.g.cells[k][id]
			if !ok {
				continue
			}
			threads := r.threadsCell(k, notes)
			if !c.Available {
				fmt.Fprintf(b, "| %s | %s | %s | n/a | | | | | | |\n", Size(k.rss), threads, shortLabel(id))
				continue
			}
			spread := "—"
			if len(c.RepMedianUS) > 0 {
				spread = Num(slices.Min(c.RepMedianUS)) + "–" + Num(slices.Max(c.RepMedianUS))
			}
			p99 := Num(c.P99US)
			if c.Iterations < p99Min {
				p99 = "max " + Num(c.MaxUS) + maxMark
				notes[maxMark] = true
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d × %d |\n",
				Size(k.rss), threads, shortLabel(id), Num(c.MedianUS), spread, p99,
				Num(c.MinUS), Num(c.MaxUS), Num(c.SpawnsPerSec), c.Iterations/max(c.Repetitions, 1), c.Repetitions)
		}
	}
}

// RatioCI formats a ratio with its interval, "1.07× (0.98–1.15)", the
// ratio in bold when the interval excludes 1.
func RatioCI(iv results.Interval) string {
	s := Ratio(iv.Point)
	if iv.Excludes(1) {
		s = "**" + s + "**"
	}
	return s + intervalSuffix(iv)
}

// intervalSuffix is " (lo–hi)" for an interval that has one, else "".
func intervalSuffix(iv results.Interval) string {
	if !iv.HasCI() || iv.Lo == iv.Hi {
		return ""
	}
	return fmt.Sprintf(" (%s–%s)", strings.TrimSuffix(Ratio(iv.Lo), "×"), strings.TrimSuffix(Ratio(iv.Hi), "×"))
}

// shortLabel is a method's label within its variant's section: the label
// of its family.
func shortLabel(id string) string {
	if m, ok := results.MethodByID(id); ok {
		return results.Label(m.Family)
	}
	return id
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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

	// CompareBegin and CompareEnd delimit the comparison of two runs.
	CompareBegin = "<!-- bench-compare:begin -->"
	CompareEnd   = "<!-- bench-compare:end -->"

	// CountedBegin and CountedEnd delimit the section of a counted run
	// ('make bench BENCH_ICOUNT=1').
	CountedBegin = "<!-- bench-counted:begin: generated by 'make bench BENCH_ICOUNT=1' (bench/cmd/benchreport); edits between the markers are overwritten -->"
	CountedEnd   = "<!-- bench-counted:end -->"
)

// Markers returns the markers of the section of BENCH.md that a run's
// report replaces: the counted section for a counted run.
func (r *Report) Markers() (begin, end string) {
	if r.counted {
		return CountedBegin, CountedEnd
	}
	return BeginMarker, EndMarker
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
	if threads := threadCounts(cells); len(threads) > 0 {
		fmt.Fprintf(&b, "- Threads: %s spawning at once", joinInts(threads))
		switch {
		case hostN > 0 && vcpus > 0:
			fmt.Fprintf(&b, ", on %d vCPUs backed by %d host cores", vcpus, hostN)
		case vcpus > 0:
			fmt.Fprintf(&b, ", on %d CPUs", vcpus)
		}
		if top := threads[len(threads)-1]; hostN > 0 && top > hostN {
			fmt.Fprintf(&b, " (rows with more than %d threads oversubscribe the host)", hostN)
		}
		b.WriteString("\n")
	}
	if meta.Passes > 0 || meta.Rounds > 0 {
		fmt.Fprintf(&b, "- Sweep: %d passes over the programs and caller sizes, %d rounds of every method and thread count "+
			"in each, all in random order (seed %d); ", meta.Passes, meta.Rounds, meta.Seed)
		switch {
		case meta.Schedule == "spawns" && meta.Block > 1:
			fmt.Fprintf(&b, "in each round, the methods of one thread count interleaved in blocks "+
				"(gospawn -x -xb %d: a step makes %d spawns of each method in a row, the methods in an order drawn anew for each step)\n",
				meta.Block, meta.Block)
		case meta.Schedule == "spawns":
			b.WriteString("in each round, the methods of one thread count interleaved spawn by spawn " +
				"(gospawn -x: a step makes one spawn of each method, in an order drawn anew for each step)\n")
		default:
			b.WriteString("a cell's rounds are interleaved with every other cell's\n")
		}
	}
	switch {
	case results.Counted(meta, cells):
		fmt.Fprintf(&b, "- Clock: counted, QEMU `-icount %s`: the guest's clocks advance 1 ns per instruction any vCPU executes "+
			"and jump over idle time\n", cmp.Or(meta.ICount, results.ICountOptions))
		b.WriteString("\n> **These are instruction counts, not times.** QEMU counted the instructions the guest executed: " +
			"a latency of 1 µs in results.jsonl is 1000 instructions, whatever the host did meanwhile. " +
			"The counts see no cache or TLB misses, no cost of a context switch beyond its instructions, and no I/O wait.")
		if vcpus > 1 {
			b.WriteString(" The vCPUs ran in turn on one host thread, and guest time counts the instructions of all of them: " +
				"a multi-thread row's latencies include the other threads' instructions, and its throughput shows " +
				"no parallel speed-up.")
		}
		b.WriteString("\n")
	case accel == "tcg":
		b.WriteString("\n> **These are QEMU TCG (software emulation) times, not hardware times.** " +
			"Emulation slows some operations far more than others, so only compare methods within one run, " +
			"through the ratios; the absolute microseconds say little about a real machine.")
		if vcpus > hostN && hostN > 0 {
			fmt.Fprintf(&b, " The VM had %d vCPUs on %d host cores: rows with more threads than host cores "+
				"measure the emulator sharing the host as much as the kernel.", vcpus, hostN)
		}
		b.WriteString("\n")
	case accel == "kvm":
		b.WriteString("\n> Times in a KVM guest: close to, but not the same as, bare-metal times.\n")
	}
	return b.String()
}

// threadCounts returns the distinct thread counts of the cells, ascending.
func threadCounts(cells []results.Cell) []int {
	var ts []int
	for _, c := range cells {
		if !slices.Contains(ts, c.Threads) {
			ts = append(ts, c.Threads)
		}
	}
	slices.Sort(ts)
	return ts
}

// joinInts writes 1, 2 and 4.
func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Replace returns doc with the text between the BENCH.md markers replaced
// by section.
func Replace(doc, section string) (string, error) {
	return ReplaceBetween(doc, BeginMarker, EndMarker, section)
}

// ReplaceBetween returns doc with the text between the lines begin and
// end replaced by section; each marker must be there once, in that order.
func ReplaceBetween(doc, begin, end, section string) (string, error) {
	i := strings.Index(doc, begin)
	j := strings.Index(doc, end)
	if i < 0 || j < 0 {
		return "", errors.New("markers not found: it needs a line " + begin + " and a line " + end)
	}
	if j < i {
		return "", errors.New("the end marker " + end + " comes before the begin marker")
	}
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return "", errors.New("more than one pair of markers " + begin + " and " + end)
	}
	start := i + len(begin)
	return doc[:start] + "\n" + strings.TrimRight(section, "\n") + "\n" + doc[j:], nil
}
