package lifecycle

// Creating an embryo counts against RLIMIT_NPROC, pid_max and the pids
// cgroup (EAGAIN), as fork does, and destroying it gives the room back.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type pidsArg struct {
	Cgroup string
	N      int
}

type pidsResult struct {
	Base, WithN, AfterClose int
	First, Second, Again    string
	Limit                   int
}

// helperPids moves itself into an empty pids cgroup and checks that
// embryos are charged there and uncharged on close, and that pids.max
// stops their creation with EAGAIN.
func helperPids(raw json.RawMessage) (any, error) {
	var arg pidsArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	cg := arg.Cgroup
	if err := embryo.JoinPidsCgroup(cg, 8); err != nil {
		return nil, err
	}
	var res pidsResult
	var err error
	if res.Base, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	fds, err := openEmbryos(arg.N)
	if err != nil {
		return nil, err
	}
	if res.WithN, err = embryo.Charge(cg); err != nil {
		return nil, err
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if res.AfterClose, err = embryo.WaitCharge(cg, res.Base, chargeWithin); err != nil {
		return nil, err
	}

	// Room for exactly one more task.
	defer os.WriteFile(cg+"/pids.max", []byte("max"), 0)
	for i := 0; ; i++ {
		cur, err := embryo.ReadInt(cg + "/pids.current")
		if err != nil {
			return nil, err
		}
		res.Limit = cur + 1
		if err := os.WriteFile(cg+"/pids.max", []byte(strconv.Itoa(res.Limit)), 0); err != nil {
			return nil, fmt.Errorf("setting pids.max: %v", err)
		}
		if now, err := embryo.ReadInt(cg + "/pids.current"); err == nil && now == cur {
			break
		}
		if i == 10 {
			return nil, errors.New("pids.current does not settle")
		}
	}
	e1, err1 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.First, res.Second = name(err1), tryOpen()
	if err1 == nil {
		unix.Close(e1)
		if _, err := embryo.WaitCharge(cg, res.Base, chargeWithin); err != nil {
			return nil, err
		}
	}
	res.Again = tryOpen()
	return res, nil
}

func TestPidsCgroup(t *testing.T) {
	embryo.Require(t)
	cg := embryo.PidsCgroup(t)
	const n = 6
	var res pidsResult
	helper.New(t, "pids", pidsArg{Cgroup: cg, N: n}).Env("GOMAXPROCS=1").Result(&res)
	t.Logf("%s: %+v", cg, res)
	if res.Base != 0 {
		t.Errorf("pids.current less the helper's threads = %d before any embryo, want 0", res.Base)
	}
	if res.WithN != res.Base+n {
		t.Errorf("with %d embryos, pids charge %d, want %d", n, res.WithN, res.Base+n)
	}
	if res.AfterClose != res.Base {
		t.Errorf("after closing the embryos, pids charge %d, want %d (released)", res.AfterClose, res.Base)
	}
	if res.First != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) with one task of room under pids.max=%d: %s, want success", res.Limit, res.First)
	}
	if res.Second != "EAGAIN" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) at pids.max=%d: %s, want EAGAIN", res.Limit, res.Second)
	}
	if res.Again != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) after closing an embryo at pids.max: %s, want success (its charge released)", res.Again)
	}
}

// nprocResult is what helperNproc saw, errnos by name.
type nprocResult struct {
	AtZero   string // pidfd_open(0, PIDFD_EMPTY) with RLIMIT_NPROC 0
	ForkZero string // fork with RLIMIT_NPROC 0, for comparison
	Restored string // pidfd_open after the limit is restored
}

