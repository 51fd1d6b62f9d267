package lifecycle

// Helpers and test-side tools of the series v2 lifetime tests (v2_test.go):
// an exec held by an unanswered fanotify permission event, cgroup v2
// directories (cgroup.kill, cgroup.freeze), and the helper processes that
// create the embryos.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() {
	helpers["v2execblock"] = helperExecBlock
	helpers["v2hold"] = helperHold
	helpers["v2inherit"] = helperInherit
	helpers["v2argvlimits"] = helperArgvLimits
	helpers["v2vforkcontrol"] = helperVforkControl
}

// killWithin bounds the waits for a kill or a freeze to take effect: the
// kernel does both at once, 10 s leaves room for TCG and a debug kernel.
const killWithin = 10 * time.Second

// writeCtl writes val to a control file (cgroup, sysfs) in one write(2)
// and returns its errno.
func writeCtl(path, val string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(val))
	if err != nil {
		return err
	}
	if n != len(val) {
		return fmt.Errorf("write of %q to %s: %d bytes written", val, path, n)
	}
	return nil
}

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

// deny answers FAN_DENY to every event read and not answered yet; the
// group stays open, so later execs of the file are held again.
func (b *execBlocker) deny() error {
	var first error
	for _, efd := range b.pending {
		resp := unix.FanotifyResponse{Fd: efd, Response: unix.FAN_DENY}
		if _, err := unix.Write(b.fd, unsafe.Slice((*byte)(unsafe.Pointer(&resp)), unsafe.Sizeof(resp))); err != nil && first == nil {
			first = fmt.Errorf("answering FAN_DENY to event fd %d: %s", efd, name(err))
		}
		unix.Close(int(efd))
	}
	b.pending = nil
	return first
}

// release allows every event read and closes the group, which allows
// those not read. Idempotent.
func (b *execBlocker) release() {
	if b.fd < 0 {
		return
	}
	for _, efd := range b.pending {
		resp := unix.FanotifyResponse{Fd: efd, Response: unix.FAN_ALLOW}
		unix.Write(b.fd, unsafe.Slice((*byte)(unsafe.Pointer(&resp)), unsafe.Sizeof(resp)))
		unix.Close(int(efd))
	}
	b.pending = nil
	unix.Close(b.fd)
	b.fd = -1
}

