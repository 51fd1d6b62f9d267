package reliability

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emptypidfd/emptypidfd/reliability/stresslog"
)

// Reasons says why an unreached line is not reached, keyed by ReasonKey.
type Reasons map[string]string

// ReasonKey keys a line by file, function and trimmed text, which survive
// the line moving.
func ReasonKey(file, fn, text string) string {
	return file + "\t" + fn + "\t" + strings.TrimSpace(text)
}

// ParseReasons reads reliability/unreached.txt: one line per unreached
// line, "file<TAB>function<TAB>source text<TAB>reason"; '#' starts a
// comment line.
func ParseReasons(r io.Reader) (Reasons, error) {
	out := Reasons{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 || f[3] == "" {
			return nil, fmt.Errorf("reliability: reasons line %d: want file, function, text and reason, tab-separated: %q", n, line)
		}
		out[ReasonKey(f[0], f[1], f[2])] = f[3]
	}
	return out, sc.Err()
}

// The markers around the generated part of RELIABILITY.md.
const (
	beginMarker = "<!-- reliabilityreport: begin (generated; edit reliability/, not this) -->"
	endMarker   = "<!-- reliabilityreport: end -->"
)

// Splice replaces the generated part of md (between the markers) by gen.
func Splice(md, gen string) (string, error) {
	i := strings.Index(md, beginMarker)
	j := strings.Index(md, endMarker)
	if i < 0 || j < i {
		return "", errors.New("reliability: RELIABILITY.md lacks the generated section's markers")
	}
	return md[:i+len(beginMarker)] + "\n" + gen + md[j:], nil
}

// Render writes the generated part of RELIABILITY.md for runs (oldest
// first): the runs, the stress figures of each, the data races of each,
// and the coverage of the newest run that has it.
func Render(runs []*Run, reasons Reasons) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("\n## The runs\n\n")
	p("| run | kernel | command line (stress knobs) | guest tests pass/fail/skip | kernel reports | KCSAN reports: the series' / the base kernel's | kmemleak |\n")
	p("|---|---|---|---|---:|---|---|\n")
	for _, r := range runs {
		series, base := r.raceCounts()
		kcsan := "not this flavour"
		if r.Flavour == "race" {
			kcsan = fmt.Sprintf("%d / %d", series, base)
		}
		p("| %s | %s (%s) | %s | %d/%d/%d | %d | %s | %s |\n", r.Name, r.Kernel, r.Flavour, knobs(r.CmdLine),
			r.Tests.Pass, r.Tests.Fail, r.Tests.Skip, len(r.Findings), kcsan, strings.TrimPrefix(r.Kmemleak, "vmrun-guest: kmemleak: "))
	}
	for _, r := range runs {
		p("\n## Stress: %s\n\n", r.Name)
		p("| test | figures |\n|---|---|\n")
		for _, test := range []string{"TestStress", "TestFaultInjection", "TestSoak"} {
			f, ok := stresslog.Figures(r.Stress, test)
			if !ok {
				p("| %s | did not run |\n", test)
				continue
			}
			var kv []string
			for _, k := range f.Keys {
				if k != "test" {
					kv = append(kv, k+"="+f.Get(k))
				}
			}
			p("| %s | %s |\n", test, strings.Join(kv, " "))
		}
		if faults := stresslog.Of(r.Stress, "faults", "TestFaultInjection"); len(faults) > 0 {
			p("\nFault injection per call (fail-nth over each fault site the call passes):\n\n")
			p("| call | sites | injected | absorbed | results of the iterations (errnos; for the exec, started and killed processes) |\n|---|---:|---:|---:|---|\n")
			for _, f := range faults {
				var errnos []string
				for _, k := range f.Keys {
					switch k {
					case "test", "call", "sites", "injected", "tolerated", "iterations", "converged":
					default:
						errnos = append(errnos, k+" "+f.Get(k))
					}
				}
				p("| %s | %s | %s | %s | %s |\n", f.Get("call"), f.Get("sites"), f.Get("injected"), f.Get("tolerated"), strings.Join(errnos, ", "))
			}
		}
		if r.Flavour == "race" {
			p("\nKCSAN reports of this run (a report is the series' when the top three frames of a racing access's stack hold a function the series changes):\n\n")
			if len(r.Races) == 0 {
				p("none\n")
			}
			for _, rc := range r.Races {
				who := "the base kernel's"
				if rc.Series != "" {
					who = "**the series'** (" + rc.Series + ")"
				}
				p("- %s: %s\n", who, rc.Header)
			}
		}
	}
	cov := CoverageRun(runs)
	if cov == nil {
		p("\n## Coverage\n\nNo run with coverage counters yet (a debug-flavour run, then `make reliability`).\n")
		return b.String()
	}
	renderCoverage(&b, cov, reasons)
	return b.String()
}