// helperNproc runs as an unprivileged user, for whom RLIMIT_NPROC holds:
// with a limit of 0 an embryo cannot be created, as a fork cannot.
func helperNproc(json.RawMessage) (any, error) {
	embryo.Prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return nil, fmt.Errorf("getrlimit: %v", err)
	}
	zero := unix.Rlimit{Cur: 0, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &zero); err != nil {
		return nil, fmt.Errorf("setrlimit(RLIMIT_NPROC, 0): %v", err)
	}
	var res nprocResult
	res.AtZero = tryOpen()
	res.ForkZero = rawFork()
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return nil, fmt.Errorf("restoring RLIMIT_NPROC: %v", err)
	}
	res.Restored = tryOpen()
	return res, nil
}

// TestRlimitNproc: creating an embryo is charged to RLIMIT_NPROC as fork
// is (EAGAIN at the limit). Root is exempt from the limit, so the helper
// runs as nobody.
func TestRlimitNproc(t *testing.T) {
	embryo.Require(t)
	h := helper.New(t, "nproc", nil).AsUser(helper.Nobody, helper.Nobody)
	var res nprocResult
	h.Result(&res)
	if res.ForkZero != "EAGAIN" {
		t.Errorf("fork with RLIMIT_NPROC 0 as nobody: %s, want EAGAIN (the comparison is void)", res.ForkZero)
	}
	if res.AtZero != "EAGAIN" {
		t.Errorf("pidfd_open(0, PIDFD_EMPTY) with RLIMIT_NPROC 0: %s, want EAGAIN", res.AtZero)
	}
	if res.Restored != "success" {
		t.Errorf("pidfd_open(0, PIDFD_EMPTY) after restoring RLIMIT_NPROC: %s, want success", res.Restored)
	}
}

// userTasks counts the tasks, threads included, whose real uid is uid,
// as /proc shows them: what RLIMIT_NPROC counts for that user (it charges
// every task to its real uid), less any unstarted embryo, which /proc does
// not show.
func userTasks(uid int) (int, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	want := strconv.Itoa(uid)
	n := 0
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/task/"
		tasks, err := os.ReadDir(dir)
		if err != nil {
			continue // gone meanwhile
		}
		for _, tk := range tasks {
			b, err := os.ReadFile(dir + tk.Name() + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "Uid:"); ok {
					if f := strings.Fields(v); len(f) > 0 && f[0] == want {
						n++
					}
					break
				}
			}
		}
	}
	return n, nil
}

