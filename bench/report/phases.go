package report

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// ReadPhases reads phases.jsonl, the per-phase breakdown, one Phase a
// line.
func ReadPhases(path string) ([]results.Phase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var phases []results.Phase
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var p results.Phase
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		phases = append(phases, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return phases, nil
}

// PhaseTable is the per-phase breakdown of the report's phases.
func (r *Report) PhaseTable() string { return phaseTable(r.phases, r.units) }

// PhaseTable returns the per-phase breakdown as a Markdown table: for each
// method (in results.Methods order), a row per step in order, then the
// total, the median of whole spawns (the step named "total") or, without
// it, the sum of the step medians; and which step weighs most in each.
// Steps that run alongside another ("alongside" in their description) are
// shown but do not count for the largest step.
func PhaseTable(phases []results.Phase) string { return phaseTable(phases, unitsOf(false)) }

func phaseTable(phases []results.Phase, u units) string {
	if len(phases) == 0 {
		return ""
	}
	byMethod := map[string][]results.Phase{}
	var methods []string
	for _, p := range phases {
		if byMethod[p.Method] == nil {
			methods = append(methods, p.Method)
		}
		byMethod[p.Method] = append(byMethod[p.Method], p)
	}
	order := func(id string) int {
		if i := slices.IndexFunc(results.Methods, func(m results.Method) bool { return m.ID == id }); i >= 0 {
			return i
		}
		return len(results.Methods)
	}
	slices.SortFunc(methods, func(a, b string) int { return cmp.Or(cmp.Compare(order(a), order(b)), strings.Compare(a, b)) })

	var b strings.Builder
	fmt.Fprintf(&b, "\n### %s\n\n", u.where)
	fmt.Fprintf(&b, "Each step of a spawn, from one milestone to another: the median in %s over the spawns measured, "+
		"with the 25th–75th percentiles, and its share of the median whole spawn (start → reaped). Milestones are "+
		"stamped by the caller (CLOCK_MONOTONIC after each system call) or by the kernel's "+
		"sched_process_fork/exec/exit tracepoints (trace_clock mono). Steps marked *alongside* overlap the "+
		"caller's steps, so the shares do not add up to 100%%.\n\n", u.lat)
	fmt.Fprintf(&b, "| method | step | what runs | median %s (p25–p75) | share | spawns |\n", u.lat)
	b.WriteString("|:---|:---|:---|---:|---:|---:|\n")
	var largest []string
	for _, id := range methods {
		steps := byMethod[id]
		slices.SortStableFunc(steps, func(a, b results.Phase) int { return cmp.Compare(a.Step, b.Step) })
		total, totalStep := 0.0, -1
		for i, p := range steps {
			if p.Syscalls == "total" {
				total, totalStep = p.MedianUS, i
			}
		}
		if totalStep < 0 {
			for _, p := range steps {
				total += p.MedianUS
			}
		}
		var top *results.Phase
		first := true
		for i, p := range steps {
			if i == totalStep {
				continue
			}
			label := ""
			if first {
				label, first = results.Label(id), false
			}
			what := p.Syscalls
			alongside := strings.Contains(what, "alongside")
			if alongside {
				what = "*" + what + "*"
			}
			fmt.Fprintf(&b, "| %s | %s → %s | %s | %s (%s–%s) | %s | %d |\n", label, p.From, p.To, what,
				Num(p.MedianUS), Num(p.P25US), Num(p.P75US), share(p.MedianUS, total), p.N)
			if !alongside && (top == nil || p.MedianUS > top.MedianUS) {
				top = &steps[i]
			}
		}
		if totalStep >= 0 {
			t := steps[totalStep]
			fmt.Fprintf(&b, "| | **start → reaped** | whole spawn | **%s** (%s–%s) | | %d |\n", Num(t.MedianUS), Num(t.P25US), Num(t.P75US), t.N)
		} else {
			fmt.Fprintf(&b, "| | **total** (sum of the step medians) | | **%s** | | |\n", Num(total))
		}
		if top != nil {
			largest = append(largest, fmt.Sprintf("%s: %s → %s (%s)", results.Label(id), top.From, top.To, share(top.MedianUS, total)))
		}
	}
	fmt.Fprintf(&b, "\nThe largest step: %s.\n", strings.Join(largest, "; "))
	return b.String()
}

// share formats part/total as a percentage.
func share(part, total float64) string {
	if total <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*part/total)
}
