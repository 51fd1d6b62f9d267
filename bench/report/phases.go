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

// PhaseTable returns the per-phase breakdown of the report's phases, or
// nothing if it has none.
func (r *Report) PhaseTable() string { return PhaseTable(r.phases) }

// PhaseTable returns the per-phase breakdown as a Markdown table: for each
// method (in results.Methods order), a row per step in order, then the
// total, the sum of the step medians; and which step weighs most in each.
func PhaseTable(phases []results.Phase) string {
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
	b.WriteString("\n### Where the time goes\n\n")
	b.WriteString("Each step of a spawn, from one milestone to the next: the median in µs over the spawns measured, " +
		"with the 25th–75th percentiles, and its share of the total. Milestones are stamped by the caller " +
		"(CLOCK_MONOTONIC around each system call) or by the kernel's sched_process_fork/exec/exit tracepoints. " +
		"The total is the sum of the step medians, not the median of whole spawns.\n\n")
	b.WriteString("| method | step | system calls | median µs (p25–p75) | share | spawns |\n")
	b.WriteString("|:---|:---|:---|---:|---:|---:|\n")
	var largest []string
	for _, id := range methods {
		steps := byMethod[id]
		slices.SortStableFunc(steps, func(a, b results.Phase) int { return cmp.Compare(a.Step, b.Step) })
		total := 0.0
		for _, p := range steps {
			total += p.MedianUS
		}
		top := steps[0]
		for i, p := range steps {
			label := ""
			if i == 0 {
				label = results.Label(id)
			}
			syscalls := ""
			if p.Syscalls != "" {
				syscalls = "`" + p.Syscalls + "`"
			}
			fmt.Fprintf(&b, "| %s | %s → %s | %s | %s (%s–%s) | %s | %d |\n", label, p.From, p.To, syscalls,
				Num(p.MedianUS), Num(p.P25US), Num(p.P75US), share(p.MedianUS, total), p.N)
			if p.MedianUS > top.MedianUS {
				top = p
			}
		}
		fmt.Fprintf(&b, "| | **total** | | **%s** | | |\n", Num(total))
		largest = append(largest, fmt.Sprintf("%s: %s → %s (%s)", results.Label(id), top.From, top.To, share(top.MedianUS, total)))
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
