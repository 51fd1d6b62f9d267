package lifecycle

// Helper processes and tools of deep_test.go (issue 8, item 5: tests that
// check less than their names): RLIMIT_NPROC measured against the tasks
// the user really has, destruction seen from the pids cgroup and the user's
// RLIMIT_NPROC count, broadcasts with nothing but an embryo to reach, pid
// exhaustion in a pid namespace of our own, a caller with a large address
// space, and the pid a caller in a nested pid namespace gets back.

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() {
	helpers["deep-nproc"] = helperDeepNproc
	helpers["deep-destroy"] = helperDeepDestroy
	helpers["deep-pgrp"] = helperDeepPgrp
	helpers["deep-killall"] = helperDeepKillAll
	helpers["deep-pidmax"] = helperDeepPidMax
	helpers["deep-bigcaller"] = helperDeepBigCaller
	helpers["deep-pidns"] = helperDeepPidns
}

// deepUserTasks counts the tasks, threads included, whose real uid is uid,
// as /proc shows them: what RLIMIT_NPROC counts for that user (it charges
// every task to its real uid), less any unstarted embryo, which /proc does
// not show.
func deepUserTasks(uid int) (int, error) {
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

// deepRawFork forks with a bare clone(SIGCHLD), which copies the caller's
// address space and page tables; the child exits at once without running
// any Go and the parent reaps it. It returns the fork's errno by name.
func deepRawFork() string {
	pid, _, errno := unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
	if errno != 0 {
		return name(errno)
	}
	if pid == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(int(pid), &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	return "success"
}

// deepRetryOpen creates an embryo, retrying while the kernel says EAGAIN
// (a destroyed embryo's task is released asynchronously) for up to 10 s.
// It closes the embryo it got and returns the last result, the number of
// attempts and how long they took.
func deepRetryOpen() (result string, tries int, took time.Duration) {
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

// deepNprocResult is what deepNprocProbe saw, errnos by name.
type deepNprocResult struct {
	Tasks, Limit int    // the user's tasks in /proc, and the RLIMIT_NPROC set: Tasks+1
	First        string // pidfd_open(PIDFD_EMPTY) with one task of room
	ForkAtLimit  string // fork while the first embryo holds that room
	Second       string // pidfd_open(PIDFD_EMPTY) with no room
	Third        string // pidfd_open(PIDFD_EMPTY) after closing the first (retried)
	ThirdTries   int
	ThirdTook    string
}

// deepNprocProbe sets RLIMIT_NPROC to the number of tasks the caller's user
// has plus one, creates an embryo (it must fit), forks and creates a second
// one (neither must fit while the first holds the room), closes the first
// and creates a third (it must fit again once the first is gone), then
// restores the limit. The caller must be unprivileged (root is exempt),
// have idle threads for the Go runtime (prewarm) and run with GOMAXPROCS=1:
// while the limit is tight the runtime cannot start a thread.
func deepNprocProbe() (deepNprocResult, error) {
	var res deepNprocResult
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return res, fmt.Errorf("getrlimit(RLIMIT_NPROC): %v", err)
	}
	uid := os.Getuid()
	for i := 0; ; i++ {
		n, err := deepUserTasks(uid)
		if err != nil {
			return res, err
		}
		lim := unix.Rlimit{Cur: uint64(n + 1), Max: old.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return res, fmt.Errorf("setrlimit(RLIMIT_NPROC, %d): %v", n+1, err)
		}
		if m, err := deepUserTasks(uid); err == nil && m == n {
			res.Tasks, res.Limit = n, n+1
			break
		}
		if i == 10 {
			unix.Setrlimit(unix.RLIMIT_NPROC, &old)
			return res, fmt.Errorf("the task count of uid %d does not settle", uid)
		}
	}
	e1, err1 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.First = name(err1)
	res.ForkAtLimit = deepRawFork()
	e2, err2 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.Second = name(err2)
	if err2 == nil {
		unix.Close(e2)
	}
	if err1 == nil {
		unix.Close(e1)
	}
	var took time.Duration
	res.Third, res.ThirdTries, took = deepRetryOpen()
	res.ThirdTook = took.String()
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &old); err != nil {
		return res, fmt.Errorf("restoring RLIMIT_NPROC: %v", err)
	}
	return res, nil
}

// helperDeepNproc runs deepNprocProbe, as an unprivileged user.
func helperDeepNproc(json.RawMessage) (any, error) {
	prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return deepNprocProbe()
}

type deepDestroyArg struct {
	Cgroup string // the pids cgroup the test moves the helper into
	N      int    // embryos to create
	// Send: send the embryos over the socket at fd 3 and exit, so that
	// the creator's exit destroys them while the test holds them.
	// Otherwise close them and look for what is left.
	Send bool
}

type deepDestroyResult struct {
	Base, WithN, AfterClose int // the pids cgroup's embryo charge (embryoCharge)
	SIGCHLD                 int // SIGCHLDs the creator got after closing
	Waitid, Wait4           string
	Children                []int
	Nproc                   *deepNprocResult // after closing
}

// helperDeepDestroy runs as an unprivileged user in a pids cgroup the test
// moves it into (it waits for a line on stdin first). It creates arg.N
// embryos, then closes them or sends them to the test and exits.
func helperDeepDestroy(raw json.RawMessage) (any, error) {
	var arg deepDestroyArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sigc := make(chan os.Signal, 64)
	signal.Notify(sigc, syscall.SIGCHLD)
	defer signal.Stop(sigc)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test to move us into %s: %v", arg.Cgroup, err)
	}
	var res deepDestroyResult
	var err error
	if res.Base, err = embryoCharge(arg.Cgroup); err != nil {
		return nil, err
	}
	var fds []int
	for i := 0; i < arg.N; i++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: pidfd_open: %s", i, name(err))
		}
		fds = append(fds, fd)
	}
	if res.WithN, err = embryoCharge(arg.Cgroup); err != nil {
		return nil, err
	}
	if arg.Send {
		for i, fd := range fds {
			if err := embryo.SendFD(3, fd); err != nil {
				return nil, fmt.Errorf("sending embryo %d: %v", i, err)
			}
		}
		return res, nil // exiting destroys them
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	if res.AfterClose, err = waitCharge(arg.Cgroup, res.Base); err != nil {
		return nil, err
	}
	deadline := time.After(500 * time.Millisecond)
wait:
	for {
		select {
		case <-sigc:
			res.SIGCHLD++
		case <-deadline:
			break wait
		}
	}
	_, err = pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG)
	res.Waitid = name(err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	res.Wait4 = name(err)
	if res.Children, err = embryo.ChildrenInProc(); err != nil {
		return nil, err
	}
	nproc, err := deepNprocProbe()
	if err != nil {
		return nil, err
	}
	res.Nproc = &nproc
	return res, nil
}

