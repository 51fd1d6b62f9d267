// Package reliability holds what one VM run of the suite says about the
// series' reliability (issue 18): the stress's figures, the kernel's error
// reports and KCSAN races, and the coverage of the series' own lines. A
// Run is extracted from a console log (and, for coverage, the kernel build
// and the gcov counters the guest copied out), kept as JSON under
// reliability/runs/, and rendered into RELIABILITY.md.
package reliability

import (
	"bufio"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
	"github.com/emptypidfd/emptypidfd/reliability/coverage"
	"github.com/emptypidfd/emptypidfd/reliability/stresslog"
)

// A Run is one VM run's figures.
type Run struct {
	Name    string // the file's stem under reliability/runs/
	Flavour string // the kernel flavour: debug, race, plain
	Kernel  string // the "Linux version" line's release
	CmdLine string // the kernel command line
	// Sanitizers says which of KASAN and KCSAN the kernel's boot log
	// shows (BootedFlavour).
	Sanitizers []string
	Tests      Tally // guest test results ("--- PASS" lines and friends)
	Stress     []stresslog.Record
	Findings   []consolelog.Finding // kernel error reports, KCSAN's apart
	Races      []Race
	Kmemleak   string // guestrun's kmemleak line
	Coverage   []FileCoverage
}

// Tally counts guest test results, subtests included.
type Tally struct{ Pass, Fail, Skip int }

// A Race is one KCSAN report, judged as the VM run judges it.
type Race struct {
	Header string
	Series string // the series' function on its stacks; "" if none
}

// FileCoverage is the coverage of one file's added lines.
type FileCoverage struct {
	Path         string
	Counters     bool // the run produced gcov counters for it
	Added        int  // lines the series adds
	Lines        int  // of those, instrumented
	Reached      int
	Branches     int
	Taken        int
	ErrorPaths   int // added error returns (coverage.IsErrorPath)
	ErrorReached int
	Unreached    []Unreached
}

// Unreached is one added, instrumented line that never ran.
type Unreached struct {
	N     int
	Func  string
	Text  string
	Error bool   // an error return
	How   string // for an error return: why it does not count as reached
}

var (
	versionRe = regexp.MustCompile(`Linux version (\S+)`)
	cmdlineRe = regexp.MustCompile(`Command line: (.*)`)
	resultRe  = regexp.MustCompile(`^\s*--- (PASS|FAIL|SKIP): `)
	leakRe    = regexp.MustCompile(`vmrun-guest: kmemleak: .*`)
)

// FromConsole reads a console log into a Run: everything but coverage.
// scope tells the series' functions, for judging KCSAN reports (nil: all
// of them are the series').
func FromConsole(path string, scope func(string) bool) (*Run, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reliability: %w", err)
	}
	r := &Run{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if m := versionRe.FindStringSubmatch(line); m != nil && r.Kernel == "" {
			r.Kernel = m[1]
		}
		if m := cmdlineRe.FindStringSubmatch(line); m != nil && r.CmdLine == "" {
			r.CmdLine = strings.TrimSpace(m[1])
		}
		if m := resultRe.FindStringSubmatch(line); m != nil {
			switch m[1] {
			case "PASS":
				r.Tests.Pass++
			case "FAIL":
				r.Tests.Fail++
			case "SKIP":
				r.Tests.Skip++
			}
		}
		if m := leakRe.FindString(line); m != "" {
			r.Kmemleak = m
		}
		for _, san := range []struct{ name, line string }{{"KASAN", "KernelAddressSanitizer initialized"}, {"KCSAN", "kcsan: enabled"}} {
			if strings.Contains(line, san.line) && !slices.Contains(r.Sanitizers, san.name) {
				r.Sanitizers = append(r.Sanitizers, san.name)
			}
		}
	}
	if r.Stress, err = stresslog.Parse(strings.NewReader(string(b))); err != nil {
		return nil, err
	}
	findings, err := consolelog.Scan(strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	r.Findings = slices.DeleteFunc(findings, func(f consolelog.Finding) bool { return f.Kind == "kcsan" })
	races, err := consolelog.ScanRaces(strings.NewReader(string(b)))
	if err != nil {
		return nil, err
	}
	for _, rr := range races {
		in := func(fn string) bool { return scope == nil || scope(fn) }
		fn, _ := rr.Touches(in, 3)
		switch {
		case !rr.Complete():
			fn = "(a report not read whole: judged the series')"
		case scope == nil && fn == "":
			fn = "(no series diff to judge by)"
		}
		r.Races = append(r.Races, Race{Header: rr.Header, Series: fn})
	}
	return r, nil
}

