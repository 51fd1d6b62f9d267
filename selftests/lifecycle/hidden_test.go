package lifecycle

// v1 finding A15: an unstarted embryo's pid leaked through cgroup.procs,
// /proc/PID/task/TID/children and fdinfo; its start_time was its creation
// time; a __WNOTHREAD wait from a thread other than its creator's treated
// it as that thread's child.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() {
	helpers["hidden"] = helperHidden
}

type hiddenArg struct {
	Cgroup string // the cgroup v2 directory the helper starts in
	V1     string // a cgroup v1 directory (tasks, cgroup.procs) to join, or ""
}

// hiddenView is what the creator sees of its own cgroup, children and
// pidfd at one moment.
type hiddenView struct {
	Procs     []int // cgroup v2 cgroup.procs
	V1Procs   []int // cgroup v1 cgroup.procs
	V1Tasks   []int // cgroup v1 tasks
	Threads   []int // /proc/self/task, read after the above
	Children  []int // every thread's children file
	FdinfoPid string
	NSpid     string
}

type hiddenResult struct {
	Self           int
	Before, After  hiddenView
	WaitOther      string // waitid(P_PIDFD, WNOHANG|__WNOTHREAD) from another thread
	WaitCreator    string // the same from the creating thread
	ChildPid       int
	UptimeAtRun    float64 // /proc/uptime just before pidfd_spawn_run
	ChildStartTime float64 // the child's /proc/PID/stat starttime, in seconds
	Run            string
}

func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", path, f, err)
		}
		pids = append(pids, n)
	}
	slices.Sort(pids)
	return pids, nil
}

func look(fd int, cg2, v1 string) (hiddenView, error) {
	var v hiddenView
	var err error
	if v.Procs, err = readPids(filepath.Join(cg2, "cgroup.procs")); err != nil {
		return v, err
	}
	if v1 != "" {
		if v.V1Procs, err = readPids(filepath.Join(v1, "cgroup.procs")); err != nil {
			return v, err
		}
		if v.V1Tasks, err = readPids(filepath.Join(v1, "tasks")); err != nil {
			return v, err
		}
	}
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return v, err
	}
	for _, e := range ents {
		tid, _ := strconv.Atoi(e.Name())
		v.Threads = append(v.Threads, tid)
		kids, err := readPids(filepath.Join("/proc/self/task", e.Name(), "children"))
		if err != nil && !os.IsNotExist(err) {
			return v, err
		}
		v.Children = append(v.Children, kids...)
	}
	slices.Sort(v.Threads)
	m, err := pidfd.Fdinfo(fd)
	if err != nil {
		return v, err
	}
	v.FdinfoPid, v.NSpid = m["Pid"], m["NSpid"]
	return v, nil
}

func uptime() (float64, error) {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("/proc/uptime: %q", b)
	}
	return strconv.ParseFloat(f[0], 64)
}

// startTime is field 22 of /proc/pid/stat in seconds (USER_HZ is 100 on x86).
func startTime(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state); starttime is field 22.
	ticks, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat starttime: %v", pid, err)
	}
	return float64(ticks) / 100, nil
}

// waitNothread is waitid(P_PIDFD, fd, WEXITED|WNOHANG|__WNOTHREAD) on the
// calling thread.
func waitNothread(fd int) string {
	var si unix.Siginfo
	return name(unix.Waitid(unix.P_PIDFD, fd, &si, unix.WEXITED|unix.WNOHANG|unix.WNOTHREAD, nil))
}

func helperHidden(raw json.RawMessage) (any, error) {
	var arg hiddenArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread() // the creating thread: its children file, its waits
	res := hiddenResult{Self: os.Getpid()}
	if arg.V1 != "" {
		if err := os.WriteFile(filepath.Join(arg.V1, "cgroup.procs"), []byte(strconv.Itoa(res.Self)), 0); err != nil {
			return nil, fmt.Errorf("joining cgroup v1 %s: %v", arg.V1, err)
		}
	}
	cg2 := arg.Cgroup
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/bin/sleep", 0); err != nil {
		return nil, fmt.Errorf("EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{"sleep", "30"}); err != nil {
		return nil, fmt.Errorf("ARGV: %s", name(err))
	}
	if res.Before, err = look(fd, cg2, arg.V1); err != nil {
		return nil, err
	}
	other := make(chan string)
	go func() {
		runtime.LockOSThread() // never this thread: the creator's is locked
		other <- waitNothread(fd)
	}()
	res.WaitOther = <-other
	res.WaitCreator = waitNothread(fd)

	// Let time pass between creation and start.
	time.Sleep(1500 * time.Millisecond)
	if res.UptimeAtRun, err = uptime(); err != nil {
		return nil, err
	}
	pid, err := pidfd.SpawnRun(fd, 0)
	res.Run = name(err)
	if err != nil {
		return res, nil
	}
	res.ChildPid = pid
	defer func() {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		embryo.WaitExit(fd, embryo.Timeout)
	}()
	if res.ChildStartTime, err = startTime(pid); err != nil {
		return nil, err
	}
	if res.After, err = look(fd, cg2, arg.V1); err != nil {
		return nil, err
	}
	return res, nil
}