type deepPgrpResult struct {
	Pgrp, LeftTo   int // the process group at creation, and after setpgid(0, 0)
	ChildPgid      int // the started child's process group
	Exit           string
	Exited0        bool
	SigPnd, ShdPnd string
}

// helperDeepPgrp starts in a process group another process leads. It
// creates an embryo, leaves the group (setpgid(0, 0)) and says "ready" on
// fd 3. On a line on stdin it starts the embryo (childreport waiting on
// its stdin) and says "started <the child's process group>" on fd 3; on a
// second line it lets the child exit and reports on it.
func helperDeepPgrp(json.RawMessage) (any, error) {
	var res deepPgrpResult
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "read")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	inW, err := stdinPipe(fd)
	if err != nil {
		return nil, err
	}
	defer inW.Close()
	res.Pgrp = unix.Getpgrp()
	if err := unix.Setpgid(0, 0); err != nil {
		return nil, fmt.Errorf("setpgid(0, 0): %v", err)
	}
	res.LeftTo = unix.Getpgrp()
	talk := os.NewFile(3, "talk")
	defer talk.Close()
	stdin := bufio.NewReader(os.Stdin)
	if _, err := talk.WriteString("ready\n"); err != nil {
		return nil, fmt.Errorf("writing ready: %v", err)
	}
	if _, err := stdin.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test: %v", err)
	}
	pid, err := pidfd.SpawnRun(fd, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, err := embryo.ParseReport(out)
	if err != nil {
		return nil, fmt.Errorf("the child: %v\n%s", err, raw)
	}
	res.SigPnd, res.ShdPnd = rep.Status["SigPnd"], rep.Status["ShdPnd"]
	if res.ChildPgid, err = unix.Getpgid(pid); err != nil {
		return nil, fmt.Errorf("getpgid(%d) of the started child: %v", pid, err)
	}
	if _, err := fmt.Fprintf(talk, "started %d\n", res.ChildPgid); err != nil {
		return nil, fmt.Errorf("writing started: %v", err)
	}
	if _, err := stdin.ReadString('\n'); err != nil {
		return nil, fmt.Errorf("waiting for the test: %v", err)
	}
	inW.Close()
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return nil, err
	}
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	return res, nil
}

