// Package lifecycle checks an embryo's life: it does not exist for the rest
// of the system before start (ESRCH, invisible to /proc, kill and wait),
// is charged to the pids cgroup, disappears without a trace when its last
// fd closes or its creator exits, starts once, survives a failed exec,
// answers waitid and poll across start and exit, and obeys only its
// creator; after start its fd is an ordinary pidfd (DESIGN.md section 3).
// It can be killed and frozen in every state, and privileged observers see
// it as a task.
//
// Each test checks one row of DESIGN.md section 3 or of
// Documentation/userspace-api/pidfd_empty.rst so that a kernel that gets
// the row wrong fails it: a charge is shown by the refusal it causes and
// its release by the room that comes back; a broadcast is sent where the
// embryo is the only possible target; a lookup by number uses the
// embryo's real pid; each measure has a reference that proves it can see
// what it looks for.
//
// The files, by concern:
//
//	hiding_test.go     before start: ESRCH, /proc, lookups by number, cgroup and children files, fdinfo
//	broadcast_test.go  process-group and kill(-1) broadcasts skip an embryo
//	wait_test.go       waitid, poll and epoll across start and exit
//	run_test.go        pidfd_spawn_run: once, on an embryo with an EXEC; a failed exec leaves it configurable
//	creator_test.go    only the creator configures and runs it
//	destroy_test.go    the last close and the creator's exit destroy it and release everything
//	charge_test.go     RLIMIT_NPROC, the pids cgroup and pid_max count it
//	memory_test.go     the caller's memory is never copied
//	pidns_test.go      the pid pidfd_spawn_run returns; a thread with another pid_ns_for_children
//	bounds_test.go     user-sized input is bounded as exec bounds it
//	kill_test.go       killable in every state, and config calls racing with the kill
//	freezer_test.go    the cgroup and suspend freezers, the config lock
//	observers_test.go  tracing, the proc connector, BSD accounting, taskstats
//	helpers_test.go    TestMain, the helper processes by name, and what several files use
package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// helpers are the helper processes the tests start (helper.New), by name;
// helper.Main runs them in the re-executed test binary. Each lives beside
// the tests that start it.
var helpers = map[string]helper.Func{
	// hiding_test.go
	"invisible": helperInvisible,
	"hidden":    helperHidden,
	// broadcast_test.go
	"broadcast": helperBroadcast,
	"pgrp":      helperPgrp,
	"killall":   helperKillAll,
	// creator_test.go
	"receiver": helperReceiver,
	// destroy_test.go
	"destroy": helperDestroy,
	"creator": helperCreator,
	"release": helperRelease,
	"inherit": helperInherit,
	// charge_test.go
	"pids":        helperPids,
	"nproc":       helperNproc,
	"nproccharge": helperNprocCharge,
	"pidmax":      helperPidMax,
	// memory_test.go
	"bigcaller": helperBigCaller,
	// pidns_test.go
	"pidns": helperPidns,
	// bounds_test.go
	"argvlimits": helperArgvLimits,
	// kill_test.go, freezer_test.go (here)
	"execblock": helperExecBlock,
	// kill_test.go
	"dying":        helperDying,
	"killvsconfig": helperKillVsConfig,
	// freezer_test.go
	"hold":         helperHold,
	"vforkcontrol": helperVforkControl,
	"configlock":   helperConfigLock,
	// session_test.go
	"ttysession": helperTTYSession,
}

func TestMain(m *testing.M) { helper.Main(m, helpers) }

var name = embryo.Name

// configReport configures an embryo in a helper process (no testing.T) to
// run childreport with args, its stdout a pipe whose read end it returns.
func configReport(fd int, args ...string) (*os.File, error) {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		return nil, fmt.Errorf("EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, append([]string{childreport.Path}, args...)); err != nil {
		return nil, fmt.Errorf("ARGV: %s", name(err))
	}
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	err = pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0)
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("DUP to fd 1: %s", name(err))
	}
	return r, nil
}

