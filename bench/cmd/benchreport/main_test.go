package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/results/resultstest"
)

// writeRun writes a fake run's results.jsonl and meta.json (and
// phases.jsonl if withPhases) into dir and returns the results' path.
func writeRun(t *testing.T, dir string, seed uint64, withPhases bool) string {
	t.Helper()
	return writeRunOf(t, dir, resultstest.Run{Seed: seed, Sizes: []int{8, 4096}, Threads: []int{1, 2}, Rounds: 4, Spawns: 30, Drift: 0.05}, withPhases)
}

// writeCounted writes a fake counted run ('make bench BENCH_ICOUNT=1') of
// the sweep writeRun's are of, with an embryo 10% cheaper than the
// default profile.
func writeCounted(t *testing.T, dir string, withPhases bool) string {
	t.Helper()
	return writeRunOf(t, dir, resultstest.Run{Seed: 3, Sizes: []int{8, 4096}, Threads: []int{1, 2}, Rounds: 4, Spawns: 30,
		Counted: true, Factor: map[string]float64{"embryo_c": 0.9}}, withPhases)
}

func writeRunOf(t *testing.T, dir string, run resultstest.Run, withPhases bool) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := results.WriteCells(f, run.Cells()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	meta, _ := json.Marshal(run.Meta())
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	if withPhases {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		for _, p := range resultstest.Phases() {
			enc.Encode(p)
		}
		if err := os.WriteFile(filepath.Join(dir, "phases.jsonl"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "results.jsonl")
}

const doc = "# Bench\n\n" + report.BeginMarker + "\nold\n" + report.EndMarker + "\n\n## Counted\n\n" +
	report.CountedBegin + "\nold counted\n" + report.CountedEnd + "\n\n## Two runs\n\n" +
	report.CompareBegin + "\nold comparison\n" + report.CompareEnd + "\n"

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	withPhases := writeRun(t, filepath.Join(dir, "a"), 1, true)
	without := writeRun(t, filepath.Join(dir, "b"), 2, false)
	counted := writeCounted(t, filepath.Join(dir, "c"), true)
	benchMD := filepath.Join(dir, "BENCH.md")
	tests := []struct {
		name    string
		o       options
		chdir   bool                // run in dir: the default chart paths are relative
		files   map[string][]string // file: fragments it must have
		not     map[string][]string
		wantErr string
	}{
		{
			name: "phases beside the results",
			o:    options{in: withPhases},
			files: map[string][]string{
				"a/table.md":    {"### Bare variants", "### Realistic variants", "### Where the time goes", "- Sweep: 2 passes"},
				"a/latency.svg": {"bare variants", "4 GiB"},
			},
		},
		{
			name:  "no phases: no section",
			o:     options{in: without},
			files: map[string][]string{"b/table.md": {"### Bare variants"}},
			not:   map[string][]string{"b/table.md": {"Where the time goes"}},
		},
		{
			name:    "phases asked for and missing",
			o:       options{in: without, phases: filepath.Join(dir, "b", "nosuch.jsonl")},
			wantErr: "reading the phases",
		},
		{
			name: "BENCH.md and its chart",
			o:    options{in: withPhases, out: filepath.Join(dir, "out"), benchMD: benchMD, svg: filepath.Join(dir, "bench", "latency.svg")},
			files: map[string][]string{
				"out/table.md":      {"### Where the time goes"},
				"bench/latency.svg": {"<svg"},
				"BENCH.md":          {report.BeginMarker + "\n- Command: `make bench`", "](bench/latency.svg)\n" + report.EndMarker, "old counted", "old comparison"},
			},
		},
		{
			name:  "a counted run: its own section and chart, the timed one untouched",
			o:     options{in: counted, benchMD: "BENCH.md"},
			chdir: true,
			files: map[string][]string{
				"c/table.md": {"- Clock: counted, QEMU `-icount shift=0,sleep=off`", "**These are instruction counts, not times.**",
					"The vCPUs ran in turn on one host thread", "**Per-spawn instruction count**", "spawns per 10⁹ guest instructions",
					"| caller | threads | method | median k instr | round medians k instr |", "### Where the instructions go\n",
					"median k instr (p25–p75)"},
				"bench/latency-icount.svg": {"instruction counts (1 µs = 1000 instructions)"},
				"BENCH.md": {report.BeginMarker + "\nold\n" + report.EndMarker,
					report.CountedBegin + "\n- Command: `make bench BENCH_ICOUNT=1`", "](bench/latency-icount.svg)\n" + report.CountedEnd},
			},
			not: map[string][]string{
				"c/table.md": {"QEMU TCG (software emulation) times", "Counted against timed", "median µs", "spawns/s"},
				"BENCH.md":   {"old counted"},
			},
		},
		{
			name: "a counted run beside a timed one",
			o:    options{in: counted, benchMD: benchMD, svg: filepath.Join(dir, "icount.svg"), timed: without},
			files: map[string][]string{
				"c/table.md": {"### Bare variants", "### Counted against timed", "- Timed: `" + without + "`", "- Counted: `" + counted + "`",
					"**All variants**: over 60 ratios, |counted/timed − 1|", "| caller | threads | method | timed | counted | counted/timed − 1 |",
					"| 8 MiB | 1 | embryo (C) |", "### Where the instructions go\n"},
				"BENCH.md": {report.CountedBegin, "### Counted against timed", "](icount.svg)\n" + report.CountedEnd,
					report.BeginMarker + "\nold\n" + report.EndMarker},
			},
		},
		{
			name:    "a timed run beside a timed run",
			o:       options{in: withPhases, timed: without},
			wantErr: "this run is timed",
		},
		{
			name:    "a counted run as the timed one",
			o:       options{in: counted, timed: counted},
			wantErr: "is a counted run, not a timed one",
		},
		{
			name:    "the timed run is missing",
			o:       options{in: counted, timed: filepath.Join(dir, "nosuch.jsonl")},
			wantErr: "reading the results",
		},
		{
			name: "compare two runs into BENCH.md",
			o:    options{compare: []string{withPhases, without}, benchMD: benchMD},
			files: map[string][]string{
				"b/compare.md": {"- Run A: `" + withPhases + "`", "**All variants**: over 60 ratios", "| 4 GiB | 2 | embryo (Go) |"},
				"BENCH.md":     {report.BeginMarker, report.CompareBegin + "\nTwo independent runs", "| B/A − 1 |", report.CompareEnd},
			},
			not: map[string][]string{"BENCH.md": {"old comparison"}},
		},
		{
			name:    "compare a missing run",
			o:       options{compare: []string{withPhases, filepath.Join(dir, "nosuch.jsonl")}},
			wantErr: "reading the results",
		},
		{
			name:    "BENCH.md without markers",
			o:       options{compare: []string{withPhases, without}, benchMD: withPhases},
			wantErr: "markers not found",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(benchMD, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.chdir {
				t.Chdir(dir)
			}
			var err error
			if tt.o.compare != nil {
				err = runCompare(tt.o)
			} else {
				err = run(tt.o)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.files {
				got := read(t, filepath.Join(dir, name))
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s lacks %q:\n%s", name, w, got)
					}
				}
			}
			for name, not := range tt.not {
				got := read(t, filepath.Join(dir, name))
				for _, n := range not {
					if strings.Contains(got, n) {
						t.Errorf("%s has %q", name, n)
					}
				}
			}
		})
	}
}
