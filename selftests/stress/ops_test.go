package stress

// The ops a worker thread picks from, with their weights, and the ops on
// an embryo's life (create, run, close, dup, wait, poll, signal, getfd,
// the calls that must answer ESRCH before start, descriptor passing, the
// races). The pidfd_config ops are in config_test.go, those that need a
// raw fork child in scenarios_test.go.

import (
	"fmt"
	"math/rand/v2"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// execKind is a program an embryo may be configured to run, and what its
// run answers (DESIGN.md section 3, "Exec security": the execve checks,
// evaluated at run).
type execKind int

const (
	kNone     execKind = iota
	kTrue              // /bin/true-static: starts, exits 0
	kMissing           // ENOENT
	kDir               // a directory: EACCES
	kFifo              // a FIFO: EACCES
	kDevNull           // a character device: EACCES
	kNoexec            // a regular file without execute permission: EACCES
	kGarbage           // executable, no format knows it: ENOEXEC
	kNoInterp          // "#!" with a missing interpreter: ENOENT
	kBusy              // open for writing by the worker: ETXTBSY
	kSymlink           // a symlink to true-static, with AT_SYMLINK_NOFOLLOW: ELOOP
	kRelative          // "true-static", relative to the embryo's cwd: runs if the cwd is /bin, else ENOENT
	kEmpty             // "" with AT_EMPTY_PATH and AT_FDCWD: the embryo's cwd, a directory: EACCES
	numExecKinds
)

var execKindNames = [...]string{"none", "true", "missing", "dir", "fifo", "devnull", "noexec", "garbage", "nointerp", "busy", "symlink-nofollow", "relative", "empty-path"}

func (k execKind) String() string { return execKindNames[k] }

// execFlags are the EXEC flags a kind is configured with.
func (k execKind) flags() uint32 {
	switch k {
	case kSymlink:
		return unix.AT_SYMLINK_NOFOLLOW
	case kEmpty:
		return unix.AT_EMPTY_PATH
	}
	return 0
}

// runSet is what pidfd_spawn_run of an embryo configured with k answers.
// In a directory mounted noexec (the worker checks its own) the programs
// there are EACCES.
func (w *worker) runSet(k execKind) errset {
	inTmp := k == kGarbage || k == kNoInterp || k == kBusy
	switch {
	case w.tmpNoexec && inTmp:
		return errs(unix.EACCES, unix.ETXTBSY)
	case k == kTrue:
		return okOnly
	case k == kMissing, k == kNoInterp:
		return errs(unix.ENOENT)
	case k == kDir, k == kFifo, k == kDevNull, k == kNoexec, k == kEmpty:
		return errs(unix.EACCES)
	case k == kGarbage:
		return errs(unix.ENOEXEC)
	case k == kBusy:
		return errs(unix.ETXTBSY)
	case k == kSymlink:
		return errs(unix.ELOOP)
	case k == kRelative:
		return errs(0, unix.ENOENT)
	}
	return okOnly
}

// pickExec picks a program, true-static most often.
func pickExec(r *rand.Rand) execKind {
	if r.IntN(5) < 2 {
		return kTrue
	}
	return execKind(1 + r.IntN(int(numExecKinds)-1))
}

type opDef struct {
	name   string
	weight int
	fn     func(*thread)
}

// ops are the thread's ops and their weights.
var ops = []opDef{
	{"open", 14, opOpen},
	{"open.bad", 2, opOpenBad},
	{"config.exec", 9, opConfigExec},
	{"config.argv", 4, func(th *thread) { opConfigStrings(th, pidfd.PIDFD_CONFIG_ARGV, "config.argv") }},
	{"config.envp", 3, func(th *thread) { opConfigStrings(th, pidfd.PIDFD_CONFIG_ENVP, "config.envp") }},
	{"config.fd", 10, opConfigFD},
	{"config.cwd", 4, opConfigCwd},
	{"config.signals", 4, opConfigSignals},
	{"config.rlimit", 2, opConfigRlimit},
	{"config.umask", 2, opConfigUmask},
	{"config.nnp", 1, opConfigNoNewPrivs},
	{"config.uids", 2, func(th *thread) { opConfigIDs(th, pidfd.PIDFD_CONFIG_UIDS, "config.uids") }},
	{"config.gids", 1, func(th *thread) { opConfigIDs(th, pidfd.PIDFD_CONFIG_GIDS, "config.gids") }},
	{"config.groups", 2, opConfigGroups},
	{"config.root", 1, opConfigRoot},
	{"config.setsid", 1, opConfigSetsid},
	{"config.pgid", 1, opConfigPgid},
	{"config.pdeathsig", 1, opConfigPdeathsig},
	{"config.sched", 1, opConfigSched},
	{"config.cgroup", 1, opConfigCgroup},
	{"config.tty", 1, opConfigTTY},
	{"config.badcmd", 2, opConfigBadCmd},
	{"run", 10, opRun},
	{"close", 9, opClose},
	{"dup", 4, opDup},
	{"wait", 6, opWait},
	{"poll", 3, opPoll},
	{"signal", 4, opSignal},
	{"getfd", 2, opGetfd},
	{"hidden", 3, opHidden},
	{"scm", 3, opSCM},
	{"peer.getfd", 2, opPeerGetfd},
	{"race.runclose", 2, opRaceRunClose},
	{"race.configclose", 1, opRaceConfigClose},
	{"inherit.embryo", 1, opInheritEmbryo},
	{"fork.creator", 3, opForkCreator},
	{"fork.setresuid", 1, opForkSetresuid},
	{"fork.seccomp", 1, opForkSeccomp},
	{"fork.landlock", 1, opForkLandlock},
	{"fork.pidns", 1, opForkPidns},
	{"fork.unsharepid", 1, opForkUnsharePid},
	{"cgroup.freeze", 1, opCgroupFreeze},
	{"cgroup.kill", 1, opCgroupKill},
}

var opsWeight = func() int {
	n := 0
	for _, o := range ops {
		n += o.weight
	}
	return n
}()

// maxSlots bounds a thread's fds: past it, close is picked.
const maxSlots = 24

// pickOp picks the next op: by weight, but open when the thread has no
// embryo and close when it has too many.
func pickOp(r *rand.Rand, slots int) opDef {
	x := r.IntN(opsWeight)
	switch {
	case slots == 0 && r.IntN(2) == 0:
		return ops[0]
	case slots >= maxSlots:
		return opDef{"close", 1, opClose}
	}
	for _, o := range ops {
		if x < o.weight {
			return o
		}
		x -= o.weight
	}
	return ops[0]
}

// Create.

// openSlot creates an embryo (pidfd_open(0, PIDFD_EMPTY|flags)) and
// checks what DESIGN.md promises of a new one: its fd is close-on-exec
// and its fdinfo says "Embryo: 1". nil if the open failed (EAGAIN).
func (th *thread) openSlot(flags int) *slot {
	fd, _, e := unix.Syscall(unix.SYS_PIDFD_OPEN, 0, uintptr(pidfd.PIDFD_EMPTY|flags), 0)
	if !th.expect("open", fmt.Sprintf("pidfd_open(0, PIDFD_EMPTY|%#x)", flags), e, openSet) || e != 0 {
		return nil
	}
	s := th.addSlot(int(fd), th.newEmb())
	fl, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
	th.check("open", err == nil && fl&unix.FD_CLOEXEC != 0, "the embryo's fd %d is not close-on-exec (F_GETFD %#x, %v)", fd, fl, err)
	th.checkEmbryo("open", s, true)
	return s
}

// checkEmbryo checks that fdinfo says what the model says: "Embryo: 1"
// exactly while unstarted.
func (th *thread) checkEmbryo(key string, s *slot, want bool) {
	got, err := pidfd.IsEmbryo(s.fd)
	th.check(key, err == nil && got == want, "fdinfo of fd %d (embryo %d, %v): Embryo %v (%v), want %v", s.fd, s.e.id, s.e.state, got, err, want)
}

func opOpen(th *thread) {
	flags := 0
	if th.rng.IntN(4) == 0 {
		flags = pidfd.PIDFD_NONBLOCK
	}
	th.openSlot(flags)
}

// opOpenBad: pid != 0 with PIDFD_EMPTY, PIDFD_EMPTY|PIDFD_THREAD, unknown
// flags: EINVAL (DESIGN.md section 3, Lifecycle).
func opOpenBad(th *thread) {
	cases := []struct {
		name       string
		pid, flags int
	}{
		{"pid", 1, pidfd.PIDFD_EMPTY},
		{"self", unix.Getpid(), pidfd.PIDFD_EMPTY},
		{"thread", 0, pidfd.PIDFD_EMPTY | pidfd.PIDFD_THREAD},
		{"unknown-flag", 0, pidfd.PIDFD_EMPTY | unix.O_WRONLY},
		{"unknown-flag-high", 0, pidfd.PIDFD_EMPTY | 1<<30},
	}
	c := cases[th.rng.IntN(len(cases))]
	fd, _, e := unix.Syscall(unix.SYS_PIDFD_OPEN, uintptr(c.pid), uintptr(c.flags), 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	th.expect("open.bad/"+c.name, fmt.Sprintf("pidfd_open(%d, %#x)", c.pid, c.flags), e, errs(unix.EINVAL))
}

// Targets: what a config or run call is made on.

type target struct {
	kind tgtKind
	fd   int
	slot *slot
	st   embState // of the embryo behind a slot or a reopened pidfd
	own  bool     // fd is the op's to close
}

func (t target) String() string {
	if t.slot != nil {
		return fmt.Sprintf("fd %d (embryo %d, %v, %v)", t.fd, t.slot.e.id, t.slot.e.state, t.slot.e.exec)
	}
	return fmt.Sprintf("fd %d (%v)", t.fd, t.kind)
}

func (t target) release() {
	if t.own {
		unix.Close(t.fd)
	}
}

// pickTarget: mostly one of the thread's embryos (a new one if it has
// none); sometimes a descriptor that is not open, not a pidfd, a pidfd of
// a process that was never an embryo, or a second pidfd on a started
// embryo's pid.
func (th *thread) pickTarget() target {
	if th.rng.IntN(9) != 0 {
		s := th.anySlot()
		if s == nil {
			s = th.openSlot(0)
		}
		if s != nil {
			return target{kind: tgtSlot, fd: s.fd, slot: s, st: s.e.state}
		}
	}
	w := th.w
	switch th.rng.IntN(4) {
	case 0:
		return target{kind: tgtClosed, fd: w.closedFd}
	case 1:
		fds := []int{w.devnull, w.pipeR, w.pipeW, w.fifoFd, w.dirFd, w.pathFd, w.fileFd}
		return target{kind: tgtNotPidfd, fd: fds[th.rng.IntN(len(fds))]}
	case 2:
		if s := th.slotWhere(func(e *emb) bool { return e.state == stStarted }); s != nil {
			if fd, err := pidfd.Open(s.e.pid, 0); err == nil {
				return target{kind: tgtReopened, fd: fd, st: stStarted, own: true}
			}
		}
	}
	return target{kind: tgtPlain, fd: w.selfPidfd}
}

// Run.

func opRun(th *thread) {
	t := th.pickTarget()
	defer t.release()
	flags := 0
	if th.rng.IntN(12) == 0 {
		flags = 1 << th.rng.IntN(32)
	}
	exec, set := kNone, okOnly
	if t.slot != nil {
		exec = t.slot.e.exec
		set = th.w.runSet(exec)
	}
	allowed := runRule(t.kind, t.st, flags != 0, exec, set)
	pid, _, e := unix.Syscall(pidfd.SYS_PIDFD_SPAWN_RUN, uintptr(t.fd), uintptr(flags), 0)
	key := "run/" + t.kind.String()
	if t.slot != nil {
		key = "run/" + exec.String()
	}
	if flags != 0 {
		key += "-flags"
	}
	if !th.expect(key, fmt.Sprintf("pidfd_spawn_run(%v, %#x)", t, flags), e, allowed) || t.slot == nil {
		return
	}
	s := t.slot
	if e != 0 {
		if s.e.state == stNew {
			// DESIGN.md: a failed exec leaves the embryo unstarted
			// and configurable.
			th.checkEmbryo("run", s, true)
		}
		return
	}
	th.check("run", int(pid) > 0, "pidfd_spawn_run returned pid %d", int(pid))
	s.e.state, s.e.pid = stStarted, int(pid)
	th.checkEmbryo("run", s, false)
}

// Close and dup.

func opClose(th *thread) {
	if s := th.anySlot(); s != nil {
		th.closeSlot(s)
	}
}

// opDup makes a second fd on the same file (F_DUPFD_CLOEXEC): the
// creator's file, so it configures and runs as the first, and only the
// last close destroys.
func opDup(th *thread) {
	s := th.anySlot()
	if s == nil {
		return
	}
	fd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if th.expect("dup", fmt.Sprintf("F_DUPFD_CLOEXEC of fd %d", s.fd), errnoOf(err), okOnly) {
		th.addSlot(fd, s.e)
	}
}

// Wait and poll.

// opWait is waitid(P_PIDFD): an unstarted embryo is a child that has not
// exited (WNOHANG: 0, no child reported; DESIGN.md section 3); a started
// one is reported once it exits; a reaped one is ECHILD.
func opWait(th *thread) {
	s := th.anySlot()
	if s == nil {
		return
	}
	switch {
	case th.rng.IntN(16) == 0:
		_, err := pidfd.Waitid(unix.P_PIDFD, s.fd, unix.WNOHANG)
		th.expect("wait/no-options", fmt.Sprintf("waitid(P_PIDFD, %d, WNOHANG)", s.fd), errnoOf(err), errs(unix.EINVAL))
	case s.e.state == stNew:
		opts := unix.WEXITED | unix.WNOHANG
		if th.rng.IntN(2) == 0 {
			opts |= unix.WNOWAIT
		}
		ex, err := pidfd.Waitid(unix.P_PIDFD, s.fd, opts)
		if th.expect("wait/unstarted", fmt.Sprintf("waitid(P_PIDFD, %d, %#x)", s.fd, opts), errnoOf(err), okOnly) {
			th.check("wait/unstarted", ex.Code == 0, "waitid on an unstarted embryo reported %v", ex)
		}
	case s.e.state == stStarted && th.rng.IntN(3) == 0:
		ex, err := pidfd.Waitid(unix.P_PIDFD, s.fd, unix.WEXITED|unix.WNOHANG)
		if th.expect("wait/started-nohang", fmt.Sprintf("waitid(P_PIDFD, %d, WNOHANG)", s.fd), errnoOf(err), okOnly) && ex.Code != 0 {
			th.checkExit("wait", ex, s.e.killed)
			s.e.state = stReaped
		}
	case s.e.state == stStarted:
		th.waitStarted(s, "wait/started")
	default:
		_, err := pidfd.Waitid(unix.P_PIDFD, s.fd, unix.WEXITED|unix.WNOHANG)
		th.expect("wait/reaped", fmt.Sprintf("waitid(P_PIDFD, %d)", s.fd), errnoOf(err), errs(unix.ECHILD))
	}
}

// waitStarted waits (bounded) for a started child and reaps it.
func (th *thread) waitStarted(s *slot, key string) {
	ex, err := embryo.WaitExit(s.fd, waitTimeout)
	if !th.check(key, err == nil, "waiting for the child %d of fd %d: %v", s.e.pid, s.fd, err) {
		return
	}
	th.ctr.add(key, 0)
	th.logf("%s fd %d -> %v", key, s.fd, ex)
	th.check(key, ex.Pid == s.e.pid, "waitid reported pid %d, pidfd_spawn_run returned %d", ex.Pid, s.e.pid)
	th.checkExit(key, ex, s.e.killed)
	s.e.state = stReaped
}

// opPoll: an embryo's fd is not readable until the started process exits
// (DESIGN.md section 3), and is once it has been reaped.
func opPoll(th *thread) {
	s := th.anySlot()
	if s == nil {
		return
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	_, err := unix.Poll(fds, 0)
	if err == unix.EINTR {
		return
	}
	if !th.expect("poll/"+s.e.state.String(), fmt.Sprintf("poll(fd %d)", s.fd), errnoOf(err), okOnly) {
		return
	}
	in := fds[0].Revents&unix.POLLIN != 0
	switch s.e.state {
	case stNew:
		th.check("poll", !in, "an unstarted embryo's fd %d polls readable (revents %#x)", s.fd, fds[0].Revents)
	case stReaped:
		th.check("poll", in, "a reaped child's pidfd %d does not poll readable (revents %#x)", s.fd, fds[0].Revents)
	}
}

// Signals, getfd, and the calls an unstarted embryo answers ESRCH.

func opSignal(th *thread) {
	s := th.anySlot()
	if s == nil {
		return
	}
	sigs := []unix.Signal{0, unix.SIGCONT, unix.SIGUSR1, unix.SIGTERM, unix.SIGKILL}
	sig := sigs[th.rng.IntN(len(sigs))]
	if th.rng.IntN(16) == 0 {
		err := unix.PidfdSendSignal(s.fd, sig, nil, 1<<20)
		th.expect("signal/bad-flags", fmt.Sprintf("pidfd_send_signal(%d, %d, flags 1<<20)", s.fd, sig), errnoOf(err), errs(unix.EINVAL))
		return
	}
	err := unix.PidfdSendSignal(s.fd, sig, nil, 0)
	if th.expect("signal/"+s.e.state.String(), fmt.Sprintf("pidfd_send_signal(%d, %d)", s.fd, sig), errnoOf(err), signalRule(s.e.state)) &&
		err == nil && s.e.state == stStarted && sig != 0 && sig != unix.SIGCONT {
		s.e.killed = append(s.e.killed, sig)
	}
}

func opGetfd(th *thread) {
	s := th.anySlot()
	if s == nil {
		return
	}
	flags := 0
	if th.rng.IntN(16) == 0 {
		flags = 1
	}
	fd, err := unix.PidfdGetfd(s.fd, th.rng.IntN(3), flags)
	if err == nil {
		unix.Close(fd)
	}
	allowed := getfdRule(s.e.state)
	if flags != 0 {
		allowed = errs(unix.EINVAL)
	}
	th.expect("getfd/"+s.e.state.String(), fmt.Sprintf("pidfd_getfd(%d, flags %d)", s.fd, flags), errnoOf(err), allowed)
}

// opHidden: setns, process_madvise and process_mrelease on an unstarted
// embryo: ESRCH (DESIGN.md section 3, "Must").
func opHidden(th *thread) {
	s := th.slotWhere(func(e *emb) bool { return e.state == stNew })
	if s == nil {
		return
	}
	switch th.rng.IntN(3) {
	case 0:
		_, _, e := unix.Syscall(unix.SYS_SETNS, uintptr(s.fd), unix.CLONE_NEWUTS, 0)
		th.expect("hidden/setns", fmt.Sprintf("setns(%d, CLONE_NEWUTS)", s.fd), e, errs(unix.ESRCH))
	case 1:
		buf := th.mem.alloc(4096)
		iov := th.mem.alloc(16)
		*(*uintptr)(unsafe.Pointer(&iov[0])) = addr(buf) // struct iovec: base, len
		*(*uint64)(unsafe.Pointer(&iov[8])) = uint64(len(buf))
		_, _, e := unix.Syscall6(unix.SYS_PROCESS_MADVISE, uintptr(s.fd), addr(iov), 1, unix.MADV_COLD, 0, 0)
		th.expect("hidden/process_madvise", fmt.Sprintf("process_madvise(%d)", s.fd), e, errs(unix.ESRCH))
	case 2:
		_, _, e := unix.Syscall(unix.SYS_PROCESS_MRELEASE, uintptr(s.fd), 0, 0)
		th.expect("hidden/process_mrelease", fmt.Sprintf("process_mrelease(%d)", s.fd), e, errs(unix.ESRCH))
	}
}

// Another process with the fd: the peer.

// opSCM passes an embryo's fd to the peer with SCM_RIGHTS; the peer's
// config and run calls get EPERM (only the creator may), its waitid
// ECHILD (not its child), its signals ESRCH until start, and its fdinfo
// agrees with the creator's.
func opSCM(th *thread) {
	if s := th.anySlot(); s != nil {
		th.peerOp("scm", peerSCM, s)
	}
}

// opPeerGetfd: the peer takes the fd with pidfd_getfd on the worker; the
// same answers.
func opPeerGetfd(th *thread) {
	if s := th.anySlot(); s != nil {
		th.peerOp("peer.getfd", peerGetfd, s)
	}
}

func (th *thread) peerOp(key string, op uint32, s *slot) {
	r, err := th.w.peer.call(op, s.fd)
	if !th.check(key, err == nil, "peer: %v", err) {
		return
	}
	st := s.e.state
	d := fmt.Sprintf("fd %d (embryo %d, %v)", s.fd, s.e.id, st)
	if op == peerGetfd && !th.expect(key+"/getfd", d, r[rGetfd], okOnly) {
		return
	}
	th.expect(key+"/config", d, r[rConfig], foreignRule)
	th.expect(key+"/run", d, r[rRun], foreignRule)
	th.expect(key+"/waitid", d, r[rWaitid], errs(unix.ECHILD))
	th.expect(key+"/signal", d, r[rSignal], signalRule(st))
	th.check(key, r[rEmbryo] == boolErrno(st == stNew), "the peer's fdinfo of %s: Embryo %d", d, r[rEmbryo])
	th.expect(key+"/close", d, r[rClose], okOnly)
}

func boolErrno(b bool) unix.Errno {
	if b {
		return 1
	}
	return 0
}

// Races.

// opRaceRunClose: another thread closes the only fd of a configured
// embryo while this one runs it. Either the run got the file first (it
// starts: a child to reap) or the close did (EBADF, and the embryo is
// destroyed). The fd is a number the thread alone uses (th.high), above
// what the lowest-free allocation hands out, so that no other open takes
// it meanwhile.
func opRaceRunClose(th *thread) {
	th.race("race.runclose", func(fd int) (uintptr, unix.Errno) {
		pid, _, e := unix.Syscall(pidfd.SYS_PIDFD_SPAWN_RUN, uintptr(fd), 0, 0)
		return pid, e
	})
}

// opRaceConfigClose: the same with a config call (SIGNALS).
func opRaceConfigClose(th *thread) {
	arg := th.mem.put(raw(pidfd.SignalsArg{Blocked: 1 << (unix.SIGUSR1 - 1)}), 0)
	th.race("race.configclose", func(fd int) (uintptr, unix.Errno) {
		_, _, e := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(fd), pidfd.PIDFD_CONFIG_SIGNALS, arg, pidfd.PIDFD_SIGNALS_SIZE_VER0, 0, 0)
		return 0, e
	})
}

func (th *thread) race(key string, call func(fd int) (uintptr, unix.Errno)) {
	if th.high < 0 {
		th.ctr.note("race ops not run: RLIMIT_NOFILE too low for a private descriptor number")
		return
	}
	s := th.openSlot(0)
	if s == nil {
		return
	}
	if !th.configExecTrue(s) {
		return
	}
	if err := unix.Dup3(s.fd, th.high, unix.O_CLOEXEC); !th.expect(key+"/dup3", fmt.Sprintf("dup3(%d, %d)", s.fd, th.high), errnoOf(err), okOnly) {
		return
	}
	th.closeSlot(s)
	delay := time.Duration(th.rng.IntN(400)) * time.Microsecond
	closed := make(chan error, 1)
	go func() {
		time.Sleep(delay)
		closed <- unix.Close(th.high)
	}()
	pid, e := call(th.high)
	cerr := <-closed
	th.expect(key+"/close", fmt.Sprintf("close(%d) after %v", th.high, delay), errnoOf(cerr), okOnly)
	if !th.expect(key+"/call", fmt.Sprintf("on fd %d closed after %v", th.high, delay), e, errs(0, unix.EBADF)) {
		return
	}
	if key == "race.runclose" && e == 0 {
		th.reapPid(reapee{pid: int(pid)})
	}
}

// configExecTrue configures s to run true-static (must succeed).
func (th *thread) configExecTrue(s *slot) bool {
	arg := th.mem.put(raw(pidfd.ExecArg{Path: uint64(th.mem.cstr(th.w.paths[kTrue])), Dirfd: unix.AT_FDCWD}), 0)
	_, _, e := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(s.fd), pidfd.PIDFD_CONFIG_EXEC, arg, pidfd.PIDFD_EXEC_SIZE_VER0, 0, 0)
	if !th.expect("config.exec/true", fmt.Sprintf("fd %d", s.fd), e, okOnly) {
		return false
	}
	s.e.exec = kTrue
	return true
}

// opInheritEmbryo: PIDFD_FD_INHERIT while the worker holds an unstarted
// embryo's fd without close-on-exec: the copy leaves it out (DESIGN.md:
// "an embryo cannot hold an unstarted embryo's pidfd (no cycles)"). Were
// it copied, the embryo would outlive its last close, and the round's
// pids check would find it.
func opInheritEmbryo(th *thread) {
	src := th.slotWhere(func(e *emb) bool { return e.state == stNew })
	dst := th.slotWhere(func(e *emb) bool { return e.state == stNew })
	if src == nil || dst == nil {
		return
	}
	fd, err := unix.Dup(src.fd)
	if !th.expect("inherit.embryo/dup", fmt.Sprintf("dup(%d)", src.fd), errnoOf(err), okOnly) {
		return
	}
	arg := th.mem.put(raw(pidfd.FDArg{Action: pidfd.PIDFD_FD_INHERIT}), 0)
	_, _, e := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(dst.fd), pidfd.PIDFD_CONFIG_FD, arg, pidfd.PIDFD_FD_SIZE_VER0, 0, 0)
	unix.Close(fd)
	if th.expect("inherit.embryo/inherit", fmt.Sprintf("INHERIT into fd %d with embryo fd %d open as %d", dst.fd, src.fd, fd), e, okOnly) {
		dst.e.table = fdModel{unknown: true}
	}
}