type deepKillAllResult struct {
	Self               int
	KillZero, KillUsr1 string // kill(-1, ...) with only an unstarted embryo to reach
	KillStarted        string // kill(-1, 0) with a started child: the control
	Exit               string
	Exited0            bool
	SigPnd, ShdPnd     string
}

// helperDeepKillAll is the init of a new pid namespace: kill(-1) there
// reaches every process of the namespace but the caller, that is, with
// one unstarted embryo, nothing at all.
func helperDeepKillAll(json.RawMessage) (any, error) {
	res := deepKillAllResult{Self: os.Getpid()}
	if res.Self != 1 {
		return nil, fmt.Errorf("pid %d: not the init of a new pid namespace", res.Self)
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "exit", "0")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	res.KillZero = name(unix.Kill(-1, 0))
	res.KillUsr1 = name(unix.Kill(-1, unix.SIGUSR1))

	// The control: a started child is reached.
	ctl, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY) for the control: %s", name(err))
	}
	defer unix.Close(ctl)
	ctlOut, err := configReport(ctl, "read")
	if err != nil {
		return nil, err
	}
	defer ctlOut.Close()
	inW, err := stdinPipe(ctl)
	if err != nil {
		return nil, err
	}
	defer inW.Close()
	if _, err := pidfd.SpawnRun(ctl, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run of the control: %s", name(err))
	}
	if _, raw, err := embryo.ParseReport(ctlOut); err != nil {
		return nil, fmt.Errorf("the control child: %v\n%s", err, raw)
	}
	res.KillStarted = name(unix.Kill(-1, 0))
	inW.Close()
	if ex, err := embryo.WaitExit(ctl, embryo.Timeout); err != nil || !ex.Exited(0) {
		return nil, fmt.Errorf("the control child: %v, %v; want exit 0", ex, err)
	}

	_, rep, ex, err := runReport(fd, out)
	if err != nil {
		return nil, err
	}
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	res.SigPnd, res.ShdPnd = rep.Status["SigPnd"], rep.Status["ShdPnd"]
	return res, nil
}

const (
	deepPidMaxPath    = "/proc/sys/kernel/pid_max"
	deepNsLastPidPath = "/proc/sys/kernel/ns_last_pid"
	deepReservedPids  = 300 // RESERVED_PIDS: where pid allocation wraps to
)

type deepPidMaxArg struct {
	PidMax int // pid_max during the window
	Old    int // pid_max to restore
}

type deepPidMaxResult struct {
	Self           int
	Fillers        int    // embryos that fill the namespace's numbers below PidMax-1
	LastFilled     int    // ns_last_pid after filling: PidMax-2
	First          string // pidfd_open(PIDFD_EMPTY) with one number left
	LastAfterFirst int    // ns_last_pid after it: PidMax-1
	ForkAtMax      string // fork with no number left
	Second         string // pidfd_open(PIDFD_EMPTY) with no number left
	Third          string // after closing the first (retried)
	ThirdTries     int
	ThirdTook      string
	Window         string // how long pid_max was lowered
}

func readIntFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// helperDeepPidMax is the init of a new pid namespace. It fills that
// namespace's pid numbers from RESERVED_PIDS to arg.PidMax-2 with embryos
// (ns_last_pid sends the allocation there), lowers pid_max to arg.PidMax,
// which leaves this namespace one number (PidMax-1) while the root
// namespace, where the test picked arg.PidMax, keeps dozens free, and
// checks that embryos are charged a pid number: the first fits, the second
// gets EAGAIN, as a fork does, and closing the first makes room again.
// pid_max is restored at once; the test restores it too if we die.
func helperDeepPidMax(raw json.RawMessage) (any, error) {
	var arg deepPidMaxArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	res := deepPidMaxResult{Self: os.Getpid()}
	if res.Self != 1 {
		return nil, fmt.Errorf("pid %d: not the init of a new pid namespace", res.Self)
	}
	prewarm(8)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The next number this namespace allocates is RESERVED_PIDS, and
	// once past it, allocation wraps around to it.
	if err := writeCtl(deepNsLastPidPath, strconv.Itoa(deepReservedPids-1)); err != nil {
		return nil, fmt.Errorf("writing ns_last_pid: %v", err)
	}
	var fillers []int
	defer func() {
		for _, fd := range fillers {
			unix.Close(fd)
		}
	}()
	for {
		last, err := readIntFile(deepNsLastPidPath)
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
	if err := writeCtl(deepPidMaxPath, strconv.Itoa(arg.PidMax)); err != nil {
		return nil, fmt.Errorf("setting pid_max to %d: %v", arg.PidMax, err)
	}
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		res.Window = time.Since(start).String()
		return writeCtl(deepPidMaxPath, strconv.Itoa(arg.Old))
	}
	defer restore()
	e1, err1 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.First = name(err1)
	res.LastAfterFirst, _ = readIntFile(deepNsLastPidPath)
	res.ForkAtMax = deepRawFork()
	e2, err2 := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.Second = name(err2)
	if err2 == nil {
		unix.Close(e2)
	}
	if err1 == nil {
		unix.Close(e1)
	}
	var took time.Duration
	res.Third, res.ThirdTries, took = deepRetryOpen()
	res.ThirdTook = took.String()
	if err := restore(); err != nil {
		return nil, fmt.Errorf("restoring pid_max to %d: %v", arg.Old, err)
	}
	return res, nil
}

// deepRootPidsInUse lists the pid numbers of the caller's (root) pid
// namespace that are allocated, as far as /proc shows: every task's id and
// every process group and session id.
func deepRootPidsInUse() (map[int]bool, error) {
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

type deepBigArg struct {
	MiB    int // the caller's memory
	RefMiB int // the reference's
}

type deepBigResult struct {
	MemAvailableKiB     int
	RSSBeforeKiB        int   // VmRSS once the mapping is touched
	RSSAfterKiB         int   // VmRSS after the spawn and a second touch
	NoiseFaults         int64 // minor faults of a touch of every page before any spawn
	SpawnFaults         int64 // minor faults during create, config, run, wait
	RetouchFaults       int64 // minor faults of writing every page again after the spawn
	ForkFaults          int64 // minor faults of writing RefMiB after a fork: the reference
	PopulateTook        string
	SpawnTook           string
	UnmapTook           string
	RefTook             string
	Exit                string
	Exited0             bool
	ChildPid, ReportPid int
}

func minflt() (int64, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return ru.Minflt, nil
}

// statusKiB reads a "NNN kB" field of /proc/self/status or /proc/meminfo.
func statusKiB(path, field string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				break
			}
			return strconv.Atoi(f[0])
		}
	}
	return 0, fmt.Errorf("%s has no %s", path, field)
}