// openEmbryo is pidfd_open(0, PIDFD_EMPTY) in a helper process, its error
// said with the errno's name.
func openEmbryo() (int, error) {
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	return fd, nil
}

// openEmbryos creates n embryos (openEmbryo).
func openEmbryos(n int) ([]int, error) {
	var fds []int
	for i := 0; i < n; i++ {
		fd, err := openEmbryo()
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, fmt.Errorf("embryo %d: %v", i, err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// tryOpen creates an embryo and closes it at once: the errno's name, or
// "success".
func tryOpen() string {
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err == nil {
		unix.Close(fd)
	}
	return name(err)
}

// reportEmbryo creates an embryo configured to run childreport with args
// (configReport) and returns it with the read end of its stdout.
func reportEmbryo(args ...string) (fd int, out *os.File, err error) {
	if fd, err = openEmbryo(); err != nil {
		return -1, nil, err
	}
	if out, err = configReport(fd, args...); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, out, nil
}

// readingEmbryo is reportEmbryo of "childreport read", which reports and
// then waits for its stdin to close: it returns the write end of that
// stdin too (stdinPipe).
func readingEmbryo() (fd int, out, in *os.File, err error) {
	if fd, out, err = reportEmbryo("read"); err != nil {
		return -1, nil, nil, err
	}
	if in, err = stdinPipe(fd); err != nil {
		out.Close()
		unix.Close(fd)
		return -1, nil, nil, err
	}
	return fd, out, in, nil
}

// waitAny is waitid(P_ALL) and wait4(-1) with WNOHANG, by errno name:
// ECHILD from both for a process without children.
func waitAny() (waitid, wait4 string) {
	_, err := pidfd.Waitid(unix.P_ALL, 0, unix.WEXITED|unix.WNOHANG)
	waitid = name(err)
	var ws unix.WaitStatus
	_, err = unix.Wait4(-1, &ws, unix.WNOHANG, nil)
	return waitid, name(err)
}

// sayReady writes what it is told to fd 3, on which the test waits for it
// (startReady), and closes it.
func sayReady(format string, args ...any) error {
	ready := os.NewFile(3, "ready")
	defer ready.Close()
	if _, err := fmt.Fprintf(ready, format, args...); err != nil {
		return fmt.Errorf("saying ready: %v", err)
	}
	return nil
}

// runReport starts a configured embryo and collects its report and exit.
func runReport(fd int, out *os.File) (pid int, rep *childreport.Report, ex pidfd.Exit, err error) {
	pid, err = pidfd.SpawnRun(fd, 0)
	if err != nil {
		return -1, nil, ex, fmt.Errorf("pidfd_spawn_run: %s", name(err))
	}
	rep, raw, rerr := embryo.ParseReport(out)
	ex, err = embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return pid, nil, ex, err
	}
	if rerr != nil {
		return pid, nil, ex, fmt.Errorf("child %v: %v\n%s", ex, rerr, raw)
	}
	return pid, rep, ex, nil
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

// rawFork forks with a bare clone(SIGCHLD), which copies the caller's
// address space and page tables; the child exits at once without running
// any Go and the parent reaps it. It returns the fork's errno by name.
func rawFork() string {
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

// Cgroups and fanotify. Control files and the cgroup v2 hierarchy are
// package cgroup2's; the pids cgroup and the embryo charge package
// embryo's.

// killWithin bounds the waits for a kill or a freeze to take effect: the
// kernel does both at once, 10 s leaves room for TCG and a debug kernel.
const killWithin = 10 * time.Second

// cgPrefix begins the names of the v2 cgroups the tests make
// (cgroup2.New).
const cgPrefix = "emptypidfd-v2-"

// chargeWithin bounds the waits for a destroyed embryo's pids charge to
// be released (embryo.WaitCharge, embryo.WaitPidsCurrent).
const chargeWithin = 10 * time.Second

// tmpfsDir mounts a fresh tmpfs on a temporary directory, so that the
// fanotify mark is on a filesystem that has permission events whatever
// backs the guest's /tmp.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=32m,mode=0755"); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %s", dir, embryo.Name(err))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// execBlocker is a fanotify group of class FAN_CLASS_CONTENT with a
// FAN_OPEN_EXEC_PERM mark on one file: an exec of that file waits, without
// bound, until the group answers or is closed.
type execBlocker struct {
	fd      int
	pending []int32 // event fds read and not answered yet
}

// newExecBlocker marks path. The caller must defer release, so that the
// group is gone before the cleanups wait for the processes it holds.
func newExecBlocker(t *testing.T, path string) *execBlocker {
	t.Helper()
	return newPermBlocker(t, path, unix.FAN_OPEN_EXEC_PERM)
}

// newPermBlocker is newExecBlocker for another permission event: with
// FAN_OPEN_PERM, every open of path waits.
func newPermBlocker(t *testing.T, path string, mask uint64) *execBlocker {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_LARGEFILE)
	if err != nil {
		t.Fatalf("fanotify_init(FAN_CLASS_CONTENT): %s (the test kernel has CONFIG_FANOTIFY_ACCESS_PERMISSIONS)", embryo.Name(err))
	}
	b := &execBlocker{fd: fd}
	t.Cleanup(b.release)
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, mask, unix.AT_FDCWD, path); err != nil {
		b.release()
		t.Fatalf("fanotify_mark(FAN_MARK_ADD, %#x, %s): %s", mask, path, embryo.Name(err))
	}
	return b
}

// next waits up to timeout for events and returns them, keeping their
// fds to answer at release.
func (b *execBlocker) next(timeout time.Duration) ([]unix.FanotifyEventMetadata, error) {
	if b.fd < 0 {
		return nil, errors.New("fanotify group already released")
	}
	ev, err := embryo.PollIn(b.fd, timeout)
	if err != nil {
		return nil, fmt.Errorf("poll on the fanotify fd: %v", err)
	}
	if ev == 0 {
		return nil, fmt.Errorf("no fanotify event within %v", timeout)
	}
	buf := make([]byte, 4096)
	n, err := unix.Read(b.fd, buf)
	if err != nil {
		return nil, fmt.Errorf("reading the fanotify fd: %s", embryo.Name(err))
	}
	var evs []unix.FanotifyEventMetadata
	for off := 0; off+int(unsafe.Sizeof(unix.FanotifyEventMetadata{})) <= n; {
		m := *(*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
		if m.Vers != unix.FANOTIFY_METADATA_VERSION || m.Event_len == 0 {
			return evs, fmt.Errorf("fanotify event version %d length %d", m.Vers, m.Event_len)
		}
		if m.Fd >= 0 {
			b.pending = append(b.pending, m.Fd)
		}
		evs = append(evs, m)
		off += int(m.Event_len)
	}
	return evs, nil
}

// waitExec waits for the permission event of the embryo's exec and returns
// the pid it reports (fanotify, a privileged observer, names the execing
// task; fdinfo of an unstarted embryo's pidfd does not). It fails t if
// there is no event, or one comes from the helper itself.
func (b *execBlocker) waitExec(t *testing.T, helper int) int {
	t.Helper()
	evs, err := b.next(embryo.Timeout)
	if err != nil {
		t.Fatalf("waiting for the embryo's exec to reach the fanotify permission check: %v", err)
	}
	pid := 0
	for _, m := range evs {
		if m.Mask&unix.FAN_OPEN_EXEC_PERM == 0 || int(m.Pid) == helper || (pid != 0 && int(m.Pid) != pid) {
			t.Fatalf("fanotify event mask %#x from pid %d; want FAN_OPEN_EXEC_PERM from the embryo of helper %d", m.Mask, m.Pid, helper)
		}
		pid = int(m.Pid)
	}
	return pid
}

// answer answers resp (FAN_ALLOW or FAN_DENY, named what) to every event
// read and not answered yet.
func (b *execBlocker) answer(resp uint32, what string) error {
	var first error
	for _, efd := range b.pending {
		r := unix.FanotifyResponse{Fd: efd, Response: resp}
		if _, err := unix.Write(b.fd, unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))); err != nil && first == nil {
			first = fmt.Errorf("answering %s to event fd %d: %s", what, efd, name(err))
		}
		unix.Close(int(efd))
	}
	b.pending = nil
	return first
}

// deny answers FAN_DENY to every event read and not answered yet; the
// group stays open, so later execs of the file are held again.
func (b *execBlocker) deny() error {
	return b.answer(unix.FAN_DENY, "FAN_DENY")
}

// release allows every event read and closes the group, which allows
// those not read. Idempotent.
func (b *execBlocker) release() {
	if b.fd < 0 {
		return
	}
	b.answer(unix.FAN_ALLOW, "FAN_ALLOW")
	unix.Close(b.fd)
	b.fd = -1
}

// openCgroup opens a cgroup directory for CLONE_INTO_CGROUP.
func openCgroup(t *testing.T, cg string) int {
	t.Helper()
	fd, err := unix.Open(cg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening cgroup %s: %v", cg, err)
	}
	return fd
}

// intoCgroup makes the helper start in the cgroup open at cgfd.
func intoCgroup(h *helper.Helper, cgfd int) {
	h.Cmd.SysProcAttr.UseCgroupFD = true
	h.Cmd.SysProcAttr.CgroupFD = cgfd
}

// cgroupHas says whether pid is listed in cg's cgroup.procs.
func cgroupHas(cg string, pid int) (bool, string) {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		return false, err.Error()
	}
	return slices.Contains(strings.Fields(string(b)), strconv.Itoa(pid)), strings.Join(strings.Fields(string(b)), " ")
}

