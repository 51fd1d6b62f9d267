// Command benchreport turns the spawn benchmark's results.jsonl into
// table.md and latency.svg, and with -benchmd refreshes the generated section
// of BENCH.md and the chart it shows. 'make bench' runs it after the VM run:
//
//	benchreport -in bench/out/results.jsonl -meta bench/out/meta.json -out bench/out \
//	    -benchmd BENCH.md -svg bench/latency.svg
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

	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
)

func main() {
	in := flag.String("in", "bench/out/results.jsonl", "results, one JSON cell a line")
	metaPath := flag.String("meta", "", "meta.json the host side of 'make bench' wrote (default: beside -in; optional)")
	out := flag.String("out", "", "directory for table.md and latency.svg (default: the directory of -in)")
	benchMD := flag.String("benchmd", "", "BENCH.md whose generated section to replace (optional)")
	svgCopy := flag.String("svg", "bench/latency.svg", "with -benchmd: where the chart BENCH.md shows is written")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *metaPath, *out, *benchMD, *svgCopy); err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
}

func run(in, metaPath, out, benchMD, svgCopy string) error {
	cells, err := results.ReadCells(in)
	if err != nil {
		return err
	}
	if len(cells) == 0 {
		return fmt.Errorf("%s has no results", in)
	}
	if out == "" {
		out = filepath.Dir(in)
	}
	if metaPath == "" {
		metaPath = filepath.Join(filepath.Dir(in), "meta.json")
	}
	var meta results.Meta
	switch b, err := os.ReadFile(metaPath); {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(os.Stderr, "benchreport: no %s: the run info will be partial\n", metaPath)
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &meta); err != nil {
			return fmt.Errorf("%s: %w", metaPath, err)
		}
	}

	threads := report.ChartThreads(cells)
	subtitle := "kernel " + cmp.Or(meta.Kernel, cells[0].Kernel)
	if accel := cmp.Or(meta.Accel, cells[0].Accel); accel == "tcg" {
		subtitle += ", QEMU TCG: emulated, not hardware times"
	}
	svg := report.SVG(cells, threads, subtitle)
	rep := report.New(meta, cells, nil)
	type file struct{ path, content string }
	files := []file{
		{filepath.Join(out, "table.md"), rep.Markdown()},
		{filepath.Join(out, "latency.svg"), svg},
	}
	if benchMD != "" {
		doc, err := os.ReadFile(benchMD)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(filepath.Dir(benchMD), svgCopy)
		if err != nil {
			return err
		}
		updated, err := report.Replace(string(doc), rep.Section(filepath.ToSlash(rel)))
		if err != nil {
			return fmt.Errorf("%s: %w", benchMD, err)
		}
		files = append(files, file{svgCopy, svg}, file{benchMD, updated})
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return err
		}
		fmt.Println("benchreport: wrote", f.path)
	}
	return nil
}
