package report

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/results/resultstest"
)

func cell(method string, rss, threads int, median, sps float64) results.Cell {
	return results.Cell{Method: method, RSSMiB: rss, Threads: threads, Available: true,
		Iterations: 30, Repetitions: 3, MedianUS: median, P99US: median * 2, MinUS: median / 2,
		MaxUS: median * 3, SpawnsPerSec: sps, Kernel: "6.12.117-emptypidfd", VCPUs: 4,
		HostNproc: 2, Accel: "tcg"}
}

const noEmbryo = "pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: the kernel has no empty pidfds"

func TestTable(t *testing.T) {
	tests := []struct {
		name  string
		cells []results.Cell
		want  []string // lines or fragments that must appear, in this order
		not   []string
	}{
		{
			name: "ratios to vfork in each row",
			cells: []results.Cell{
				// Out of order on purpose: rows sort by size then threads,
				// columns follow results.Methods.
				cell("fork", 1024, 1, 30000, 30),
				cell("vfork", 1024, 1, 100, 9000),
				cell("fork", 8, 1, 150, 6000),
				cell("vfork", 8, 1, 100, 9000),
				cell("embryo_c", 8, 1, 80, 11000),
				cell("embryo_c", 1024, 1, 85, 10800),
			},
			want: []string{
				"**Per-spawn latency**",
				"| caller | threads | fork+execve | vfork+execve | embryo (C) |",
				"|---:|---:|---:|---:|---:|",
				"| 8 MiB | 1 | 1.50× | 1.00× | 0.80× |",
				"| 1 GiB | 1 | 300× | 1.00× | 0.85× |",
				"**Aggregate throughput**",
				"| 8 MiB | 1 | 0.67× | 1.00× | 1.22× |",
				"| 1 GiB | 1 | 0.0033× | 1.00× | 1.20× |",
				"**Absolute numbers**",
				"| 8 MiB | 1 | fork+execve | 150 | — | max 450† | 75.0 | 450 | 6000 | 10 × 3 |",
				"| 1 GiB | 1 | embryo (C) | 85.0 | — | max 255† | 42.5 | 255 | 10800 | 10 × 3 |",
				"† Fewer than 1000 latencies",
			},
			not: []string{"n/a", "Realistic", "×**", "‡"},
		},
		{
			name: "unavailable methods are n/a with the reason once",
			cells: []results.Cell{
				cell("vfork", 8, 1, 100, 9000),
				cell("vfork", 8, 2, 120, 15000),
				results.Unavailable("embryo_c", 8, 1, noEmbryo),
				results.Unavailable("embryo_c", 8, 2, noEmbryo),
				results.Unavailable("embryo_go", 8, 1, noEmbryo),
				results.Unavailable("embryo_go", 8, 2, noEmbryo),
			},
			want: []string{
				"| caller | threads | vfork+execve | embryo (C) | embryo (Go) |",
				"| 8 MiB | 1 | 1.00× | n/a | n/a |",
				"| 8 MiB | 2 | 1.00× | n/a | n/a |",
				"| 8 MiB | 2 | embryo (Go) | n/a | | | | | | |",
				"n/a (embryo (C), embryo (Go)): " + noEmbryo + ".",
			},
		},
		{
			name: "no baseline in a row: no ratios there",
			cells: []results.Cell{
				cell("fork", 8, 1, 150, 6000),
				cell("vfork", 64, 1, 100, 9000),
				cell("fork", 64, 1, 300, 3000),
			},
			want: []string{
				"| 8 MiB | 1 | — | |",
				"| 64 MiB | 1 | 3.00× | 1.00× |",
			},
		},
		{
			name:  "nothing",
			cells: nil,
			want:  []string{"No results."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Table(tt.cells)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("table lacks %q (or has it out of order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("table has %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Ratio(1), "1.00×"},
		{Ratio(0.456), "0.46×"},
		{Ratio(12.34), "12.3×"},
		{Ratio(1234.5), "1234×"},
		{Ratio(0.0123), "0.012×"},
		{Ratio(0), "—"},
		{Size(8), "8 MiB"},
		{Size(1024), "1 GiB"},
		{Size(1536), "1536 MiB"},
		{Num(3.14159), "3.14"},
		{Num(42.42), "42.4"},
		{Num(12345.6), "12346"},
		{usLabel(1), "1 µs"},
		{usLabel(500), "500 µs"},
		{usLabel(2000), "2 ms"},
		{usLabel(5e6), "5 s"},
		{usLabel(0.5), "0.5 µs"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// wellFormed fails t unless svg parses as XML.
func wellFormed(t *testing.T, svg string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestSVG(t *testing.T) {
	tests := []struct {
		name      string
		cells     []results.Cell
		threads   int
		polylines int
		circles   int
		want      []string
		not       []string
	}{
		{
			name: "lines for available methods, n/a in the legend",
			cells: []results.Cell{
				cell("fork", 8, 1, 150, 0), cell("fork", 64, 1, 900, 0), cell("fork", 1024, 1, 30000, 0),
				cell("vfork", 8, 1, 100, 0), cell("vfork", 64, 1, 101, 0), cell("vfork", 1024, 1, 103, 0),
				cell("osexec", 8, 1, 400, 0), cell("osexec", 64, 1, 410, 0), cell("osexec", 1024, 1, 420, 0),
				cell("fork", 8, 4, 1, 0), // another thread count: not drawn
				results.Unavailable("embryo_c", 8, 1, noEmbryo),
			},
			threads:   1,
			polylines: 3,
			circles:   9,
			want: []string{
				"(median, 1 thread, bare variants)", "8 MiB", "64 MiB", "1 GiB",
				"fork+execve, 1 GiB: median 30000 µs", "embryo (C) (n/a)",
				`stroke-dasharray="6 4"`, // os/exec is dashed
				"10 ms", "100 µs",
			},
			not: []string{"1.00 µs"},
		},
		{
			name: "bare variants only, whiskers from the round medians, 4 GiB",
			cells: []results.Cell{
				func() results.Cell {
					c := cell("vfork", 8, 1, 100, 0)
					c.RepMedianUS = []float64{90, 100, 130}
					return c
				}(),
				cell("vfork", 4096, 1, 110, 0),
				cell("vfork_full", 8, 1, 120, 0), cell("vfork_full", 4096, 1, 130, 0),
			},
			threads:   1,
			polylines: 1,
			circles:   2,
			want:      []string{"4 GiB", "round medians 90.0–130 µs", `stroke-width="1.5"`},
			not:       []string{"realistic"},
		},
		{
			name:      "one size: points, no lines",
			cells:     []results.Cell{cell("vfork", 8, 2, 100, 0), cell("fork", 8, 2, 120, 0)},
			threads:   2,
			polylines: 0,
			circles:   2,
			want:      []string{"(median, 2 threads, bare variants)"},
		},
		{
			name:      "nothing at that thread count",
			cells:     []results.Cell{cell("vfork", 8, 2, 100, 0)},
			threads:   1,
			polylines: 0,
			circles:   0,
			want:      []string{"no results at 1 thread"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := SVG(tt.cells, tt.threads, "kernel <x> & TCG")
			wellFormed(t, svg)
			if n := strings.Count(svg, "<polyline"); n != tt.polylines {
				t.Errorf("%d polylines, want %d", n, tt.polylines)
			}
			if n := strings.Count(svg, "<circle"); n != tt.circles {
				t.Errorf("%d markers, want %d", n, tt.circles)
			}
			for _, w := range append(tt.want, "kernel &lt;x&gt; &amp; TCG") {
				if !strings.Contains(svg, w) {
					t.Errorf("SVG lacks %q", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(svg, n) {
					t.Errorf("SVG has %q", n)
				}
			}
		})
	}
}

func TestChartThreads(t *testing.T) {
	for _, tt := range []struct {
		threads []int
		want    int
	}{
		{[]int{4, 1, 2}, 1},
		{[]int{4, 2}, 2},
		{nil, 0},
	} {
		var cells []results.Cell
		for _, n := range tt.threads {
			cells = append(cells, cell("vfork", 8, n, 1, 1))
		}
		if got := ChartThreads(cells); got != tt.want {
			t.Errorf("ChartThreads(%v) = %d, want %d", tt.threads, got, tt.want)
		}
	}
}

func TestReplace(t *testing.T) {
	doc := "# Bench\n\nintro\n\n" + BeginMarker + "\nold\nstuff\n" + EndMarker + "\n\nafter\n"
	tests := []struct {
		name    string
		doc     string
		want    string
		wantErr string
	}{
		{
			name: "replaces between the markers only",
			doc:  doc,
			want: "# Bench\n\nintro\n\n" + BeginMarker + "\nNEW\n" + EndMarker + "\n\nafter\n",
		},
		{name: "no markers", doc: "# Bench\n", wantErr: "markers not found"},
		{name: "reversed", doc: EndMarker + "\n" + BeginMarker + "\n", wantErr: "before the begin marker"},
		{name: "twice", doc: doc + doc, wantErr: "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replace(tt.doc, "NEW\n\n")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Replace: error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Replace:\n got %q\nwant %q", got, tt.want)
			}
			// Idempotent: replacing again with the same gives the same.
			if again, _ := Replace(got, "NEW\n\n"); again != got {
				t.Errorf("second Replace changed the document:\n%q", again)
			}
		})
	}
}

func TestRunInfoSchedule(t *testing.T) {
	meta := results.Meta{Seed: 2, Passes: 3, Rounds: 2}
	for _, tt := range []struct {
		schedule string
		want     string
	}{
		{"", "a cell's rounds are interleaved with every other cell's"},
		{"cells", "a cell's rounds are interleaved with every other cell's"},
		{"spawns", "the methods of one thread count interleaved spawn by spawn"},
		{"spawns/8", "interleaved in blocks (gospawn -x -xb 8: a step makes 8 spawns of each method in a row"},
	} {
		schedule, block, _ := strings.Cut(tt.schedule, "/")
		meta.Schedule, meta.Block = schedule, 0
		if block != "" {
			meta.Block, _ = strconv.Atoi(block)
		}
		if got := RunInfo(meta, nil); !strings.Contains(got, tt.want) {
			t.Errorf("RunInfo with schedule %q lacks %q:\n%s", tt.schedule, tt.want, got)
		}
	}
}

func TestSection(t *testing.T) {
	meta := results.Meta{Date: "2026-11-23T12:00:00Z", Command: "make bench", HostCPU: "AMD EPYC",
		HostNproc: 2, QEMU: "qemu-system-x86_64 -m 4G -smp 4 -cpu max", Accel: "tcg",
		Flavor: "plain", Kernel: "6.12.117-emptypidfd", VCPUs: 4, Seed: 99, Passes: 2, Rounds: 3}
	cells := []results.Cell{
		cell("vfork", 8, 1, 100, 9000), cell("fork", 8, 1, 150, 6000),
		cell("vfork", 8, 4, 100, 9000), cell("fork", 8, 4, 150, 6000),
	}
	got := New(meta, cells, resultstest.Phases()).Section("bench/latency.svg")
	for _, w := range []string{
		"- Command: `make bench`",
		"- Kernel: `6.12.117-emptypidfd` (plain flavour)",
		"- VM: `qemu-system-x86_64 -m 4G -smp 4 -cpu max`, TCG, 4 vCPUs",
		"- Host: AMD EPYC, 2 cores (nproc)",
		"- Threads: 1 and 4 spawning at once, on 4 vCPUs backed by 2 host cores (rows with more than 2 threads oversubscribe the host)",
		"- Sweep: 2 passes over the programs and caller sizes, 3 rounds of every method and thread count in each, all in random order (seed 99)",
		"not hardware times",
		"4 vCPUs on 2 host cores",
		"no per-round latencies, so there are no intervals",
		"**Per-spawn latency**",
		"| 8 MiB | 4‡ | 1.50× | 1.00× |",
		"‡ More spawning threads than the 2 host cores behind the VM's 4 vCPUs",
		"### Where the time goes",
		"![Per-spawn latency against caller size, bare variants",
		"(bench/latency.svg)",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("section lacks %q:\n%s", w, got)
		}
	}
	// Ratios come before absolute numbers, the tables before the phases.
	if strings.Index(got, "as a multiple of") > strings.Index(got, "**Absolute numbers**") ||
		strings.Index(got, "**Absolute numbers**") > strings.Index(got, "Where the time goes") {
		t.Errorf("sections out of order:\n%s", got)
	}
	// Without meta, what the cells carry still shows.
	bare := RunInfo(results.Meta{}, cells)
	for _, w := range []string{"`6.12.117-emptypidfd`", "2 cores", "not hardware times"} {
		if !strings.Contains(bare, w) {
			t.Errorf("run info from cells lacks %q:\n%s", w, bare)
		}
	}
}
