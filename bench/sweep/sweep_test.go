// Package sweep is the guest side of 'make bench': it runs every method of
// the spawn benchmark at every caller size and thread count of the sweep the
// host harness (vmtest/bench_test.go) wrote into the initramfs, and writes
// one results.Cell a line to results.jsonl in the directory the host
// collects. Progress lines start with "bench: " on the console.
//
// Its test skips anywhere but in the benchmark VM.
package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/bench/report"
	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/runner"
)

// Files the host harness puts in the initramfs.
const (
	sweepFile  = "/etc/emptypidfd/bench.conf" // runner.Sweep.Encode
	expectFile = "/etc/emptypidfd/expect"     // what the kernel's headers promise
)

func progress(format string, args ...any) {
	fmt.Printf("bench: "+format+"\n", args...)
}

func threads(n int) string {
	if n == 1 {
		return "1 thread"
	}
	return fmt.Sprintf("%d threads", n)
}

func TestSweep(t *testing.T) {
	if os.Getenv("VMTEST_IN_GUEST") != "1" {
		t.Skip("runs only inside the benchmark VM: use 'make bench'")
	}
	conf, err := runner.ReadConf(sweepFile)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no %s: this boot is not a 'make bench' run", sweepFile)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := runner.ParseSweep(conf)
	if err != nil {
		t.Fatal(err)
	}
	if s.Out == "" {
		t.Fatalf("%s does not say where results go (OUT)", sweepFile)
	}
	expect, err := runner.ReadConf(expectFile)
	if err != nil {
		t.Fatalf("what the harness expects of the kernel: %v", err)
	}
	embryoExpected := expect["PIDFD_EMPTY"] == "present"

	path := filepath.Join(s.Out, "results.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)

	progress("kernel %s, %d CPUs; %d methods x sizes %v MiB x threads %v, %d repetitions of ~%d ms",
		runner.Kernel(), runtime.NumCPU(), len(s.Methods), s.SizesMiB, s.Threads, s.Reps, s.TargetMS)
	start := time.Now()
	for _, size := range s.SizesMiB {
		for _, id := range s.Methods {
			m, ok := results.MethodByID(id)
			if !ok {
				t.Fatalf("unknown method %q", id)
			}
			t.Run(fmt.Sprintf("%dMiB/%s", size, id), func(t *testing.T) {
				t0 := time.Now()
				cells, err := runner.Run(context.Background(), m, s.Params(runner.GuestDir, size))
				if err != nil {
					progress("%s %s: FAILED: %v", m.Label, report.Size(size), err)
					t.Fatal(err)
				}
				for _, c := range cells {
					if err := enc.Encode(c); err != nil {
						t.Fatalf("writing %s: %v", path, err)
					}
					if !c.Available {
						progress("%s %s %s: n/a: %s", m.Label, report.Size(size), threads(c.Threads), c.Reason)
						if m.Embryo() && embryoExpected {
							t.Errorf("%s unavailable on a kernel whose headers define PIDFD_EMPTY: %s", m.Label, c.Reason)
						}
						continue
					}
					progress("%s %s %s: median %s µs, p99 %s µs, %s spawns/s (%d spawns)",
						m.Label, report.Size(size), threads(c.Threads), report.Num(c.MedianUS), report.Num(c.P99US),
						report.Num(c.SpawnsPerSec), c.Iterations)
				}
				if err := f.Sync(); err != nil {
					t.Fatalf("writing %s: %v", path, err)
				}
				progress("%s %s done in %s (total %s)", m.Label, report.Size(size),
					time.Since(t0).Round(time.Second), time.Since(start).Round(time.Second))
			})
		}
	}
}