// cgroup2Root returns where the cgroup v2 hierarchy is mounted, mounting
// it (until t ends) if it is not. The guest's u-root init binds the pids
// controller to a v1 hierarchy; cgroup.kill and cgroup.freeze are v2's
// and need no controller.
func cgroup2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("no cgroup2 mounted, and mounting one failed: %s", embryo.Name(err))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// newCgroup2 returns a new child cgroup of the v2 hierarchy. When t ends
// it is thawed, emptied (cgroup.kill as a last resort, for a test that
// failed half way) and removed if the test has not removed it.
func newCgroup2(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(cgroup2Root(t), "emptypidfd-v2-")
	if err != nil {
		t.Fatalf("creating a cgroup: %v", err)
	}
	for _, f := range []string{"cgroup.procs", "cgroup.events", "cgroup.kill", "cgroup.freeze"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			unix.Rmdir(dir)
			t.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	t.Cleanup(func() {
		writeCtl(filepath.Join(dir, "cgroup.freeze"), "0")
		err := rmdirWithin(dir, killWithin)
		if err == unix.EBUSY {
			writeCtl(filepath.Join(dir, "cgroup.kill"), "1")
			err = rmdirWithin(dir, killWithin)
		}
		if err != nil {
			procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			t.Errorf("removing cgroup %s: %s (cgroup.procs %q)", dir, embryo.Name(err), procs)
		}
	})
	return dir
}

// rmdirWithin retries rmdir while it fails with EBUSY; a directory that is
// gone counts as removed.
func rmdirWithin(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			return nil
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroupEvent returns the value of key in cgroup.events.
func cgroupEvent(cg, key string) (string, error) {
	b, err := os.ReadFile(filepath.Join(cg, "cgroup.events"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s/cgroup.events has no %q: %q", cg, key, b)
}

// waitCgroupEvent polls cgroup.events until key has value want, up to
// timeout, and returns the last value read.
func waitCgroupEvent(cg, key, want string, timeout time.Duration) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := cgroupEvent(cg, key)
		if err != nil {
			return err.Error(), false
		}
		if v == want {
			return v, true
		}
		if time.Now().After(deadline) {
			return v, false
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
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
		if err := writeCtl(filepath.Join(arg.MoveTo, "cgroup.procs"), "0"); err != nil {
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
	h := helper.New(t, "v2execblock", arg)
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

type vforkControlArg struct {
	Prog   string
	Cgroup string // the child's cgroup (CLONE_INTO_CGROUP)
}

type vforkControlResult struct {
	Run string // what os/exec's Run returned
}

// helperVforkControl is the reference for the runner row: os/exec forks
// with CLONE_VFORK, so the helper's thread waits in the kernel for its
// child's exec, as a runner waits in pidfd_spawn_run. The child starts in
// arg.Cgroup (CLONE_INTO_CGROUP, with the vfork) and execs arg.Prog, which
// the test holds with a fanotify permission event.
func helperVforkControl(raw json.RawMessage) (any, error) {
	var arg vforkControlArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	cgfd, err := unix.Open(arg.Cgroup, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %s", arg.Cgroup, name(err))
	}
	defer unix.Close(cgfd)
	cmd := exec.Command(arg.Prog)
	cmd.Args = []string{"true-static"}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgfd}
	return vforkControlResult{Run: fmt.Sprint(cmd.Run())}, nil
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

type holdArg struct {
	// One embryo each; true: first run it with an EXEC of a missing
	// path, so that it is idle after a failed exec.
	FailedExec []bool
}

// heldEmbryo is what became of one embryo of helperHold, errnos by name.
type heldEmbryo struct {
	Failed  string // the run of a missing path, if asked
	Exec    string // EXEC of true-static after the release
	Run     string
	Exit    string
	Exited0 bool
}

// helperHold creates embryos, says "ready" on fd 3 (and closes it), waits
// for its stdin to close, and then configures and runs each embryo to its
// exit. The test freezes it in between.
func helperHold(raw json.RawMessage) (any, error) {
	var arg holdArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	res := make([]heldEmbryo, len(arg.FailedExec))
	fds := make([]int, len(arg.FailedExec))
	for i, failed := range arg.FailedExec {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: pidfd_open(0, PIDFD_EMPTY): %s", i, name(err))
		}
		defer unix.Close(fd)
		fds[i] = fd
		if failed {
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent/emptypidfd-v2", 0); err != nil {
				return nil, fmt.Errorf("embryo %d: EXEC: %s", i, name(err))
			}
			_, err := pidfd.SpawnRun(fd, 0)
			res[i].Failed = name(err)
		}
	}
	ready := os.NewFile(3, "ready")
	if _, err := ready.Write([]byte("ready")); err != nil {
		return nil, fmt.Errorf("saying ready: %v", err)
	}
	ready.Close()
	io.Copy(io.Discard, os.Stdin)
	for i, fd := range fds {
		r := &res[i]
		r.Exec = name(pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0))
		if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
			return nil, fmt.Errorf("embryo %d: ARGV: %s", i, name(err))
		}
		_, err := pidfd.SpawnRun(fd, 0)
		r.Run = name(err)
		if err != nil {
			continue
		}
		ex, err := embryo.WaitExit(fd, embryo.Timeout)
		if err != nil {
			return nil, fmt.Errorf("embryo %d: %v", i, err)
		}
		r.Exit, r.Exited0 = ex.String(), ex.Exited(0)
	}
	return res, nil
}

// startHold starts helperHold (setup may change its command first) and
// waits until its embryos exist. Closing the returned stdin lets it go on.
func startHold(t *testing.T, arg holdArg, setup func(h *helper.Helper)) (*helper.Helper, io.WriteCloser) {
	t.Helper()
	r, w := embryo.Pipe(t)
	h := helper.New(t, "v2hold", arg)
	h.Cmd.ExtraFiles = []*os.File{w}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(h)
	}
	h.Start()
	w.Close()
	if b, err := embryo.ReadAll(r, embryo.Timeout); err != nil || string(b) != "ready" {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("the helper did not get ready: read %q, %v", b, err)
	}
	return h, stdin
}

// checkHeld checks what helperHold reports after the release: every
// embryo (idle after a failed exec where asked) still runs to exit 0.
func checkHeld(t *testing.T, arg holdArg, res []heldEmbryo) {
	t.Helper()
	if len(res) != len(arg.FailedExec) {
		t.Fatalf("the helper reports %d embryos, want %d", len(res), len(arg.FailedExec))
	}
	for i, r := range res {
		if arg.FailedExec[i] && r.Failed != "ENOENT" {
			t.Errorf("embryo %d: run of a missing path: %s, want ENOENT", i, r.Failed)
		}
		if r.Exec != "success" || r.Run != "success" || !r.Exited0 {
			t.Errorf("embryo %d after the freeze and thaw: EXEC %s, run %s, %s; want success, success, exit 0", i, r.Exec, r.Run, r.Exit)
		}
	}
}

type inheritArg struct{ Cgroup string }

// inheritResult: embryo charges in the pids cgroup, and errnos by name,
// by row.
type inheritResult struct {
	// Row "own": INHERIT of the embryo's own pidfd, then close it.
	OwnInherit                       string
	OwnBase, OwnWithEmbryo, OwnAfter int
	// Row "other": INHERIT of embryo B's pidfd into A, close B, then
	// look in A's table (CLOSE of B's fd number and of fd 2), close A.
	OtherInherit              string
	OtherBase, OtherWithBoth  int
	OtherAfterB, OtherAfterAB int
	OtherCloseB, OtherClose2  string
}

// inheritFrom clears FD_CLOEXEC on src for the time of INHERIT into fd.
func inheritFrom(fd, src int) (string, error) {
	if _, err := unix.FcntlInt(uintptr(src), unix.F_SETFD, 0); err != nil {
		return "", fmt.Errorf("clearing FD_CLOEXEC: %v", err)
	}
	err := pidfd.ConfigFDInherit(fd)
	if _, err := unix.FcntlInt(uintptr(src), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		return "", fmt.Errorf("setting FD_CLOEXEC: %v", err)
	}
	return name(err), nil
}

// helperInherit moves itself into an empty pids cgroup and measures, by
// the embryos' charge there, whether an embryo survives the close of its
// pidfd after PIDFD_FD_INHERIT could have put that pidfd in an embryo's
// table.
func helperInherit(raw json.RawMessage) (any, error) {
	var arg inheritArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	prewarm(8)
	cg := arg.Cgroup
	if err := os.WriteFile(cg+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return nil, fmt.Errorf("joining %s: %v", cg, err)
	}
	open := func() (int, error) {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return -1, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
		}
		return fd, nil
	}
	var res inheritResult
	var err error

	if res.OwnBase, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	a, err := open()
	if err != nil {
		return nil, err
	}
	if res.OwnWithEmbryo, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	if res.OwnInherit, err = inheritFrom(a, a); err != nil {
		return nil, err
	}
	unix.Close(a)
	if res.OwnAfter, err = waitCharge(cg, res.OwnBase); err != nil {
		return nil, err
	}

	if res.OtherBase, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	if a, err = open(); err != nil {
		return nil, err
	}
	b, err := open()
	if err != nil {
		return nil, err
	}
	if res.OtherWithBoth, err = embryoCharge(cg); err != nil {
		return nil, err
	}
	if res.OtherInherit, err = inheritFrom(a, b); err != nil {
		return nil, err
	}
	unix.Close(b)
	if res.OtherAfterB, err = waitCharge(cg, res.OtherBase+1); err != nil {
		return nil, err
	}
	// Only now: on a kernel that copied B's pidfd, this CLOSE destroys B.
	res.OtherCloseB = name(pidfd.ConfigFDClose(a, b))
	res.OtherClose2 = name(pidfd.ConfigFDClose(a, 2))
	unix.Close(a)
	if res.OtherAfterAB, err = waitCharge(cg, res.OtherBase); err != nil {
		return nil, err
	}
	return res, nil
}

