package lifecycle

// Before it starts, an embryo does not exist for the rest of the system:
// what is done to it through its pidfd fails with ESRCH (and succeeds once
// it has started, as on a CLONE_PIDFD child), no lookup by its pid number
// finds it, /proc, cgroup.procs, tasks and children files do not list it,
// and fdinfo shows no pid but says it is an embryo.

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
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func processMadvise(fd int) error {
	var iov unix.Iovec
	_, _, errno := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 0, unix.MADV_COLD, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func processMrelease(fd int) error {
	_, _, errno := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(fd), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// setnsUTS is setns(fd, CLONE_NEWUTS) on a thread of its own, which is
// thrown away afterwards (it exits locked) whatever namespace it joined.
func setnsUTS(fd int) error {
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		done <- unix.Setns(fd, unix.CLONE_NEWUTS)
	}()
	return <-done
}

// An op is something done to a process through its pidfd.
type op struct {
	name string
	do   func(t *testing.T, fd int) error
}

func sendSignal(sig unix.Signal) op {
	return op{fmt.Sprintf("pidfd_send_signal(%d)", sig), func(t *testing.T, fd int) error {
		return unix.PidfdSendSignal(fd, sig, nil, 0)
	}}
}

func getfd(target int) op {
	return op{fmt.Sprintf("pidfd_getfd(%d)", target), func(t *testing.T, fd int) error {
		got, err := unix.PidfdGetfd(fd, target, 0)
		if err == nil {
			unix.Close(got)
		}
		return err
	}}
}

var (
	opSetns    = op{"setns(CLONE_NEWUTS)", func(t *testing.T, fd int) error { return setnsUTS(fd) }}
	opMadvise  = op{"process_madvise(MADV_COLD)", func(t *testing.T, fd int) error { return processMadvise(fd) }}
	opMrelease = op{"process_mrelease", func(t *testing.T, fd int) error { return processMrelease(fd) }}
)

func TestESRCHBeforeStart(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	if err := pidfd.ConfigFDDup(fd, int(devnull.Fd()), 0, 0); err != nil {
		t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
	}
	for _, o := range []op{
		sendSignal(0), sendSignal(unix.SIGKILL), sendSignal(unix.SIGTERM), sendSignal(unix.SIGSTOP),
		getfd(0), getfd(1), opSetns, opMadvise, opMrelease,
	} {
		t.Run(o.name, func(t *testing.T) {
			embryo.Check(t, o.name+" on an unstarted embryo", o.do(t, fd), unix.ESRCH)
		})
	}
	// No signal reached it: it starts, runs and exits normally.
	embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	if ex := embryo.Wait(t, fd); !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	for _, k := range []string{"SigPnd", "ShdPnd"} {
		if v, err := rep.Hex(k); err != nil || v != 0 {
			t.Errorf("child's %s = %#x (%v), want nothing pending", k, v, err)
		}
	}
}

// TestAfterStartLikeClonePidfd runs each operation on a started embryo and
// on a fork+exec'd CLONE_PIDFD child of the same program, side by side.
func TestAfterStartLikeClonePidfd(t *testing.T) {
	embryo.Require(t)
	type child struct {
		name     string
		fd, pid  int
		stdin    *os.File // write end: closing it lets the child exit
		out      *os.File
		stdinIno uint64
	}
	start := func(t *testing.T, viaEmbryo bool) *child {
		in, inW := embryo.InputPipe(t)
		var st unix.Stat_t
		if err := unix.Fstat(int(in.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		c := &child{stdin: inW, stdinIno: st.Ino}
		if viaEmbryo {
			c.name = "embryo"
			c.fd = embryo.New(t)
			c.out = embryo.Config(t, c.fd, []string{"read"}, nil)
			if err := pidfd.ConfigFDDup(c.fd, int(in.Fd()), 0, 0); err != nil {
				t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
			}
			c.pid = embryo.Run(t, c.fd)
		} else {
			c.name = "CLONE_PIDFD"
			out, w := embryo.Pipe(t)
			pid, fd, err := embryo.ForkExec(childreport.Path, []string{childreport.Path, "read"}, nil, []int{int(in.Fd()), int(w.Fd()), -1})
			w.Close()
			if err != nil {
				t.Fatalf("fork+exec: %v", err)
			}
			t.Cleanup(func() { unix.Close(fd) })
			c.fd, c.pid, c.out = fd, pid, out
		}
		embryo.Report(t, c.out) // it has started, closed stdout, and waits on stdin
		return c
	}
	kids := []*child{start(t, true), start(t, false)}

	for _, tc := range []struct {
		op   op
		want unix.Errno
	}{
		{sendSignal(0), 0},
		{getfd(0), 0},
		{opSetns, 0},
		{opMadvise, 0},
		{opMrelease, unix.EINVAL}, // the process is not exiting
	} {
		t.Run(tc.op.name, func(t *testing.T) {
			for _, c := range kids {
				embryo.Check(t, c.name+": "+tc.op.name, tc.op.do(t, c.fd), tc.want)
			}
		})
	}
	t.Run("pidfd_getfd(0) is the same pipe", func(t *testing.T) {
		for _, c := range kids {
			got, err := unix.PidfdGetfd(c.fd, 0, 0)
			if err != nil {
				t.Errorf("%s: pidfd_getfd: %v", c.name, err)
				continue
			}
			var st unix.Stat_t
			unix.Fstat(got, &st)
			unix.Close(got)
			if st.Ino != c.stdinIno {
				t.Errorf("%s: pidfd_getfd(0) gave inode %d, the child's stdin is %d", c.name, st.Ino, c.stdinIno)
			}
		}
	})
	t.Run("running: poll and waitid", func(t *testing.T) {
		for _, c := range kids {
			if ev, err := embryo.PollIn(c.fd, 0); err != nil || ev != 0 {
				t.Errorf("%s: poll on a running child: events %#x, %v; want none", c.name, ev, err)
			}
			ex, err := pidfd.Waitid(unix.P_PIDFD, c.fd, unix.WEXITED|unix.WNOHANG)
			if err != nil || ex.Code != 0 {
				t.Errorf("%s: waitid(WNOHANG) on a running child: %v, %v; want no child reported", c.name, ex, embryo.Name(err))
			}
		}
	})
	t.Run("SIGTERM: poll, waitid", func(t *testing.T) {
		for _, c := range kids {
			if err := unix.PidfdSendSignal(c.fd, unix.SIGTERM, nil, 0); err != nil {
				t.Fatalf("%s: pidfd_send_signal(SIGTERM): %v", c.name, err)
			}
		}
		for _, c := range kids {
			ev, err := embryo.PollIn(c.fd, embryo.Timeout)
			if err != nil || ev&unix.POLLIN == 0 {
				t.Errorf("%s: poll after SIGTERM: events %#x, %v; want POLLIN", c.name, ev, err)
			}
			ex := embryo.Wait(t, c.fd)
			if ex.Code != pidfd.CLD_KILLED || ex.Status != int(unix.SIGTERM) || ex.Pid != c.pid {
				t.Errorf("%s: %v, want pid %d killed by SIGTERM", c.name, ex, c.pid)
			}
		}
	})
}

// runTrue runs /bin/true-static to completion and returns its pid: a
// marker in pid allocation order.
func runTrue() (int, error) {
	pid, fd, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
	if err != nil {
		return -1, fmt.Errorf("fork+exec %s: %v", childreport.TruePath, err)
	}
	defer unix.Close(fd)
	if _, err := embryo.WaitExit(fd, embryo.Timeout); err != nil {
		return -1, err
	}
	return pid, nil
}

type pidRecord struct {
	InProc    bool   // /proc/<pid> existed before start
	Kill      string // kill(pid, 0) before start
	OwnThread bool   // a thread of the helper
}

type invisibleResult struct {
	Self, Before, After, Pid int
	Waitid, Wait4            string
	NewInProc                map[int]string // new /proc entries before start: pid -> PPid
	Records                  map[int]pidRecord
	Exit                     string
	Exited0                  bool
}

// helperInvisible runs in a process without other children: it creates an
// embryo between two marker processes and records what the pids between
// them looked like before start.
func helperInvisible(json.RawMessage) (any, error) {
	res := invisibleResult{Self: os.Getpid(), NewInProc: map[int]string{}, Records: map[int]pidRecord{}}
	var err error
	if res.Before, err = runTrue(); err != nil {
		return nil, err
	}
	inProc, err := embryo.ProcPids()
	if err != nil {
		return nil, err
	}
	fd, out, err := reportEmbryo("exit", "0")
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	defer out.Close()
	if res.After, err = runTrue(); err != nil {
		return nil, err
	}
	now, err := embryo.ProcPids()
	if err != nil {
		return nil, err
	}
	for p := range now {
		if !inProc[p] && p != res.After {
			pp, err := embryo.StatusField(strconv.Itoa(p), "PPid")
			if err != nil {
				pp = err.Error()
			}
			res.NewInProc[p] = pp
		}
	}
	res.Waitid, res.Wait4 = waitAny()
	for p := res.Before + 1; p < res.After && p < res.Before+4096; p++ {
		var rec pidRecord
		_, err := os.Stat("/proc/" + strconv.Itoa(p))
		rec.InProc = err == nil
		rec.Kill = name(unix.Kill(p, 0))
		_, err = os.Stat("/proc/self/task/" + strconv.Itoa(p))
		rec.OwnThread = err == nil
		res.Records[p] = rec
	}
	pid, _, ex, err := runReport(fd, out)
	if err != nil {
		return nil, err
	}
	res.Pid, res.Exit, res.Exited0 = pid, ex.String(), ex.Exited(0)
	return res, nil
}

func TestPidInvisibleBeforeStart(t *testing.T) {
	embryo.Require(t)
	var res invisibleResult
	helper.New(t, "invisible", nil).Result(&res)
	t.Logf("markers %d and %d, embryo started as %d", res.Before, res.After, res.Pid)
	if res.Waitid != "ECHILD" {
		t.Errorf("waitid(P_ALL, WNOHANG) with only an embryo for a child: %s, want ECHILD", res.Waitid)
	}
	if res.Wait4 != "ECHILD" {
		t.Errorf("wait4(-1, WNOHANG) with only an embryo for a child: %s, want ECHILD", res.Wait4)
	}
	for p, pp := range res.NewInProc {
		if pp == fmt.Sprint(res.Self) {
			t.Errorf("/proc/%d appeared with the embryo, with PPid %s (the creator)", p, pp)
		}
	}
	if !res.Exited0 {
		t.Errorf("the started embryo: %s, want exit 0", res.Exit)
	}
	if res.Pid <= res.Before || res.Pid >= res.After {
		t.Fatalf("the embryo started as pid %d, outside (%d, %d): its pid was not allocated at creation, so a destroyed embryo could not 'release its pid' (DESIGN.md section 3)",
			res.Pid, res.Before, res.After)
	}
	rec := res.Records[res.Pid]
	if rec.InProc {
		t.Errorf("/proc/%d existed before start", res.Pid)
	}
	if rec.Kill != "ESRCH" {
		t.Errorf("kill(%d, 0) before start: %s, want ESRCH", res.Pid, rec.Kill)
	}
}

// forkEventPid finds the pid of the embryo just created by this process
// in the proc connector's events on s: a FORK from this process of a new
// thread group.
func forkEventPid(t *testing.T, s int) int {
	t.Helper()
	evs := cnProcDrain(s, time.Now().Add(5*time.Second))
	pid := 0
	for _, e := range evs {
		if e.What == procEventFork && int(e.ParentTgid) == os.Getpid() && e.Pid == e.Tgid && int(e.Tgid) != os.Getpid() {
			if pid != 0 {
				t.Fatalf("two FORK events of this process: %d and %d", pid, e.Tgid)
			}
			pid = int(e.Tgid)
		}
	}
	if pid == 0 {
		t.Fatalf("no FORK event for the embryo in %d proc connector events", len(evs))
	}
	return pid
}

// TestLookupByNumberBeforeStart (pidfd_empty.rst: its pid is reserved but
// nothing finds it by number; kill(), /proc, ptrace() and
// pidfd_open(pid, 0) fail as for a pid that does not exist). The embryo's
// pid comes from a privileged observer, the proc connector's FORK event.
// pidfd_open, ptrace (PTRACE_SEIZE, PTRACE_ATTACH) and every other call
// that looks a process up by that number must fail with ESRCH, and
// /proc/<pid> must not exist. Once started, pidfd_spawn_run must return
// that very pid, and the same calls must find it (the control: ESRCH was
// not a permission or a wrong number).
func TestLookupByNumberBeforeStart(t *testing.T) {
	embryo.Require(t)
	s := cnProcSocket(t)
	fd := embryo.New(t)
	pid := forkEventPid(t, s)
	runtime.LockOSThread() // ptrace is per thread
	defer runtime.UnlockOSThread()
	type lookup struct {
		name  string
		do    func() error
		after bool // also checked, for success, after start
	}
	lookups := []lookup{
		{"pidfd_open(pid, 0)", func() error {
			f, err := pidfd.Open(pid, 0)
			if err == nil {
				unix.Close(f)
			}
			return err
		}, true},
		{"pidfd_open(pid, PIDFD_THREAD)", func() error {
			f, err := pidfd.Open(pid, pidfd.PIDFD_THREAD)
			if err == nil {
				unix.Close(f)
			}
			return err
		}, true},
		{"ptrace(PTRACE_ATTACH)", func() error { return unix.PtraceAttach(pid) }, false},
		{"kill(pid, 0)", func() error { return unix.Kill(pid, 0) }, true},
		{"tgkill(pid, pid, 0)", func() error { return unix.Tgkill(pid, pid, 0) }, true},
		{"getpgid(pid)", func() error { _, err := unix.Getpgid(pid); return err }, true},
		{"getsid(pid)", func() error { _, err := unix.Getsid(pid); return err }, true},
		{"getpriority(PRIO_PROCESS, pid)", func() error { _, err := unix.Getpriority(unix.PRIO_PROCESS, pid); return err }, true},
		{"prlimit(pid, RLIMIT_NOFILE)", func() error { var r unix.Rlimit; return unix.Prlimit(pid, unix.RLIMIT_NOFILE, nil, &r) }, true},
		{"sched_getaffinity(pid)", func() error { var c unix.CPUSet; return unix.SchedGetaffinity(pid, &c) }, true},
		// Last: after start it attaches, and the child is killed.
		{"ptrace(PTRACE_SEIZE)", func() error { return unix.PtraceSeize(pid) }, true},
	}
	for _, l := range lookups {
		embryo.Check(t, fmt.Sprintf("%s on the unstarted embryo's pid %d", l.name, pid), l.do(), unix.ESRCH)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
		t.Errorf("stat /proc/%d before start: %v, want ENOENT", pid, err)
	}
	if !embryo.IsEmbryo(t, fd) {
		t.Fatalf("the fd is no unstarted embryo any more: %v", embryo.Fdinfo(t, fd))
	}

	startReading(t, fd, pid)
	for _, l := range lookups {
		if l.after {
			embryo.Check(t, fmt.Sprintf("%s on the started child %d (control)", l.name, pid), l.do(), 0)
		}
	}
}

// v1 finding A15: an unstarted embryo's pid leaked through cgroup.procs,
// /proc/PID/task/TID/children and fdinfo; its start_time was its creation
// time; a __WNOTHREAD wait from a thread other than its creator's treated
// it as that thread's child.

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
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
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
	cg := cgroup2.New(t, cgPrefix)
	v1 := embryo.V1Cgroup(t)
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
	if !slices.Equal(b.V1Procs, self) {
		t.Errorf("cgroup v1 cgroup.procs before start: %v, want only the creator %v", b.V1Procs, self)
	}
	for _, tid := range b.V1Tasks {
		if !slices.Contains(b.Threads, tid) {
			t.Errorf("cgroup v1 tasks before start lists %d, not a thread of the creator %v", tid, b.Threads)
		}
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
	if !slices.Contains(a.V1Procs, res.ChildPid) || !slices.Contains(a.V1Tasks, res.ChildPid) {
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

func TestFdinfoEmbryo(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a new embryo lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a configured embryo lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent", 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != unix.ENOENT {
		t.Fatalf("run of /nonexistent: %s, want ENOENT", embryo.Name(err))
	}
	if !embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo after a failed run lacks Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.Run(t, fd)
	if embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a started embryo still says Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	embryo.Report(t, out)
	embryo.Wait(t, fd)
	if embryo.IsEmbryo(t, fd) {
		t.Errorf("fdinfo of a reaped embryo says Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
	}
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	if embryo.IsEmbryo(t, self) {
		t.Errorf("fdinfo of pidfd_open(getpid(), 0) says Embryo:\\t1")
	}
}

// startReading starts embryo fd, configured to run childreport's "read"
// (it reports, then waits on its stdin), checks that it started as pid
// (the number the proc connector named) and that it runs. The child is
// let go and reaped when t ends.
func startReading(t *testing.T, fd, pid int) {
	t.Helper()
	in, inW := embryo.InputPipe(t)
	out := embryo.Config(t, fd, []string{"read"}, nil)
	if err := pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0); err != nil {
		t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
	}
	got := embryo.Run(t, fd)
	t.Cleanup(func() {
		inW.Close()
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		embryo.Wait(t, fd)
	})
	if got != pid {
		t.Fatalf("pidfd_spawn_run returned %d, the FORK event named %d: the lookups tried another number", got, pid)
	}
	embryo.Report(t, out)
}