// BootedFlavour is the kernel flavour the boot log shows: "debug" (KASAN),
// "race" (KCSAN) or "plain" (neither); "" for a log without a boot.
func (r *Run) BootedFlavour() string {
	switch {
	case r.Kernel == "":
		return ""
	case slices.Contains(r.Sanitizers, "KCSAN"):
		return "race"
	case slices.Contains(r.Sanitizers, "KASAN"):
		return "debug"
	}
	return "plain"
}

// Coverage measures the coverage of the series' added lines: d is the
// series' diff, kbuild the kernel build (its .gcno notes files), gcda the
// directory the guest copied /sys/kernel/debug/gcov to, where each
// object's counters are under the build directory's absolute path. It
// runs gcov.
func Coverage(d *coverage.Diff, kbuild, gcda string) ([]FileCoverage, error) {
	if _, err := os.Stat(gcda); err != nil {
		return nil, fmt.Errorf("reliability: no gcov counters: %w (was the run's kernel built with CONFIG_GCOV_KERNEL, the debug flavour?)", err)
	}
	abs, err := filepath.Abs(kbuild)
	if err != nil {
		return nil, err
	}
	var out []FileCoverage
	for _, path := range slices.Sorted(maps.Keys(d.Added)) {
		fc := FileCoverage{Path: path, Added: len(d.Added[path])}
		obj := strings.TrimSuffix(path, ".c")
		notes := filepath.Join(abs, obj+".gcno")
		// The object's own counters, by its full path: another object
		// of the same name (arch/x86/kernel/signal.o beside
		// kernel/signal.o) has its own.
		data := filepath.Join(gcda, abs, obj+".gcda")
		_, nerr := os.Stat(notes)
		_, derr := os.Stat(data)
		if nerr != nil || derr != nil {
			out = append(out, fc)
			continue
		}
		lines, err := runGcov(notes, data, path)
		if err != nil {
			return nil, err
		}
		rep := coverage.Report(path, d.Added[path], lines, true)
		fc.Counters = true
		fc.Reached, fc.Lines = rep.Reached()
		fc.Taken, fc.Branches = rep.BranchesTaken()
		for _, e := range rep.Errors {
			fc.ErrorPaths++
			if e.Reached {
				fc.ErrorReached++
				continue
			}
			fc.Unreached = append(fc.Unreached, Unreached{N: e.N, Func: e.Func, Text: strings.TrimSpace(e.Text), Error: true, How: e.How})
		}
		for _, l := range rep.Unreached() {
			fc.Unreached = append(fc.Unreached, Unreached{N: l.N, Func: l.Func, Text: strings.TrimSpace(l.Text)})
		}
		out = append(out, fc)
	}
	return out, nil
}

// runGcov runs gcov on one object's notes and counters, in a directory of
// its own, and returns the lines of source.
func runGcov(notes, data, source string) (map[int]coverage.Line, error) {
	dir, err := os.MkdirTemp("", "gcov-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	stem := strings.TrimSuffix(filepath.Base(source), ".c")
	for src, dst := range map[string]string{notes: stem + ".gcno", data: stem + ".gcda"} {
		if err := copyFile(filepath.Join(dir, dst), src); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("gcov", "-j", "-b", "-o", dir, stem+".c")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("reliability: gcov on %s: %w\n%s", source, err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.gcov.json.gz"))
	if len(matches) != 1 {
		return nil, fmt.Errorf("reliability: gcov on %s wrote %d JSON files, want 1", source, len(matches))
	}
	f, err := os.Open(matches[0])
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return coverage.ParseGcovJSON(f, source)
}

func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
