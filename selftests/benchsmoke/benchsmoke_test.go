// Package benchsmoke runs every method of the spawn benchmark (bench/) once,
// with tiny parameters, in the normal test boot, so that the benchmark cannot
// rot between 'make bench' runs. A failed spawn fails the test; the embryo
// methods must work when the kernel's headers define PIDFD_EMPTY and report
// themselves unavailable otherwise. vmtest/ puts the programs at /bench.
package benchsmoke

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/bench/runner"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
)

func TestSmoke(t *testing.T) {
	guest.Require(t)
	for _, bin := range []string{"spawnbench", "gospawn", runner.Noop} {
		if _, err := os.Stat(filepath.Join(runner.GuestDir, bin)); err != nil {
			t.Fatalf("benchmark program missing in the guest: %v (vmtest/ builds and adds them)", err)
		}
	}
	embryo := guest.Expect(t, "PIDFD_EMPTY")
	for _, m := range results.Methods {
		t.Run(m.ID, func(t *testing.T) {
			cells, err := runner.Run(context.Background(), m, runner.Smoke(runner.GuestDir))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cells {
				switch {
				case c.Available && m.Embryo() && embryo == "absent":
					t.Errorf("%s ran on a kernel whose headers do not define PIDFD_EMPTY", m.Label)
				case c.Available:
					t.Logf("%d threads, %d spawns: median %.1f µs, max %.1f µs", c.Threads, c.Iterations, c.MedianUS, c.MaxUS)
				case m.Embryo() && embryo == "present":
					t.Errorf("%s unavailable on a kernel whose headers define PIDFD_EMPTY: %s", m.Label, c.Reason)
				case m.Embryo():
					t.Skipf("unavailable, as expected of this kernel: %s", c.Reason)
				default:
					t.Errorf("%s unavailable: %s", m.Label, c.Reason)
				}
			}
		})
	}
}