// taskWchans is "tid:wchan" for each thread of pid, for failure messages.
func taskWchans(pid int) string {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name(), "wchan"))
		out = append(out, e.Name()+":"+string(b))
	}
	return strings.Join(out, " ")
}

// An embryo whose exec the test holds (kill_test.go, freezer_test.go).

// maxArgStrlen is exec's MAX_ARG_STRLEN: the longest string argv or envp may hold, NUL included.
const maxArgStrlen = 32 * 4096

type execBlockArg struct {
	Prog      string
	Argv, Env []string
	// BigArgs, if set, appends that many strings of MAX_ARG_STRLEN-1
	// bytes to Argv (too big to pass to the helper itself), after raising
	// RLIMIT_STACK so that exec's limit, a quarter of it, admits them.
	BigArgs int
	// MoveTo, if set, is a cgroup the helper moves itself into after
	// creating and configuring the embryo, so that the embryo stays in
	// the cgroup the helper started in and only the runner is in MoveTo.
	MoveTo string
}

type execBlockResult struct {
	Run string
	Pid int
}

// helperExecBlock creates an embryo that execs arg.Prog, sends its pidfd
// over the socket at fd 3 and starts it; the test holds the exec with a
// fanotify permission event, so pidfd_spawn_run does not return unless
// the exec is answered.
func helperExecBlock(raw json.RawMessage) (any, error) {
	var arg execBlockArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	if arg.BigArgs > 0 {
		big := strings.Repeat("a", maxArgStrlen-1)
		for range arg.BigArgs {
			arg.Argv = append(arg.Argv, big)
		}
		stack := uint64(8*arg.BigArgs*maxArgStrlen) + 8<<20
		if err := unix.Setrlimit(unix.RLIMIT_STACK, &unix.Rlimit{Cur: stack, Max: unix.RLIM_INFINITY}); err != nil {
			return nil, fmt.Errorf("setrlimit(RLIMIT_STACK, %d): %s", stack, name(err))
		}
	}
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, arg.Prog, 0); err != nil {
		return nil, fmt.Errorf("EXEC %s: %s", arg.Prog, name(err))
	}
	if err := pidfd.ConfigArgv(fd, arg.Argv); err != nil {
		return nil, fmt.Errorf("ARGV: %s", name(err))
	}
	if err := pidfd.ConfigEnvp(fd, arg.Env); err != nil {
		return nil, fmt.Errorf("ENVP: %s", name(err))
	}
	if arg.MoveTo != "" {
		if err := cgroup2.WriteCtl(filepath.Join(arg.MoveTo, "cgroup.procs"), "0"); err != nil {
			return nil, fmt.Errorf("moving itself into %s: %s", arg.MoveTo, name(err))
		}
	}
	if err := embryo.SendFD(3, fd); err != nil {
		return nil, fmt.Errorf("sending the embryo: %v", err)
	}
	unix.Close(3)
	pid, err := pidfd.SpawnRun(fd, 0)
	return execBlockResult{Run: name(err), Pid: pid}, nil
}