// retryOpen creates an embryo, retrying while the kernel says EAGAIN
// (a destroyed embryo's task is released asynchronously) for up to 10 s.
// It closes the embryo it got and returns the last result, the number of
// attempts and how long they took.
func retryOpen() (result string, tries int, took time.Duration) {
	start := time.Now()
	for {
		tries++
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err == nil {
			unix.Close(fd)
			return "success", tries, time.Since(start)
		}
		if err != unix.EAGAIN || time.Since(start) > 10*time.Second {
			return name(err), tries, time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// limitProbe is what probeLimit saw under a limit that leaves room for
// one more task, errnos by name.
type limitProbe struct {
	First      string // pidfd_open(PIDFD_EMPTY) with room for one
	Fork       string // fork while the first embryo holds that room
	Second     string // pidfd_open(PIDFD_EMPTY) with no room
	Third      string // pidfd_open(PIDFD_EMPTY) after closing the first (retried)
	ThirdTries int
	ThirdTook  string
}

// probeLimit creates an embryo (it must fit), runs afterFirst if it is
// not nil, forks and creates a second embryo (neither must fit while the
// first holds the room), closes the first and creates a third (it must
// fit again once the first is gone).
func probeLimit(afterFirst func()) limitProbe {
	var p limitProbe
	e1, err1 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	p.First = name(err1)
	if afterFirst != nil {
		afterFirst()
	}
	p.Fork = rawFork()
	p.Second = tryOpen()
	if err1 == nil {
		unix.Close(e1)
	}
	var took time.Duration
	p.Third, p.ThirdTries, took = retryOpen()
	p.ThirdTook = took.String()
	return p
}

// nprocChargeResult is what nprocChargeProbe saw.
type nprocChargeResult struct {
	Tasks, Limit int // the user's tasks in /proc, and the RLIMIT_NPROC set: Tasks+1
	limitProbe
}

// nprocChargeProbe sets RLIMIT_NPROC to the number of tasks the caller's
// user has plus one, probes that limit (probeLimit), then restores it. The
// caller must be unprivileged (root is exempt), have idle threads for the
// Go runtime (embryo.Prewarm) and run with GOMAXPROCS=1: while the limit
// is tight the runtime cannot start a thread.
func nprocChargeProbe() (nprocChargeResult, error) {
	var res nprocChargeResult
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return res, fmt.Errorf("getrlimit(RLIMIT_NPROC): %v", err)
	}
	uid := os.Getuid()
	for i := 0; ; i++ {
		n, err := userTasks(uid)
		if err != nil {
			return res, err
		}
		lim := unix.Rlimit{Cur: uint64(n + 1), Max: old.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return res, fmt.Errorf("setrlimit(RLIMIT_NPROC, %d): %v", n+1, err)
		}
		if m, err := userTasks(uid); err == nil && m == n {
			res.Tasks, res.Limit = n, n+1
			break
		}
		if i == 10 {
			unix.Setrlimit(unix.RLIMIT_NPROC, &old)
			return res, fmt.Errorf("the task count of uid %d does not settle", uid)
		}
	}
	res.limitProbe = probeLimit(nil)
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return res, fmt.Errorf("restoring RLIMIT_NPROC: %v", err)
	}
	return res, nil
}

// helperNprocCharge runs nprocChargeProbe, as an unprivileged user.
func helperNprocCharge(json.RawMessage) (any, error) {
	embryo.Prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return nprocChargeProbe()
}

// checkNproc reports on a nprocChargeProbe run.
func checkNproc(t *testing.T, res nprocChargeResult, when string) {
	t.Helper()
	if res.First != "success" {
		t.Errorf("%spidfd_open(PIDFD_EMPTY) as nobody with RLIMIT_NPROC %d and %d tasks of nobody: %s, want success (one task of room)",
			when, res.Limit, res.Tasks, res.First)
	}
	if res.Fork != "EAGAIN" {
		t.Errorf("%sfork as nobody while the first embryo holds the last of RLIMIT_NPROC %d: %s, want EAGAIN (the embryo is not charged as a task)",
			when, res.Limit, res.Fork)
	}
	if res.Second != "EAGAIN" {
		t.Errorf("%sa second pidfd_open(PIDFD_EMPTY) at RLIMIT_NPROC %d: %s, want EAGAIN (the first embryo is not charged)",
			when, res.Limit, res.Second)
	}
	if res.Third != "success" {
		t.Errorf("%spidfd_open(PIDFD_EMPTY) after closing the first embryo: %s after %d tries in %s, want success (its RLIMIT_NPROC slot is not released)",
			when, res.Third, res.ThirdTries, res.ThirdTook)
	}
}

// TestRlimitNprocChargeAndRelease (DESIGN.md section 3: creation counts
// against RLIMIT_NPROC; last close releases the slot). As nobody (root is
// exempt), with RLIMIT_NPROC set to nobody's task count plus one, the
// first embryo fits; then a fork and a second embryo get EAGAIN, because
// the first holds the slot; after the first is closed a third fits. A
// kernel that only checks the limit lets the second embryo through, one
// that counts embryos apart from tasks lets the fork through, and one that
// charges without releasing refuses the third.
func TestRlimitNprocChargeAndRelease(t *testing.T) {
	embryo.Require(t)
	var res nprocChargeResult
	helper.New(t, "nproccharge", nil).Env("GOMAXPROCS=1").AsUser(helper.Nobody, helper.Nobody).Result(&res)
	t.Logf("%+v", res)
	checkNproc(t, res, "")
}

const (
	pidMaxPath    = "/proc/sys/kernel/pid_max"
	nsLastPidPath = "/proc/sys/kernel/ns_last_pid"
	reservedPids  = 300 // RESERVED_PIDS: where pid allocation wraps to
)

type pidMaxArg struct {
	PidMax int // pid_max during the window
	Old    int // pid_max to restore
}

type pidMaxResult struct {
	Self           int
	Fillers        int    // embryos that fill the namespace's numbers below PidMax-1
	LastFilled     int    // ns_last_pid after filling: PidMax-2
	limitProbe            // with one number left
	LastAfterFirst int    // ns_last_pid after the first embryo: PidMax-1
	Window         string // how long pid_max was lowered
}

// helperPidMax is the init of a new pid namespace. It fills that
// namespace's pid numbers from RESERVED_PIDS to arg.PidMax-2 with embryos
// (ns_last_pid sends the allocation there), lowers pid_max to arg.PidMax,
// which leaves this namespace one number (PidMax-1) while the root
// namespace, where the test picked arg.PidMax, keeps dozens free, and
// checks that embryos are charged a pid number: the first fits, the second
// gets EAGAIN, as a fork does, and closing the first makes room again.
// pid_max is restored at once; the test restores it too if we die.
func helperPidMax(raw json.RawMessage) (any, error) {
	var arg pidMaxArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	res := pidMaxResult{Self: os.Getpid()}
	if res.Self != 1 {
		return nil, fmt.Errorf("pid %d: not the init of a new pid namespace", res.Self)
	}
	embryo.Prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The next number this namespace allocates is RESERVED_PIDS, and
	// once past it, allocation wraps around to it.
	if err := cgroup2.WriteCtl(nsLastPidPath, strconv.Itoa(reservedPids-1)); err != nil {
		return nil, fmt.Errorf("writing ns_last_pid: %v", err)
	}
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		last, err := embryo.ReadInt(nsLastPidPath)
		if err != nil {
			return nil, err
		}
		if last == arg.PidMax-2 {
			res.LastFilled = last
			break
		}
		if last > arg.PidMax-2 || len(fillers) > arg.PidMax {
			return nil, fmt.Errorf("filling the namespace's pids: ns_last_pid %d after %d embryos, want %d", last, len(fillers), arg.PidMax-2)
		}
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("filler embryo %d (ns_last_pid %d): %s", len(fillers), last, name(err))
		}
		fillers = append(fillers, fd)
	}
	res.Fillers = len(fillers)

	start := time.Now()
	if err := cgroup2.WriteCtl(pidMaxPath, strconv.Itoa(arg.PidMax)); err != nil {
		return nil, fmt.Errorf("setting pid_max to %d: %v", arg.PidMax, err)
	}
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		res.Window = time.Since(start).String()
		return cgroup2.WriteCtl(pidMaxPath, strconv.Itoa(arg.Old))
	}
	defer restore()
	res.limitProbe = probeLimit(func() { res.LastAfterFirst, _ = embryo.ReadInt(nsLastPidPath) })
	if err := restore(); err != nil {
		return nil, fmt.Errorf("restoring pid_max to %d: %v", arg.Old, err)
	}
	return res, nil
}

