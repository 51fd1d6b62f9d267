package stress

// Cgroups: each worker runs in a pids cgroup of its own (pids.current is
// the check that nothing it made outlives the round) and has a cgroup v2
// directory for the cgroup.kill and cgroup.freeze ops. The test VM puts
// the pids controller on cgroup2 (cgroup_no_v1=pids; u-root's init would
// bind it to a v1 hierarchy otherwise); cgroup.kill and
// cgroup.freeze are v2's and need no controller, so the two may be
// different hierarchies (a v2 kill cgroup under the pids cgroup when
// pids is v2's). The cgroup v2 helpers are package cgroup2's, the pids
// cgroup and the embryo charge package embryo's.

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// workerCgroups are a worker's cgroups, made once per test.
type workerCgroups struct {
	pids string // pids.current, pids.max; the worker joins it
	kill string // cgroup.kill, cgroup.freeze, cgroup.events (v2)
}

func newWorkerCgroups(t *testing.T) workerCgroups {
	t.Helper()
	pids := embryo.PidsCgroup(t)
	if _, err := os.Stat(filepath.Join(pids, "cgroup.kill")); err == nil {
		// pids is v2's: the kill cgroup is a child of it, so that
		// pids.current counts what is in it.
		kill := filepath.Join(pids, "kill")
		if err := os.Mkdir(kill, 0o755); err != nil {
			t.Fatalf("creating %s: %v", kill, err)
		}
		t.Cleanup(func() { cgroup2.Remove(t, kill) })
		return workerCgroups{pids: pids, kill: kill}
	}
	return workerCgroups{pids: pids, kill: cgroup2.New(t, "emptypidfd-stress-")}
}