// startExecBlock starts helperExecBlock (setup may change its command
// first), receives the embryo's pidfd, reads the embryo's pid from it and
// closes it again: the helper's file is the only one left.
func startExecBlock(t *testing.T, arg execBlockArg, setup func(h *helper.Helper)) *helper.Helper {
	t.Helper()
	sp, err := embryo.Socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(sp[0])
	sock := os.NewFile(uintptr(sp[1]), "sock")
	h := helper.New(t, "execblock", arg)
	h.Cmd.ExtraFiles = []*os.File{sock}
	if setup != nil {
		setup(h)
	}
	h.Start()
	sock.Close()
	fd, err := embryo.RecvFD(sp[0], embryo.Timeout)
	if err != nil {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("receiving the embryo from the helper: %v", err)
	}
	defer unix.Close(fd)
	if !embryo.IsEmbryo(t, fd) {
		t.Fatalf("the helper sent no unstarted embryo: %v", embryo.Fdinfo(t, fd))
	}
	return h
}

// Helpers that say when they are ready. The kernel log is package kmsg's.

// startReady starts the helper name with arg in the cgroup cg ("": the
// test's own), with a pipe as its fd 3, on which it says when it is ready
// (sayReady), and its stdin a pipe that the caller closes to let it
// return. It returns what the helper said, and fails t if it said nothing
// within embryo.Timeout.
func startReady(t *testing.T, name string, arg any, cg string) (*helper.Helper, io.WriteCloser, string) {
	t.Helper()
	r, w := embryo.Pipe(t)
	h := helper.New(t, name, arg)
	if cg != "" {
		cgfd := openCgroup(t, cg)
		defer unix.Close(cgfd)
		intoCgroup(h, cgfd)
	}
	h.Cmd.ExtraFiles = []*os.File{w}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	w.Close()
	b, err := embryo.ReadAll(r, embryo.Timeout)
	if err != nil || len(b) == 0 {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("the helper %s did not say it was ready: read %q, %v", name, b, err)
	}
	return h, stdin, string(b)
}

// fifoWriter returns a function that opens the FIFO at path for writing,
// once, which lets an open of it for reading return.
// fifoReaderWithin is how long fifoWriter waits for the FIFO's reader to
// be in its open.
const fifoReaderWithin = 10 * time.Second

func fifoWriter(t *testing.T, path string) func() {
	done := false
	return func() {
		if done {
			return
		}
		done = true
		// ENXIO: no reader in its open right now. A reader that the
		// freezer took out of its open (the open restarts after the
		// thaw) is not back in it yet: try again for a while.
		deadline := time.Now().Add(fifoReaderWithin)
		for {
			wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err == nil {
				unix.Close(wfd)
				return
			}
			if err != unix.ENXIO || time.Now().After(deadline) {
				t.Errorf("opening the FIFO %s for writing: %v (for %v)", path, err, fifoReaderWithin)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