// rootPidsInUse lists the pid numbers of the caller's (root) pid
// namespace that are allocated, as far as /proc shows: every task's id and
// every process group and session id.
func rootPidsInUse() (map[int]bool, error) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		used[pid] = true
		if tasks, err := os.ReadDir("/proc/" + p.Name() + "/task"); err == nil {
			for _, tk := range tasks {
				if tid, err := strconv.Atoi(tk.Name()); err == nil {
					used[tid] = true
				}
			}
		}
		b, err := os.ReadFile("/proc/" + p.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		// After the comm: state ppid pgrp session ...
		f := strings.Fields(s[i+1:])
		for _, k := range []int{2, 3} {
			if k < len(f) {
				if n, err := strconv.Atoi(f[k]); err == nil {
					used[n] = true
				}
			}
		}
	}
	return used, nil
}

// TestPidMaxCountsEmbryos (DESIGN.md section 3: creation counts against
// pid_max, EAGAIN). pid_max bounds the pid numbers of every namespace, so
// lowering it is safe only while every namespace keeps free numbers below
// it: a helper that is the init of a new pid namespace fills that
// namespace's numbers from RESERVED_PIDS (300) to P-2 with embryos
// (ns_last_pid sends the allocation there, before pid_max is lowered, so
// their root-namespace numbers lie above P), and the test picks P so that
// the root namespace keeps at least 64 numbers free in [300, P). With
// pid_max = P, for a few milliseconds, the helper's namespace has one
// number left: the first embryo must take it (ns_last_pid becomes P-1),
// then a fork, the reference, and a second embryo must get EAGAIN, and
// once the first is closed a third must fit. A kernel that does not
// allocate an embryo's pid at creation lets the second through; one that
// does not free it at destruction refuses the third.
func TestPidMaxCountsEmbryos(t *testing.T) {
	embryo.Require(t)
	const margin = 64
	old, err := embryo.ReadInt(pidMaxPath)
	if err != nil {
		t.Fatal(err)
	}
	used, err := rootPidsInUse()
	if err != nil {
		t.Fatal(err)
	}
	p, free := reservedPids, 0
	for ; free < margin; p++ {
		if !used[p] {
			free++
		}
	}
	// [300, p) now holds margin free root numbers.
	if p-reservedPids > 2000 {
		t.Fatalf("the root namespace uses %d of the numbers in [300, %d): too many embryos would be needed", p-reservedPids-margin, p)
	}
	// The fillers' (and the helper's) root numbers must come from above
	// p, and not wrap around into [300, p) while they are allocated.
	need := (p - reservedPids) + 1000
	if old < p+need {
		t.Fatalf("pid_max %d is too small to leave room above %d", old, p)
	}
	rootLast, err := embryo.ReadInt(nsLastPidPath)
	if err != nil {
		t.Fatal(err)
	}
	if rootLast < p || rootLast > old-need {
		if err := cgroup2.WriteCtl(nsLastPidPath, strconv.Itoa(p)); err != nil {
			t.Fatalf("moving the root namespace's ns_last_pid from %d to %d: %v", rootLast, p, err)
		}
	}
	t.Cleanup(func() {
		if now, err := embryo.ReadInt(pidMaxPath); err != nil || now != old {
			if err := cgroup2.WriteCtl(pidMaxPath, strconv.Itoa(old)); err != nil {
				t.Errorf("restoring pid_max to %d: %v", old, err)
			}
		}
	})
	h := helper.New(t, "pidmax", pidMaxArg{PidMax: p, Old: old}).Env("GOMAXPROCS=1")
	h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
	var res pidMaxResult
	h.Result(&res)
	t.Logf("pid_max %d for %s (root ns_last_pid was %d); %+v", p, res.Window, rootLast, res)
	if now, err := embryo.ReadInt(pidMaxPath); err != nil || now != old {
		t.Errorf("pid_max after the helper: %d, %v; want %d restored", now, err, old)
	}
	if res.First != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) with one pid number left in the namespace under pid_max %d: %s, want success", p, res.First)
	} else if res.LastAfterFirst != p-1 {
		t.Errorf("after the first embryo the namespace's ns_last_pid is %d, want %d (the one number left): the test is void", res.LastAfterFirst, p-1)
	}
	if res.Fork != "EAGAIN" {
		t.Errorf("fork with no pid number left in the namespace: %s, want EAGAIN: the test is void", res.Fork)
	}
	if res.Second != "EAGAIN" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) with no pid number left under pid_max %d: %s, want EAGAIN (the embryo's pid is not allocated at creation)", p, res.Second)
	}
	if res.Third != "success" {
		t.Errorf("pidfd_open(PIDFD_EMPTY) after closing the embryo that took the last number: %s after %d tries in %s, want success (its pid is not freed)", res.Third, res.ThirdTries, res.ThirdTook)
	}
}
