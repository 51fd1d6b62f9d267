package stress

// TestSoak: N create/close cycles, then N create/configure/run/wait
// cycles, in a helper process in a pids cgroup of its own; afterwards its
// fds and its pids charge are back where they were, and, once it has
// exited, the pids cgroup is empty, the slab counts of pid, task_struct
// and filp are back near where they were, available memory has not
// dropped past a slack, and the kernel log has no error report. The
// figures are logged as one "stress-figures: test=TestSoak ..." line.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/heartbeat"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// memSlack is how much MemAvailable may drop over a soak: KASAN's
// quarantine of the caches the test does not shrink, page cache, the
// kernel's own caches.
const memSlack = 64 << 20

func TestSoak(t *testing.T) {
	embryo.Require(t)
	k := mustKnobs(t)
	cg := embryo.PidsCgroup(t)
	shrinkAllSlabs()
	memBefore, err := readMeminfo()
	if err != nil {
		t.Fatal(err)
	}
	env := newRoundEnv(t)
	h := helper.NewTimeout(t, "stresssoak", soakArg{PidsCg: cg, N: k.SoakN}, soakTimeout(k.SoakN))
	var res soakResult
	stop := heartbeat.Start(t, "soak", time.Minute)
	h.Result(&res)
	stop()
	for _, e := range res.Errors {
		t.Error(e)
	}
	if res.FDsAfter != res.FDsBefore {
		t.Errorf("the soak helper had %d fds before, %d after: %s", res.FDsBefore, res.FDsAfter, res.FDDiff)
	}
	env.check(t, "after the soak", cg)
	shrinkAllSlabs()
	memAfter, err := readMeminfo()
	if err != nil {
		t.Fatal(err)
	}
	drop := (memBefore["MemAvailable"] - memAfter["MemAvailable"]) << 10
	if drop > memSlack {
		t.Errorf("MemAvailable dropped by %d KiB over the soak (%d -> %d KiB), more than %d KiB: a leak?",
			drop>>10, memBefore["MemAvailable"], memAfter["MemAvailable"], memSlack>>10)
	}
	slabAfter, _ := readSlab()
	perOp := func(ns int64, n int) string {
		if n == 0 {
			return "0"
		}
		return fmt.Sprintf("%.1f", float64(ns)/float64(n)/1e3)
	}
	t.Log(figures("TestSoak", "n", k.SoakN,
		"create_close", res.CreateClose, "create_close_s", fmt.Sprintf("%.2f", float64(res.CreateCloseNs)/1e9), "create_close_us_per_cycle", perOp(res.CreateCloseNs, res.CreateClose),
		"run_wait", res.RunWait, "run_wait_s", fmt.Sprintf("%.2f", float64(res.RunWaitNs)/1e9), "run_wait_us_per_cycle", perOp(res.RunWaitNs, res.RunWait),
		"fds_before", res.FDsBefore, "fds_after", res.FDsAfter,
		"pids_charge_after_close", res.ChargeAfterClose, "pids_charge_after_run", res.ChargeAfterRun,
		"memavail_kb_before", memBefore["MemAvailable"], "memavail_kb_after", memAfter["MemAvailable"],
		"slab_kb_before", memBefore["Slab"], "slab_kb_after", memAfter["Slab"],
		"sunreclaim_kb_before", memBefore["SUnreclaim"], "sunreclaim_kb_after", memAfter["SUnreclaim"],
		"slab_objs_before", slabString(env.slab), "slab_objs_after", slabString(slabAfter),
		"invariant_checks", env.checks+res.Invariants, "failed", t.Failed()))
}

// soakCycleBudget bounds one cycle of each kind (a create/close and a
// create/run/wait) on the slowest kernel the suite runs: the debug one
// takes about 94 ms for both under TCG.
const soakCycleBudget = 400 * time.Millisecond

// soakTimeout is how long the soak helper of n cycles of each kind may run.
func soakTimeout(n int) time.Duration {
	return helper.Timeout + time.Duration(n)*soakCycleBudget
}

type soakArg struct {
	PidsCg string
	N      int
}

type soakResult struct {
	CreateClose, RunWait             int // cycles done
	CreateCloseNs, RunWaitNs         int64
	FDsBefore, FDsAfter              int
	FDDiff                           string
	ChargeAfterClose, ChargeAfterRun int
	Invariants                       int
	Errors                           []string
}

func helperSoak(raw json.RawMessage) (any, error) {
	var arg soakArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	if err := pidfd.Probe(); err != nil {
		return nil, fmt.Errorf("probing empty pidfds: %w", err)
	}
	if err := embryo.JoinPidsCgroup(arg.PidsCg, 4); err != nil {
		return nil, err
	}
	var res soakResult
	before, err := openFDs()
	if err != nil {
		return nil, err
	}
	res.FDsBefore = len(before)

	start := time.Now()
	for ; res.CreateClose < arg.N; res.CreateClose++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("create/close cycle %d: pidfd_open: %s", res.CreateClose, errnoName(errnoOf(err))))
			break
		}
		if err := unix.Close(fd); err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("create/close cycle %d: close: %v", res.CreateClose, err))
			break
		}
	}
	res.CreateCloseNs = time.Since(start).Nanoseconds()
	res.Invariants++
	res.ChargeAfterClose, err = embryo.WaitCharge(arg.PidsCg, 0, settle)
	if err != nil || res.ChargeAfterClose != 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("after %d create/close cycles, %d tasks still charged (%v)", res.CreateClose, res.ChargeAfterClose, err))
	}

	start = time.Now()
	for ; res.RunWait < arg.N; res.RunWait++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("run/wait cycle %d: pidfd_open: %s", res.RunWait, errnoName(errnoOf(err))))
			break
		}
		err = runTrue(fd)
		unix.Close(fd)
		if err != nil {
			res.Errors = append(res.Errors, fmt.Sprintf("run/wait cycle %d: %v", res.RunWait, err))
			break
		}
	}
	res.RunWaitNs = time.Since(start).Nanoseconds()
	res.Invariants += 3
	res.ChargeAfterRun, err = embryo.WaitCharge(arg.PidsCg, 0, settle)
	if err != nil || res.ChargeAfterRun != 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("after %d run/wait cycles, %d tasks still charged (%v)", res.RunWait, res.ChargeAfterRun, err))
	}
	if kids, err := waitNoChildren(settle); err != nil || len(kids) > 0 {
		res.Errors = append(res.Errors, fmt.Sprintf("children left: %v (%v)", kids, err))
	}
	after, err := openFDs()
	if err != nil {
		return nil, err
	}
	res.FDsAfter, res.FDDiff = len(after), fdDiff(before, after)
	return res, nil
}

// readMeminfo reads /proc/meminfo's fields in KiB.
func readMeminfo() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	if _, ok := m["MemAvailable"]; !ok {
		return nil, fmt.Errorf("/proc/meminfo has no MemAvailable")
	}
	return m, nil
}

// shrinkAllSlabs shrinks every slab cache (not the aliases): it empties
// KASAN's quarantine, whose freed objects would count as used memory.
func shrinkAllSlabs() {
	ents, err := os.ReadDir("/sys/kernel/slab")
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		cgroup2.WriteCtl(filepath.Join("/sys/kernel/slab", e.Name(), "shrink"), "1")
	}
}
