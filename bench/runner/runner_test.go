package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/pidfd"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// built builds the programs once for all tests of the package.
func built(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "spawnbench")
		if buildErr == nil {
			buildErr = Build(buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("%v (needs a C compiler and static glibc: 'make deps' installs build-essential)", buildErr)
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// TestRunOnHost runs every method on the host kernel with tiny parameters:
// the programs build, spawn, time and report. The host kernel has no empty
// pidfds, so the embryo methods must report themselves unavailable.
func TestRunOnHost(t *testing.T) {
	dir := built(t)
	embryos := pidfd.Probe()
	for _, m := range results.Methods {
		t.Run(m.ID, func(t *testing.T) {
			p := Smoke(dir)
			p.Threads = []int{1, 2}
			cells, err := Run(context.Background(), m, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != 2 {
				t.Fatalf("%d cells, want one per thread count: %+v", len(cells), cells)
			}
			for i, c := range cells {
				if c.Method != m.ID || c.RSSMiB != 8 || c.Threads != p.Threads[i] || c.Kernel == "" {
					t.Errorf("cell %d: %+v", i, c)
				}
				if m.Embryo() && errors.Is(embryos, pidfd.ErrNotSupported) {
					if c.Available || !strings.Contains(c.Reason, "EINVAL") {
						t.Errorf("on a kernel without empty pidfds: available %v, reason %q", c.Available, c.Reason)
					}
					continue
				}
				if !c.Available {
					t.Errorf("unavailable: %s", c.Reason)
					continue
				}
				if want := c.Threads * p.Iterations; c.Iterations != want || c.Repetitions != 1 {
					t.Errorf("%d spawns in %d repetitions, want %d in 1", c.Iterations, c.Repetitions, want)
				}
				if !(0 < c.MinUS && c.MinUS <= c.MedianUS && c.MedianUS <= c.P99US && c.P99US <= c.MaxUS) {
					t.Errorf("latencies out of order: min %v median %v p99 %v max %v", c.MinUS, c.MedianUS, c.P99US, c.MaxUS)
				}
				if c.SpawnsPerSec <= 0 || c.CallerRSSMiB < 8 {
					t.Errorf("spawns/s %v, caller RSS %v MiB", c.SpawnsPerSec, c.CallerRSSMiB)
				}
				t.Logf("host: %d threads: median %.1f µs, %.0f spawns/s", c.Threads, c.MedianUS, c.SpawnsPerSec)
			}
		})
	}
}

// TestFailedSpawnFails checks that a child that cannot run fails the run,
// for each method that can run here.
func TestFailedSpawnFails(t *testing.T) {
	dir := built(t)
	bad := t.TempDir()
	for _, name := range []string{"spawnbench", "gospawn"} {
		if err := os.Symlink(filepath.Join(dir, name), filepath.Join(bad, name)); err != nil {
			t.Fatal(err)
		}
	}
	// noop that exits 1.
	if err := os.WriteFile(filepath.Join(bad, Noop), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range results.Methods {
		if m.Embryo() && pidfd.Probe() != nil {
			continue
		}
		t.Run(m.ID, func(t *testing.T) {
			_, err := Run(context.Background(), m, Smoke(bad))
			if err == nil {
				t.Fatal("a child exiting 1 did not fail the run")
			}
			t.Logf("as expected: %v", err)
		})
	}
}

func TestRunTimeout(t *testing.T) {
	dir := built(t)
	m, _ := results.MethodByID("vfork")
	p := Smoke(dir)
	p.Iterations, p.WarmupMS, p.Timeout = 0, 60_000, 200*time.Millisecond
	p.TargetMS, p.MinIterations, p.MaxIterations = 1, 1, 1_000_000
	_, err := Run(context.Background(), m, p)
	if err == nil || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("a run past its timeout: error %v, want it killed", err)
	}
}

// TestRunBatchInterleavedOnHost runs two Go methods interleaved spawn by
// spawn, and in blocks, through gospawn -x on the host: each gives its
// repetitions, on each thread count, with the spawns asked for.
func TestRunBatchInterleavedOnHost(t *testing.T) {
	dir := built(t)
	var ms []results.Method
	for _, id := range []string{"osexec", "osexec_full"} {
		m, _ := results.MethodByID(id)
		ms = append(ms, m)
	}
	for _, block := range []int{1, 2} {
		p := Smoke(dir)
		p.Threads, p.Reps, p.Iterations, p.Interleave, p.Block = []int{1, 2}, 2, 4, true, block
		b, err := RunBatch(context.Background(), ms, p)
		if err != nil {
			t.Fatalf("block %d: %v", block, err)
		}
		for _, m := range ms {
			for _, n := range p.Threads {
				reps := b.Reps[m.ID][n]
				if len(reps) != p.Reps {
					t.Fatalf("block %d: %s on %d threads: %d repetitions, want %d", block, m.ID, n, len(reps), p.Reps)
				}
				for _, r := range reps {
					if r.Iterations != p.Iterations || len(r.LatNS) != n*p.Iterations || r.WallNS <= 0 {
						t.Errorf("block %d: %s on %d threads: %d iterations, %d latencies, wall %d ns",
							block, m.ID, n, r.Iterations, len(r.LatNS), r.WallNS)
					}
					for i, l := range r.LatNS {
						if l <= 0 {
							t.Errorf("block %d: %s on %d threads: latency %d is %d", block, m.ID, n, i, l)
						}
					}
				}
			}
		}
	}
}

func TestArgs(t *testing.T) {
	m, _ := results.MethodByID("embryo_go")
	p := Params{Dir: "/bench", RSSMiB: 64, Threads: []int{1, 4}, Reps: 3, TargetMS: 500,
		MinIterations: 10, MaxIterations: 100, Warmup: 2, WarmupMS: 50}
	full, _ := results.MethodByID("osexec_full")
	ms := []results.Method{m, full}
	want := []string{"-m", "embryo,osexec_full", "-p", "/bench/noop", "-r", "64", "-t", "1,4", "-R", "3", "-s", "1",
		"-w", "2", "-W", "50", "-T", "500", "-i", "10", "-I", "100"}
	if got := p.Args(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("Args:\n got %q\nwant %q", got, want)
	}
	p.Iterations, p.Seed = 7, 42
	want = append(want[:16:16], "-n", "7")
	want[11] = "42"
	if got := p.Args(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("Args with Iterations:\n got %q\nwant %q", got, want)
	}
	p.Interleave = true
	want = append(want[:16:16], "-x", "-n", "7")
	if got := p.Args(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("Args with Interleave:\n got %q\nwant %q", got, want)
	}
	p.Block = 4
	want = append(want[:17:17], "-xb", "4", "-n", "7")
	if got := p.Args(ms); !reflect.DeepEqual(got, want) {
		t.Errorf("Args with Interleave and Block:\n got %q\nwant %q", got, want)
	}
}

func TestRunBatchInterleaveOnlyGospawn(t *testing.T) {
	m, _ := results.MethodByID("vfork")
	p := Params{Dir: t.TempDir(), RSSMiB: 8, Threads: []int{1}, Reps: 1, Interleave: true}
	_, err := RunBatch(context.Background(), []results.Method{m}, p)
	if err == nil || !strings.Contains(err.Error(), "cannot interleave") {
		t.Errorf("RunBatch of spawnbench's vfork with Interleave: error %v, want one saying it cannot interleave", err)
	}
}

func TestBatchFrom(t *testing.T) {
	m, _ := results.MethodByID("fork")
	byFlag := map[string]results.Method{"fork": m}
	p := Params{RSSMiB: 8, Threads: []int{1, 2}, Reps: 1}
	line := func(threads int) results.Raw {
		lat := make([]int64, threads)
		for i := range lat {
			lat[i] = 1000
		}
		return results.Raw{Method: "fork", Available: true, RSSMiB: 8, Threads: threads,
			Iterations: 1, WallNS: 1000, LatNS: lat}
	}
	tests := []struct {
		name    string
		raws    []results.Raw
		wantErr string
	}{
		{"complete", []results.Raw{line(1), line(2)}, ""},
		{"missing thread count", []results.Raw{line(1)}, "0 repetitions on 2 threads"},
		{"extra thread count", []results.Raw{line(1), line(2), line(4)}, "4 threads, not asked for"},
		{"other method", []results.Raw{{Method: "vfork", Available: true, RSSMiB: 8, Threads: 1}}, `method "vfork", not asked for`},
		{"two rounds, one asked for", []results.Raw{line(1), line(2), line(2)}, "2 repetitions on 2 threads"},
		{"unavailable and measured", []results.Raw{line(1), line(2), {Method: "fork", Reason: "no"}}, "both"},
		{"other size", []results.Raw{{Method: "fork", Available: true, RSSMiB: 64, Threads: 1}}, "64 MiB"},
		{"unavailable without reason", []results.Raw{{Method: "fork"}}, "without a reason"},
		{"nothing", nil, "0 repetitions on 1 threads"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := batchFrom(byFlag, p, tt.raws)
			if tt.wantErr == "" {
				cells, err2 := b.Cells(m, p.RSSMiB, p.Threads)
				if err != nil || err2 != nil || len(cells) != 2 {
					t.Fatalf("batchFrom: %d cells, %v, %v", len(cells), err, err2)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("batchFrom: error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	b, err := batchFrom(byFlag, p, []results.Raw{{Method: "fork", Reason: "not here"}})
	cells, err2 := b.Cells(m, p.RSSMiB, p.Threads)
	if err != nil || err2 != nil || len(cells) != 2 || cells[1].Available || cells[1].Threads != 2 || cells[1].Reason != "not here" {
		t.Errorf("unavailable method: %+v, %v", cells, err)
	}
}

func TestSweepRoundTrip(t *testing.T) {
	s := DefaultSweep()
	if got := s.SizesMiB; !reflect.DeepEqual(got, []int{8, 64, 256, 1024, 4096}) {
		t.Errorf("default sizes %v", got)
	}
	if len(s.Methods) != len(results.Methods) {
		t.Errorf("default sweep runs %d of %d methods", len(s.Methods), len(results.Methods))
	}
	s.Out = "/mount/9p/gotestdata/out"
	s.Threads = []int{1, 8}
	path := filepath.Join(t.TempDir(), "bench.conf")
	if err := os.WriteFile(path, []byte("# comment\n\n"+s.Encode()), 0o644); err != nil {
		t.Fatal(err)
	}
	conf, err := ReadConf(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSweep(conf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
}

func TestParseSweepErrors(t *testing.T) {
	for _, tt := range []struct {
		conf    map[string]string
		wantErr string
	}{
		{map[string]string{"METHODS": "fork,nosuch"}, `unknown method "nosuch"`},
		{map[string]string{"SIZES_MIB": "8,x"}, `"x" is not an integer`},
		{map[string]string{"THREADS": "0"}, `"0" is not an integer >= 1`},
		{map[string]string{"REPS": "1", "PASSES": "2"}, "at least 3"},
		{map[string]string{"MIN_ITERS": "50", "MAX_ITERS": "10"}, "above MAX_ITERS"},
		{map[string]string{"COLOUR": "red"}, "unknown setting"},
		{map[string]string{"TIMEOUT": "soon"}, "TIMEOUT=soon"},
		{map[string]string{"SCHEDULE": "random"}, "want cells or spawns"},
		{map[string]string{"SCHEDULE": "spawns"}, "interleaves gospawn's methods only"},
		{map[string]string{"SCHEDULE": "spawns", "METHODS": "osexec,vfork"}, "vfork is spawnbench's"},
		{map[string]string{"BLOCK": "4"}, "BLOCK=4 needs SCHEDULE=spawns"},
		{map[string]string{"BLOCK": "0", "SCHEDULE": "spawns", "METHODS": "osexec"}, "BLOCK=0"},
	} {
		if _, err := ParseSweep(tt.conf); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseSweep(%v): error %v, want one containing %q", tt.conf, err, tt.wantErr)
		}
	}
	if s, err := ParseSweep(map[string]string{"SIZES_MIB": "8", "METHODS": "vfork,embryo_c"}); err != nil ||
		!reflect.DeepEqual(s.SizesMiB, []int{8}) || len(s.Methods) != 2 {
		t.Errorf("ParseSweep of a subset: %+v, %v", s, err)
	}
	s, err := ParseSweep(map[string]string{"SCHEDULE": "spawns", "METHODS": "osexec,spawn_go,osexec_full"})
	if p := s.Params("/bench", 8, 1); err != nil || !p.Interleave || p.Block != 1 {
		t.Errorf("ParseSweep of an interleaved Go sweep: %+v, %v; want Params with Interleave", s, err)
	}
	if s := DefaultSweep(); s.Params("/bench", 8, 1).Interleave {
		t.Errorf("the default sweep interleaves spawn by spawn")
	}
}