func renderCoverage(b *strings.Builder, r *Run, reasons Reasons) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("\n## Coverage of the series' lines (%s)\n\n", r.Name)
	p("gcov over the lines the series adds to each C file (the whole suite and the stress of that run). ")
	p("\"Instrumented\" lines are those gcov counts (declarations, braces and comments are not).\n\n")
	p("| file | added | instrumented | reached | branches taken | error returns reached |\n|---|---:|---:|---:|---:|---:|\n")
	var t FileCoverage
	for _, f := range r.Coverage {
		if !f.Counters {
			p("| %s | %d | no counters | | | |\n", f.Path, f.Added)
			continue
		}
		p("| %s | %d | %d | %s | %s | %d/%d |\n", f.Path, f.Added, f.Lines, pct(f.Reached, f.Lines), pct(f.Taken, f.Branches), f.ErrorReached, f.ErrorPaths)
		t.Added += f.Added
		t.Lines += f.Lines
		t.Reached += f.Reached
		t.Taken += f.Taken
		t.Branches += f.Branches
		t.ErrorReached += f.ErrorReached
		t.ErrorPaths += f.ErrorPaths
	}
	p("| **all** | %d | %d | %s | %s | %d/%d |\n", t.Added, t.Lines, pct(t.Reached, t.Lines), pct(t.Taken, t.Branches), t.ErrorReached, t.ErrorPaths)

	p("\n### Error returns never reached\n\n")
	p("An error return with no counter of its own (most, at -O2) counts as reached when the condition guarding it took every outcome of its branches. ")
	p("Each one not shown reached, with the reason (reliability/unreached.txt).\n\n| line | function | code | what the counters say | why not reached |\n|---|---|---|---|---|\n")
	none := true
	for _, f := range r.Coverage {
		for _, u := range f.Unreached {
			if !u.Error {
				continue
			}
			none = false
			why := reasons[ReasonKey(f.Path, u.Func, u.Text)]
			if why == "" {
				why = "**no reason recorded**"
			}
			p("| %s:%d | %s | %s | %s | %s |\n", f.Path, u.N, u.Func, codeCell(u.Text), cell(u.How), cell(why))
		}
	}
	if none {
		p("| | | | | every error return the series adds was reached |\n")
	}
	p("\n### Other lines never reached\n\n")
	for _, f := range r.Coverage {
		var lines []string
		for _, u := range f.Unreached {
			if !u.Error {
				lines = append(lines, fmt.Sprintf("%5d  %-32s %s", u.N, u.Func, u.Text))
			}
		}
		if len(lines) == 0 {
			continue
		}
		p("<details><summary>%s: %d lines</summary>\n\n```\n%s\n```\n\n</details>\n\n", f.Path, len(lines), strings.Join(lines, "\n"))
	}
}

// cell makes text safe in a table cell: a '|' would end it.
func cell(text string) string { return strings.ReplaceAll(text, "|", "\\|") }

// codeCell is text as code in a table cell, with a code span whose
// backticks outnumber any run of them in text.
func codeCell(text string) string {
	fence := "`"
	for strings.Contains(text, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(text, "`") || strings.HasSuffix(text, "`") {
		pad = " "
	}
	return fence + pad + cell(text) + pad + fence
}

// CoverageRun returns the newest of runs (oldest first) with coverage,
// the one Render reports and the reasons are checked against; nil if none.
func CoverageRun(runs []*Run) *Run {
	var cov *Run
	for _, r := range runs {
		if len(r.Coverage) > 0 {
			cov = r
		}
	}
	return cov
}

// Unexplained returns the unreached error returns of r that reasons does
// not explain, as "file:line function: text".
func (r *Run) Unexplained(reasons Reasons) []string {
	var out []string
	for _, f := range r.Coverage {
		for _, u := range f.Unreached {
			if u.Error && reasons[ReasonKey(f.Path, u.Func, u.Text)] == "" {
				out = append(out, fmt.Sprintf("%s:%d %s: %s", f.Path, u.N, u.Func, u.Text))
			}
		}
	}
	return out
}

func (r *Run) raceCounts() (series, base int) {
	for _, rc := range r.Races {
		if rc.Series != "" {
			series++
		} else {
			base++
		}
	}
	return series, base
}

// knobs keeps the command line's stress settings (STRESS_*=...).
func knobs(cmdline string) string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		if strings.HasPrefix(f, "STRESS_") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return "defaults (the smoke)"
	}
	return strings.Join(out, " ")
}

func pct(n, of int) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%.1f%%)", n, of, 100*float64(n)/float64(of))
}
