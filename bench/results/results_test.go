package results

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []int64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []int64{7}, 7},
		{"odd unsorted", []int64{9, 1, 5}, 5},
		{"even: mean of the middle two", []int64{4, 1, 3, 2}, 2.5},
		{"duplicates", []int64{2, 2, 2, 9}, 2},
		{"large values", []int64{1 << 40, 1<<40 + 2}, 1<<40 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]int64(nil), tt.xs...)
			if got := Median(tt.xs); got != tt.want {
				t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.xs) {
				t.Errorf("Median changed its input: %v, was %v", tt.xs, in)
			}
		})
	}
}

func TestMedianFloat(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{10, 20, 40, 30}, 25},
	} {
		if got := MedianFloat(tt.xs); got != tt.want {
			t.Errorf("MedianFloat(%v) = %v, want %v", tt.xs, got, tt.want)
		}
	}
}

// seq returns 1..n shuffled deterministically.
func seq(n int) []int64 {
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64((i*37)%n + 1)
	}
	return xs
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		xs   []int64
		p    float64
		want int64
	}{
		{"empty", nil, 99, 0},
		{"one value", []int64{5}, 99, 5},
		{"p99 of 100 is the 99th", seq(100), 99, 99},
		{"p99 of 1000 is the 990th", seq(1000), 99, 990},
		{"p99 of 50 is the max", seq(50), 99, 50},
		{"p99 of 101 is the 100th", seq(101), 99, 100},
		{"p50 of 4 is the 2nd (nearest rank)", []int64{40, 10, 30, 20}, 50, 20},
		{"p100 is the max", []int64{3, 9, 1}, 100, 9},
		{"tiny p is the min", []int64{3, 9, 1}, 0.1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.xs, tt.p); got != tt.want {
				t.Errorf("Percentile(p%v of %d values) = %d, want %d", tt.p, len(tt.xs), got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rep := func(n int, wall int64, lat ...int64) Raw {
		return Raw{Method: "fork", Available: true, RSSMiB: 8, CallerRSSKiB: 9216, Threads: 2,
			Rep: n, Warmup: 3, Iterations: len(lat) / 2, WallNS: wall, LatNS: lat}
	}
	tests := []struct {
		name    string
		reps    []Raw
		want    Cell
		wantErr string
	}{
		{
			name: "three repetitions",
			reps: []Raw{
				rep(0, 4_000_000, 1000, 2000, 3000, 4000),
				rep(1, 2_000_000, 1500, 2500, 3500, 4500),
				rep(2, 8_000_000, 500, 1000, 1000, 9000),
			},
			want: Cell{
				Method: "fork", RSSMiB: 8, Threads: 2, Available: true,
				Iterations: 12, Repetitions: 3, Warmup: 3, CallerRSSMiB: 9,
				// sorted: 500 1000 1000 1000 1500 2000 2500 3000 3500 4000 4500 9000
				MedianUS: 2.25, P99US: 9, MinUS: 0.5, MaxUS: 9,
				// 4 spawns in 4, 2 and 8 ms
				SpawnsPerSec:    1000,
				RepMedianUS:     []float64{2.5, 3, 1},
				RepSpawnsPerSec: []float64{1000, 2000, 500},
				RepLatNS:        [][]int64{{1000, 2000, 3000, 4000}, {1500, 2500, 3500, 4500}, {500, 1000, 1000, 9000}},
			},
		},
		{name: "nothing", reps: nil, wantErr: "no repetitions"},
		{
			name:    "missing latencies",
			reps:    []Raw{rep(0, 1, 1, 2, 3)},
			wantErr: "has 3 latencies, want 2 threads x 1 iterations",
		},
		{
			name:    "zero latency",
			reps:    []Raw{rep(0, 1, 1, 0)},
			wantErr: "latency of 0 ns",
		},
		{
			name:    "no wall time",
			reps:    []Raw{rep(0, 0, 1, 2)},
			wantErr: "wall time 0 ns",
		},
		{
			name: "repetitions of different cells",
			reps: []Raw{rep(0, 1, 1, 2), func() Raw {
				r := rep(1, 1, 1, 2)
				r.RSSMiB = 64
				return r
			}()},
			wantErr: "is of 64 MiB/2 threads, not 8 MiB/2 threads",
		},
		{
			name:    "unavailable line among repetitions",
			reps:    []Raw{{Method: "embryo", Reason: "EINVAL"}},
			wantErr: "says unavailable: EINVAL",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize("fork", tt.reps)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Summarize: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Summarize: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Summarize:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseRaw(t *testing.T) {
	// As spawnbench.c prints them.
	in := `{"method":"embryo","available":false,"reason":"pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: the kernel has no empty pidfds"}

{"method":"fork","available":true,"rss_mib":8,"caller_rss_kib":9044,"threads":1,"rep":0,"warmup":52,"iterations":3,"wall_ns":10055404,"lat_ns":[2090964,3407047,4301909]}
`
	raws, err := ParseRaw(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Raw{
		{Method: "embryo", Reason: "pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: the kernel has no empty pidfds"},
		{Method: "fork", Available: true, RSSMiB: 8, CallerRSSKiB: 9044, Threads: 1, Warmup: 52,
			Iterations: 3, WallNS: 10055404, LatNS: []int64{2090964, 3407047, 4301909}},
	}
	if !reflect.DeepEqual(raws, want) {
		t.Errorf("ParseRaw:\n got %+v\nwant %+v", raws, want)
	}
	if _, err := ParseRaw(strings.NewReader("{\"method\":\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("ParseRaw of a cut line: error %v, want one naming line 1", err)
	}
}

func TestCellsRoundTrip(t *testing.T) {
	cells := []Cell{
		{Method: "vfork", RSSMiB: 8, Threads: 1, Available: true, Iterations: 30, Repetitions: 3,
			MedianUS: 100.5, P99US: 200, MinUS: 90, MaxUS: 250, SpawnsPerSec: 9000, Kernel: "6.12.117-emptypidfd"},
		Unavailable("embryo_c", 8, 1, "no embryos"),
	}
	var buf bytes.Buffer
	if err := WriteCells(&buf, cells); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("WriteCells wrote %d lines, want 2:\n%s", n, buf.String())
	}
	for _, field := range []string{`"method"`, `"rss_mib"`, `"threads"`, `"iterations"`, `"median_us"`, `"p99_us"`,
		`"min_us"`, `"max_us"`, `"spawns_per_sec"`, `"kernel"`, `"available"`} {
		if strings.Count(buf.String(), field) != 2 {
			t.Errorf("field %s is not in every line:\n%s", field, buf.String())
		}
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCells(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cells) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, cells)
	}
}

func TestMethods(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Methods {
		if seen[m.ID] {
			t.Errorf("method %s listed twice", m.ID)
		}
		seen[m.ID] = true
		if m.Binary != "spawnbench" && m.Binary != "gospawn" {
			t.Errorf("method %s: unknown binary %q", m.ID, m.Binary)
		}
	}
	if !seen[Baseline] {
		t.Errorf("baseline %s is not a method", Baseline)
	}
	if got := Label("nosuch"); got != "nosuch" {
		t.Errorf("Label of an unknown method = %q", got)
	}
}
