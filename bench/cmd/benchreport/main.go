// Command benchreport turns the spawn benchmark's results.jsonl (and
// phases.jsonl beside it, if there is one) into table.md and latency.svg,
// and with -benchmd refreshes the generated section of BENCH.md and the
// chart it shows. 'make bench' runs it after the VM run:
//
//	benchreport -in bench/out/results.jsonl -meta bench/out/meta.json -out bench/out \
//	    -benchmd BENCH.md -svg bench/latency.svg
//
// A counted run ('make bench BENCH_ICOUNT=1', whose meta.json says mode
// "counted") refreshes the counted section of BENCH.md instead, and its
// chart is bench/latency-icount.svg; with -timed, the ratios of a timed
// run of the same sweep go beside its own:
//
//	benchreport -in bench/out-icount/results.jsonl -benchmd BENCH.md -timed bench/out/results.jsonl
//
// With -compare it compares the ratios of two independent runs instead,
// writes compare.md, and with -benchmd the comparison section of BENCH.md:
//
//	benchreport -compare runA/results.jsonl,runB/results.jsonl -benchmd BENCH.md
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
)

type options struct {
	in, meta, phases, out, benchMD, svg, timed string
	compare                                    []string // two results.jsonl, or none
}

// The charts BENCH.md shows, of a timed and of a counted run.
const (
	timedSVG   = "bench/latency.svg"
	countedSVG = "bench/latency-icount.svg"
)

func main() {
	var o options
	flag.StringVar(&o.in, "in", "bench/out/results.jsonl", "results, one JSON cell a line")
	flag.StringVar(&o.meta, "meta", "", "meta.json the host side of 'make bench' wrote (default: beside -in; optional)")
	flag.StringVar(&o.phases, "phases", "", "per-phase breakdown, one JSON step a line (default: phases.jsonl beside -in; optional)")
	flag.StringVar(&o.out, "out", "", "directory for table.md and latency.svg, or compare.md (default: the directory of -in, or of run B)")
	flag.StringVar(&o.benchMD, "benchmd", "", "BENCH.md whose generated section (a counted run: the counted section; with -compare: the comparison section) to replace (optional)")
	flag.StringVar(&o.svg, "svg", "", "with -benchmd: where the chart BENCH.md shows is written (default: "+timedSVG+", or "+countedSVG+" for a counted run)")
	flag.StringVar(&o.timed, "timed", "", "with a counted run: a timed run's results.jsonl (meta.json beside it) whose ratios go beside the counted ones (optional)")
	compare := flag.String("compare", "", "A,B: compare two runs' results.jsonl (each with its meta.json beside it) instead of reporting one")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *compare != "" {
		o.compare = strings.Split(*compare, ",")
		if len(o.compare) != 2 || o.compare[0] == "" || o.compare[1] == "" {
			fmt.Fprintf(os.Stderr, "benchreport: -compare takes two results.jsonl separated by a comma, not %q\n", *compare)
			os.Exit(2)
		}
	}
	var err error
	if o.compare != nil {
		err = runCompare(o)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

type file struct{ path, content string }

func run(o options) error {
	cells, err := readCells(o.in)
	if err != nil {
		return err
	}
	meta, err := readMeta(cmp.Or(o.meta, beside(o.in, "meta.json")))
	if err != nil {
		return err
	}
	phasesPath := cmp.Or(o.phases, beside(o.in, "phases.jsonl"))
	phases, err := report.ReadPhases(phasesPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && o.phases == "":
		// No breakdown in this run: no section.
	case err != nil:
		return fmt.Errorf("reading the phases: %w", err)
	}
	out := cmp.Or(o.out, filepath.Dir(o.in))

	rep := report.New(meta, cells, phases)
	if o.timed != "" {
		timed, err := readRun(o.timed)
		if err != nil {
			return err
		}
		if err := rep.AddTimed(timed, o.in); err != nil {
			return fmt.Errorf("-timed %s: %w", o.timed, err)
		}
	}
	subtitle := "kernel " + cmp.Or(meta.Kernel, cells[0].Kernel)
	switch accel := cmp.Or(meta.Accel, cells[0].Accel); {
	case rep.Counted():
		subtitle += ", QEMU -icount: instruction counts (1 µs = 1000 instructions), not times"
	case accel == "tcg":
		subtitle += ", QEMU TCG: emulated, not hardware times"
	}
	svg := report.SVG(cells, report.ChartThreads(cells), subtitle)
	files := []file{
		{filepath.Join(out, "table.md"), rep.Markdown()},
		{filepath.Join(out, "latency.svg"), svg},
	}
	if o.benchMD != "" {
		svgPath := cmp.Or(o.svg, cond(rep.Counted(), countedSVG, timedSVG))
		rel, err := filepath.Rel(filepath.Dir(o.benchMD), svgPath)
		if err != nil {
			return fmt.Errorf("the chart's path from %s: %w", o.benchMD, err)
		}
		begin, end := rep.Markers()
		doc, err := updateDoc(o.benchMD, begin, end, rep.Section(filepath.ToSlash(rel)))
		if err != nil {
			return err
		}
		files = append(files, file{svgPath, svg}, file{o.benchMD, doc})
	}
	return write(files)
}

func runCompare(o options) error {
	var runs [2]report.Run
	for i, path := range o.compare {
		var err error
		if runs[i], err = readRun(path); err != nil {
			return err
		}
	}
	md := report.Compare(runs[0], runs[1])
	files := []file{{filepath.Join(cmp.Or(o.out, filepath.Dir(o.compare[1])), "compare.md"), md}}
	if o.benchMD != "" {
		doc, err := updateDoc(o.benchMD, report.CompareBegin, report.CompareEnd, md)
		if err != nil {
			return err
		}
		files = append(files, file{o.benchMD, doc})
	}
	return write(files)
}

// readRun reads a run's results.jsonl and the meta.json beside it.
func readRun(path string) (report.Run, error) {
	cells, err := readCells(path)
	if err != nil {
		return report.Run{}, err
	}
	meta, err := readMeta(beside(path, "meta.json"))
	if err != nil {
		return report.Run{}, err
	}
	return report.Run{Path: path, Meta: meta, Cells: cells}, nil
}

func readCells(path string) ([]results.Cell, error) {
	cells, err := results.ReadCells(path)
	if err != nil {
		return nil, fmt.Errorf("reading the results: %w", err)
	}
	if len(cells) == 0 {
		return nil, fmt.Errorf("%s has no results", path)
	}
	return cells, nil
}

// readMeta reads meta.json; without one, the run info is partial.
func readMeta(path string) (results.Meta, error) {
	var meta results.Meta
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(os.Stderr, "benchreport: no %s: the run info will be partial\n", path)
		return meta, nil
	case err != nil:
		return meta, fmt.Errorf("reading the run's meta data: %w", err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return meta, fmt.Errorf("%s: %w", path, err)
	}
	return meta, nil
}

// updateDoc returns the document at path with section between the markers.
func updateDoc(path, begin, end, section string) (string, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the document to update: %w", err)
	}
	updated, err := report.ReplaceBetween(string(doc), begin, end, section)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return updated, nil
}

func beside(path, name string) string { return filepath.Join(filepath.Dir(path), name) }

func cond[T any](c bool, yes, no T) T {
	if c {
		return yes
	}
	return no
}

func write(files []file) error {
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		fmt.Println("benchreport: wrote", f.path)
	}
	return nil
}
