// Command reliabilityreport keeps RELIABILITY.md's generated section true
// to the runs it reports (issue 18). 'make reliability' runs it after a VM
// run of the FLAVOR kernel:
//
//	reliabilityreport -console build/logs/selftests.console.log \
//	    -kbuild build/kbuild-debug -gcda build/logs/selftests-out/gcov \
//	    -flavour debug -save reliability/runs/2026-12-05-debug.json \
//	    -runs reliability/runs -reasons reliability/unreached.txt -md RELIABILITY.md
//
// It extracts the run (the stress figures, kernel reports and KCSAN races
// from the console log, and, where the kernel has gcov, the coverage of the
// series' lines) into -save, then renders every run under -runs into the
// generated section of -md. Without -console it only renders. It fails if
// an unreached error return has no reason in -reasons, so that the list
// stays explained.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/emptypidfd/emptypidfd/reliability"
	"github.com/emptypidfd/emptypidfd/reliability/coverage"
)

func main() {
	var o options
	flag.StringVar(&o.console, "console", "", "the run's console log (empty: only render)")
	flag.StringVar(&o.kbuild, "kbuild", "", "the run kernel's build directory (series.diff, .gcno files)")
	flag.StringVar(&o.gcda, "gcda", "", "where the guest copied the gcov counters (empty or absent: no coverage)")
	flag.StringVar(&o.flavour, "flavour", "debug", "the run kernel's flavour")
	flag.StringVar(&o.save, "save", "", "where to keep the extracted run (JSON; its stem names the run)")
	flag.StringVar(&o.runs, "runs", "reliability/runs", "the directory of kept runs to render")
	flag.StringVar(&o.reasons, "reasons", "reliability/unreached.txt", "why each unreached error return is not reached")
	flag.StringVar(&o.md, "md", "RELIABILITY.md", "the file whose generated section is rewritten")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "reliabilityreport:", err)
		os.Exit(1)
	}
}

type options struct {
	console, kbuild, gcda, flavour, save, runs, reasons, md string
}

func run(o options) error {
	if o.console != "" {
		if err := extract(o); err != nil {
			return err
		}
	}
	runs, err := load(o.runs)
	if err != nil {
		return err
	}
	f, err := os.Open(o.reasons)
	if err != nil {
		return err
	}
	reasons, err := reliability.ParseReasons(f)
	f.Close()
	if err != nil {
		return err
	}
	md, err := os.ReadFile(o.md)
	if err != nil {
		return err
	}
	out, err := reliability.Splice(string(md), reliability.Render(runs, reasons))
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.md, []byte(out), 0o644); err != nil {
		return err
	}
	fmt.Printf("reliabilityreport: %s: %d run(s)\n", o.md, len(runs))
	// The run whose coverage the file shows is the one whose unreached
	// error returns must each have a reason.
	if cov := reliability.CoverageRun(runs); cov != nil {
		if u := cov.Unexplained(reasons); len(u) > 0 {
			return fmt.Errorf("%d unreached error return(s) of run %s without a reason in %s:\n  %s", len(u), cov.Name, o.reasons, strings.Join(u, "\n  "))
		}
	}
	return nil
}

func extract(o options) error {
	if o.save == "" || o.kbuild == "" {
		return errors.New("-console needs -save and -kbuild")
	}
	var diff *coverage.Diff
	if f, err := os.Open(filepath.Join(o.kbuild, "series.diff")); err == nil {
		diff, err = coverage.ParseDiff(f)
		f.Close()
		if err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var scope func(string) bool
	if diff != nil {
		scope = func(fn string) bool { return diff.Funcs[fn] }
	}
	r, err := reliability.FromConsole(o.console, scope)
	if err != nil {
		return err
	}
	r.Name = strings.TrimSuffix(filepath.Base(o.save), ".json")
	r.Flavour = o.flavour
	if booted := r.BootedFlavour(); booted != "" && booted != o.flavour {
		return fmt.Errorf("%s was booted on the %s kernel, not %s: make reliability FLAVOR=%s", o.console, booted, o.flavour, booted)
	}
	if _, err := os.Stat(o.gcda); o.gcda != "" && err == nil && diff != nil {
		if r.Coverage, err = reliability.Coverage(diff, o.kbuild, o.gcda); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.save), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.save, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("reliabilityreport: kept %s (%d stress lines, %d kernel reports, %d KCSAN reports, coverage of %d files)\n",
		o.save, len(r.Stress), len(r.Findings), len(r.Races), len(r.Coverage))
	return nil
}

// load reads every kept run, oldest (by name) first.
func load(dir string) ([]*reliability.Run, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var runs []*reliability.Run
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		var r reliability.Run
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		runs = append(runs, &r)
	}
	return runs, nil
}