// touch writes one byte in each page of mem.
func touch(mem []byte) {
	page := unix.Getpagesize()
	for i := 0; i < len(mem); i += page {
		mem[i]++
	}
}

// mapTouched maps mib MiB of private anonymous memory, populated and
// written.
func mapTouched(mib int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("mmap of %d MiB: %v", mib, err)
	}
	touch(mem)
	return mem, nil
}

// helperDeepBigCaller maps and touches arg.MiB of private anonymous memory,
// then creates, configures and runs an embryo and writes every page again.
// Had the spawn copied the caller's page tables, as fork does, every page
// would now be write-protected and each write a minor fault; had it
// touched the caller's memory, RSS would move. The reference that the
// measure sees a copy: a raw fork of the caller with arg.RefMiB mapped
// (the big mapping unmapped first, to keep the test short), and a write of
// every page after it.
func helperDeepBigCaller(raw json.RawMessage) (any, error) {
	var arg deepBigArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	var res deepBigResult
	var err error
	if res.MemAvailableKiB, err = statusKiB("/proc/meminfo", "MemAvailable"); err != nil {
		return nil, err
	}
	start := time.Now()
	mem, err := mapTouched(arg.MiB)
	if err != nil {
		return nil, fmt.Errorf("%v (MemAvailable %d kB)", err, res.MemAvailableKiB)
	}
	res.PopulateTook = time.Since(start).String()
	m0, err := minflt()
	if err != nil {
		return nil, err
	}
	touch(mem)
	m1, _ := minflt()
	res.NoiseFaults = m1 - m0
	if res.RSSBeforeKiB, err = statusKiB("/proc/self/status", "VmRSS"); err != nil {
		return nil, err
	}

	m2, _ := minflt()
	start = time.Now()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "exit", "0")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	pid, rep, ex, err := runReport(fd, out)
	if err != nil {
		return nil, err
	}
	res.SpawnTook = time.Since(start).String()
	m3, _ := minflt()
	touch(mem)
	m4, _ := minflt()
	res.SpawnFaults, res.RetouchFaults = m3-m2, m4-m3
	res.ChildPid, res.ReportPid = pid, rep.Pid
	res.Exit, res.Exited0 = ex.String(), ex.Exited(0)
	if res.RSSAfterKiB, err = statusKiB("/proc/self/status", "VmRSS"); err != nil {
		return nil, err
	}
	start = time.Now()
	if err := unix.Munmap(mem); err != nil {
		return nil, err
	}
	res.UnmapTook = time.Since(start).String()

	start = time.Now()
	ref, err := mapTouched(arg.RefMiB)
	if err != nil {
		return nil, fmt.Errorf("the reference: %v", err)
	}
	defer unix.Munmap(ref)
	if r := deepRawFork(); r != "success" {
		return nil, fmt.Errorf("the reference fork: %s", r)
	}
	m5, _ := minflt()
	touch(ref)
	m6, _ := minflt()
	res.ForkFaults = m6 - m5
	res.RefTook = time.Since(start).String()
	return res, nil
}

type deepPidnsResult struct {
	Self        int    // getpid() of the helper: 1
	Run         int    // what pidfd_spawn_run returned
	FdinfoPid   string // the pidfd's fdinfo, read through the root namespace's /proc
	FdinfoNSpid string
	StatusNSpid string // /proc/<root pid>/status NSpid of the child
	ReportPid   int    // getpid() in the child
	ReportPPid  int    // getppid() in the child
	WaitPid     int    // si_pid of waitid
	Exit        string
	Exited0     bool
}