// KiB-sized strings for the argv/envp rows.
const kib = 1024

// maxArgStrlen is exec's MAX_ARG_STRLEN: the longest string argv or envp may hold, NUL included.
const maxArgStrlen = 32 * 4096

// argvLimitsResult holds pidfd_config's and the run's answers by errno
// name, by row.
type argvLimitsResult struct {
	StackBig, StackSmall uint64 // RLIMIT_STACK at the embryos' creation

	BigArgv300 string // ARGV of 300 KiB, embryo created under StackBig

	Argv300 string // the rows below: embryos created under StackSmall

	Argv200, Envp100 string
	Run200, Exit200  string
	Exited200        bool

	Argv200b, Envp20 string
	Run220, Exit220  string
	Exited220        bool

	ArgvTiny, EnvpTiny string // 40000 strings of one byte
}

// runToExit starts a configured embryo and waits for its exit.
func runToExit(fd int) (run, exit string, exited0 bool) {
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return name(err), "", false
	}
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return "success", err.Error(), false
	}
	return "success", ex.String(), ex.Exited(0)
}

// helperArgvLimits creates embryos under an RLIMIT_STACK of 8 MiB and of
// 1 MiB and sets argv and envp vectors around exec's limit for them: a
// quarter of RLIMIT_STACK (256 KiB at 1 MiB) for argv and envp strings
// and pointers together.
func helperArgvLimits(json.RawMessage) (any, error) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &old); err != nil {
		return nil, fmt.Errorf("getrlimit: %v", err)
	}
	setStack := func(cur uint64) error {
		rl := unix.Rlimit{Cur: cur, Max: old.Max}
		if rl.Max != unix.RLIM_INFINITY && rl.Max < cur {
			rl.Max = cur
		}
		if err := unix.Setrlimit(unix.RLIMIT_STACK, &rl); err != nil {
			return fmt.Errorf("setrlimit(RLIMIT_STACK, %d): %v", cur, err)
		}
		return nil
	}
	open := func() (int, error) {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return -1, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
		}
		if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("EXEC: %s", name(err))
		}
		return fd, nil
	}
	s100 := strings.Repeat("a", 100*kib)
	argv300 := []string{"true-static", s100, s100, s100}
	argv200 := []string{"true-static", s100, s100}
	envp100 := []string{"K=" + s100[2:]}
	envp20 := []string{"K=" + strings.Repeat("e", 20*kib-2)}
	tiny := make([]string, 40000)
	for i := range tiny {
		tiny[i] = "a"
	}

	var res argvLimitsResult
	res.StackBig, res.StackSmall = 8<<20, 1<<20
	if err := setStack(res.StackBig); err != nil {
		return nil, err
	}
	big, err := open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(big)
	if err := setStack(res.StackSmall); err != nil {
		return nil, err
	}
	res.BigArgv300 = name(pidfd.ConfigArgv(big, argv300))

	fds := make([]int, 4)
	for i := range fds {
		if fds[i], err = open(); err != nil {
			return nil, err
		}
		defer unix.Close(fds[i])
	}
	res.Argv300 = name(pidfd.ConfigArgv(fds[0], argv300))

	res.Argv200 = name(pidfd.ConfigArgv(fds[1], argv200))
	res.Envp100 = name(pidfd.ConfigEnvp(fds[1], envp100))
	res.Run200, res.Exit200, res.Exited200 = runToExit(fds[1])

	res.Argv200b = name(pidfd.ConfigArgv(fds[2], argv200))
	res.Envp20 = name(pidfd.ConfigEnvp(fds[2], envp20))
	res.Run220, res.Exit220, res.Exited220 = runToExit(fds[2])

	res.ArgvTiny = name(pidfd.ConfigArgv(fds[3], tiny))
	res.EnvpTiny = name(pidfd.ConfigEnvp(fds[3], tiny))
	return res, nil
}