// TestHiddenBeforeStart (v1 finding A15): before it starts, an embryo's pid
// is in no cgroup.procs or tasks file (v2 and v1), no children file and
// not in its pidfd's fdinfo (Pid: 0, as for a pid of no namespace of the
// reader's); after start all of them show it. Its start_time is when it
// started, not when it was created. A __WNOTHREAD wait from a thread other
// than the creating one gets ECHILD, as for a forked child of that thread.
func TestHiddenBeforeStart(t *testing.T) {
	embryo.Require(t)
	cg := newCgroup2(t)
	v1 := ""
	if dir := embryo.PidsCgroup(t); fileExists(filepath.Join(dir, "tasks")) {
		v1 = dir
	}
	cgfd := openCgroup(t, cg)
	h := helper.New(t, "hidden", hiddenArg{Cgroup: cg, V1: v1})
	intoCgroup(h, cgfd)
	var res hiddenResult
	h.Result(&res)
	unix.Close(cgfd)
	t.Logf("helper %d, child %d; before %+v; after %+v", res.Self, res.ChildPid, res.Before, res.After)

	self := []int{res.Self}
	b, a := res.Before, res.After
	if !slices.Equal(b.Procs, self) {
		t.Errorf("cgroup.procs before start: %v, want only the creator %v", b.Procs, self)
	}
	if v1 != "" {
		if !slices.Equal(b.V1Procs, self) {
			t.Errorf("cgroup v1 cgroup.procs before start: %v, want only the creator %v", b.V1Procs, self)
		}
		for _, tid := range b.V1Tasks {
			if !slices.Contains(b.Threads, tid) {
				t.Errorf("cgroup v1 tasks before start lists %d, not a thread of the creator %v", tid, b.Threads)
			}
		}
	} else {
		t.Logf("no cgroup v1 pids hierarchy: v1 files not checked")
	}
	if len(b.Children) != 0 {
		t.Errorf("the creator's children files before start: %v, want none", b.Children)
	}
	if b.FdinfoPid != "0" || b.NSpid != "0" {
		t.Errorf("fdinfo before start: Pid %q NSpid %q, want 0 and 0", b.FdinfoPid, b.NSpid)
	}
	if res.WaitOther != "ECHILD" {
		t.Errorf("waitid(P_PIDFD, WNOHANG|__WNOTHREAD) from a thread that did not create the embryo: %s, want ECHILD", res.WaitOther)
	}
	if res.WaitCreator != "success" {
		t.Errorf("waitid(P_PIDFD, WNOHANG|__WNOTHREAD) from the creating thread: %s, want success (a child that has not exited)", res.WaitCreator)
	}
	if res.Run != "success" {
		t.Fatalf("pidfd_spawn_run: %s", res.Run)
	}
	child := strconv.Itoa(res.ChildPid)
	if !slices.Contains(a.Procs, res.ChildPid) {
		t.Errorf("cgroup.procs after start: %v, lacks the child %d", a.Procs, res.ChildPid)
	}
	if v1 != "" && (!slices.Contains(a.V1Procs, res.ChildPid) || !slices.Contains(a.V1Tasks, res.ChildPid)) {
		t.Errorf("cgroup v1 after start: procs %v tasks %v, lack the child %d", a.V1Procs, a.V1Tasks, res.ChildPid)
	}
	if !slices.Contains(a.Children, res.ChildPid) {
		t.Errorf("children files after start: %v, lack the child %d", a.Children, res.ChildPid)
	}
	if a.FdinfoPid != child || !strings.HasPrefix(a.NSpid, child) {
		t.Errorf("fdinfo after start: Pid %q NSpid %q, want %s", a.FdinfoPid, a.NSpid, child)
	}
	// starttime has a resolution of 10 ms; the embryo was created 1.5 s
	// before the run.
	if res.ChildStartTime < res.UptimeAtRun-0.02 {
		t.Errorf("the child's start time is %.2f s after boot, the run began at %.2f s: it shows the embryo's creation", res.ChildStartTime, res.UptimeAtRun)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