// helperDeepPidns is the init of a new pid namespace (its /proc is still
// the root namespace's). It starts an embryo and compares the pid
// pidfd_spawn_run returns with what the child and the root namespace's
// /proc say.
func helperDeepPidns(json.RawMessage) (any, error) {
	res := deepPidnsResult{Self: os.Getpid()}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	out, err := configReport(fd, "read")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	inW, err := stdinPipe(fd)
	if err != nil {
		return nil, err
	}
	defer inW.Close()
	if res.Run, err = pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, err := embryo.ParseReport(out)
	if err != nil {
		return nil, fmt.Errorf("the child: %v\n%s", err, raw)
	}
	res.ReportPid, res.ReportPPid = rep.Pid, rep.PPid
	m, err := pidfd.Fdinfo(fd)
	if err != nil {
		return nil, err
	}
	res.FdinfoPid, res.FdinfoNSpid = m["Pid"], m["NSpid"]
	if res.StatusNSpid, err = embryo.StatusField(res.FdinfoPid, "NSpid"); err != nil {
		return nil, fmt.Errorf("the child's status through the root /proc: %v", err)
	}
	inW.Close()
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return nil, err
	}
	res.WaitPid, res.Exit, res.Exited0 = ex.Pid, ex.String(), ex.Exited(0)
	return res, nil
}

// kernelSigaction is the x86_64 kernel's struct sigaction.
type kernelSigaction struct {
	Handler  uintptr
	Flags    uint64
	Restorer uintptr
	Mask     uint64
}

const saRestart = 0x10000000

func rtSigaction(sig unix.Signal, act, old *kernelSigaction) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(act)), uintptr(unsafe.Pointer(old)), 8, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// noRestart clears SA_RESTART from the Go runtime's handler for sig (the
// runtime installs every handler with it), so that a system call the
// signal interrupts fails with EINTR, and returns a function that puts the
// handler back.
func noRestart(sig unix.Signal) (restore func() error, err error) {
	var old kernelSigaction
	if err := rtSigaction(sig, nil, &old); err != nil {
		return nil, fmt.Errorf("rt_sigaction(%v) get: %v", sig, err)
	}
	if old.Handler <= 1 {
		return nil, fmt.Errorf("rt_sigaction(%v): handler %#x, want the Go runtime's", sig, old.Handler)
	}
	act := old
	act.Flags &^= saRestart
	if err := rtSigaction(sig, &act, nil); err != nil {
		return nil, fmt.Errorf("rt_sigaction(%v) set: %v", sig, err)
	}
	return func() error { return rtSigaction(sig, &old, nil) }, nil
}

// deepElf builds a minimal x86-64-style ELF executable for machine with,
// if interp is not "", a PT_INTERP naming interp. The kernel reads the
// program headers and opens the interpreter before anything else of the
// file matters.
func deepElf(machine elf.Machine, interp string) []byte {
	const (
		base  = 0x400000
		ehsz  = 64
		phsz  = 56
		nphdr = 2
	)
	interpOff := uint64(ehsz + nphdr*phsz)
	total := interpOff + uint64(len(interp)) + 1
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     base + interpOff,
		Phoff:     ehsz,
		Ehsize:    ehsz,
		Phentsize: phsz,
		Phnum:     nphdr,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&buf, binary.LittleEndian, hdr)
	first := elf.Prog64{Type: uint32(elf.PT_NULL)}
	if interp != "" {
		first = elf.Prog64{
			Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R),
			Off: interpOff, Vaddr: base + interpOff, Paddr: base + interpOff,
			Filesz: uint64(len(interp)) + 1, Memsz: uint64(len(interp)) + 1, Align: 1,
		}
	}
	binary.Write(&buf, binary.LittleEndian, first)
	binary.Write(&buf, binary.LittleEndian, elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Off: 0, Vaddr: base, Paddr: base, Filesz: total, Memsz: total, Align: 0x1000,
	})
	buf.WriteString(interp)
	buf.WriteByte(0)
	return buf.Bytes()
}

// stdinPipe makes the read end of a new pipe the embryo's fd 0 and returns
// the write end, with which the test lets the child's read return.
func stdinPipe(fd int) (*os.File, error) {
	in, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	err = pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0)
	in.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("DUP to fd 0: %s", name(err))
	}
	return w, nil
}
