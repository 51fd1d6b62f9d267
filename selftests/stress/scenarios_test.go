package stress

// The ops that run a raw fork child (forkchild_test.go): the creator's
// fork, its exit, privilege drops, pid namespaces, and a creator in a
// cgroup that is frozen or killed. Each child's steps and what each may
// answer are listed here; the parent checks them all, and the round's
// pids check finds any embryo the child's exit failed to destroy.

import (
	"fmt"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// progArgs are the argument structs the children pass, in th.mem.
type progArgs struct {
	exec, argv, signals uintptr
}

func (th *thread) progArgs() progArgs {
	m := th.mem
	return progArgs{
		exec:    m.put(raw(pidfd.ExecArg{Path: uint64(m.cstr(th.w.paths[kTrue])), Dirfd: unix.AT_FDCWD}), 0),
		argv:    m.put(raw(pidfd.StringsArg{Strings: uint64(m.strs("true-static", "stress"))}), 0),
		signals: m.put(raw(pidfd.SignalsArg{Blocked: 1 << (unix.SIGUSR2 - 1)}), 0),
	}
}

// configure adds EXEC and ARGV of true-static on the embryo of step e.
func (b *progBuilder) configure(prefix string, a progArgs, e int) {
	b.config(prefix+"exec", okOnly, e, 0, pidfd.PIDFD_CONFIG_EXEC, a.exec, pidfd.PIDFD_EXEC_SIZE_VER0)
	b.config(prefix+"argv", okOnly, e, 0, pidfd.PIDFD_CONFIG_ARGV, a.argv, pidfd.PIDFD_STRINGS_SIZE_VER0)
}

// signals adds a SIGNALS config on the embryo of step e, run only after
// step dep (if >= 0) succeeded.
func (b *progBuilder) signals(name string, allowed errset, a progArgs, e, dep int) int {
	i := b.config(name, allowed, e, 0, pidfd.PIDFD_CONFIG_SIGNALS, a.signals, pidfd.PIDFD_SIGNALS_SIZE_VER0)
	if dep >= 0 {
		b.after(i, dep)
	}
	return i
}

func (th *thread) runChild(scn string, b *progBuilder, flags uintptr) {
	fr, err := th.forkRun(b, flags, nil)
	if !th.check("fork."+scn, err == nil, "%v\n%s", err, b.dump(fr)) {
		return
	}
	th.checkProg(scn, b, fr, exited0)
}

// opForkCreator: a fork of the creator inherits its fds: config and run
// on them are EPERM (DESIGN.md: "... or simply fork() of the creator,
// which inherits the fd, gets EPERM"), waitid ECHILD (not its child), a
// signal ESRCH before start. The child then creates embryos of its own,
// configures them, maybe starts and reaps one, and exits holding the
// rest: its exit destroys them ("The creator's exit destroys its
// unstarted embryos too").
func opForkCreator(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	if x := th.anySlot(); x != nil {
		b.config("inherited-config", foreignRule, -1, x.fd, pidfd.PIDFD_CONFIG_SIGNALS, a.signals, pidfd.PIDFD_SIGNALS_SIZE_VER0)
		b.run("inherited-run", foreignRule, -1, x.fd)
		si := m.alloc(128)
		b.step("inherited-waitid", errs(unix.ECHILD), unix.SYS_WAITID, unix.P_PIDFD, uintptr(x.fd), addr(si), unix.WEXITED|unix.WNOHANG, 0)
		b.step("inherited-signal", signalRule(x.e.state), unix.SYS_PIDFD_SEND_SIGNAL, uintptr(x.fd), 0, 0, 0)
		b.step("inherited-close", okOnly, unix.SYS_CLOSE, uintptr(x.fd))
	}
	e1 := b.open("open", openSet)
	b.open("open2", openSet)
	b.configure("", a, e1)
	if th.rng.IntN(2) == 0 {
		r := b.run("run", okOnly, e1, 0)
		b.reap("reap", m, e1, r)
	}
	th.runChild("creator", b, 0)
}

// opForkSetresuid: the creator drops to nobody: its embryo made before is
// no longer its to configure or run (EPERM); one made after is, and runs
// as nobody (EACCES if the path is closed to others).
func opForkSetresuid(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	e1 := b.open("open", openSet)
	b.configure("", a, e1)
	u := b.step("setresuid", okOnly, unix.SYS_SETRESUID, nobody, nobody, nobody)
	b.signals("config-after-drop", droppedRule, a, e1, u)
	b.after(b.run("run-after-drop", droppedRule, e1, 0), u)
	e2 := b.open("open-as-nobody", openSet)
	b.configure("as-nobody-", a, e2)
	r := b.run("run-as-nobody", errs(0, unix.EACCES), e2, 0)
	b.reap("reap-as-nobody", m, e2, r)
	th.runChild("setresuid", b, 0)
}

const nobody = 65534

// atFDCWD is AT_FDCWD as a variable, to pass it as a raw argument.
var atFDCWD = unix.AT_FDCWD

// seccompFilter returns a sock_fprog, in th.mem, of a filter that denies
// execve and execveat with EMLINK (an errno nothing else gives) and
// allows everything else.
func (th *thread) seccompFilter() uintptr {
	jeq := uint16(unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K)
	ld := uint16(unix.BPF_LD | unix.BPF_W | unix.BPF_ABS)
	ret := uint16(unix.BPF_RET | unix.BPF_K)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		{Code: jeq, Jt: 0, Jf: 3, K: unix.AUDIT_ARCH_X86_64},
		{Code: ld, K: 0}, // seccomp_data.nr
		{Code: jeq, Jt: 2, Jf: 0, K: unix.SYS_EXECVE},
		{Code: jeq, Jt: 1, Jf: 0, K: unix.SYS_EXECVEAT},
		{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		{Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EMLINK)},
	}
	f := th.mem.alloc(len(prog) * int(unsafe.Sizeof(prog[0])))
	for i, ins := range prog {
		copy(f[i*8:], raw(ins))
	}
	fp := th.mem.alloc(16) // struct sock_fprog: len, filter
	*(*uint16)(unsafe.Pointer(&fp[0])) = uint16(len(prog))
	*(*uintptr)(unsafe.Pointer(&fp[8])) = addr(f)
	return addr(fp)
}

// opForkSeccomp: the creator sets no_new_privs (or not) and a seccomp
// filter: its embryo made before is no longer its (EPERM); one made after
// inherits the filter, which judges its exec as an execve by the embryo
// (DESIGN.md: "a filter that denies execve denies the embryo's exec"):
// the filter's errno, EMLINK, and the embryo stays configurable.
func opForkSeccomp(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	e1 := b.open("open", openSet)
	b.configure("", a, e1)
	if th.rng.IntN(2) == 0 {
		n := b.step("no_new_privs", okOnly, unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
		b.signals("config-after-nnp", droppedRule, a, e1, n)
	}
	f := b.step("seccomp", okOnly, unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, th.seccompFilter())
	b.signals("config-after-filter", droppedRule, a, e1, f)
	b.after(b.run("run-after-filter", droppedRule, e1, 0), f)
	e2 := b.open("open-filtered", openSet)
	b.configure("filtered-", a, e2)
	b.after(b.run("run-filtered", errs(unix.EMLINK), e2, 0), f)
	b.signals("config-after-denied-run", okOnly, a, e2, f)
	th.runChild("seccomp", b, 0)
}

// opForkLandlock: the creator restricts itself with a Landlock ruleset
// that handles EXECUTE and allows it nowhere: its embryo made before is no
// longer its (EPERM); one made after cannot exec (EACCES: "a
// Landlock-restricted caller cannot run through an embryo what it could
// not execve"). Without Landlock (ENOSYS, EOPNOTSUPP) the rest is skipped
// and a note says so.
func opForkLandlock(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	e1 := b.open("open", openSet)
	b.configure("", a, e1)
	attr := m.put(raw(uint64(unix.LANDLOCK_ACCESS_FS_EXECUTE)), 0) // struct landlock_ruleset_attr, first version
	rs := b.step("create_ruleset", errs(0, unix.ENOSYS, unix.EOPNOTSUPP), unix.SYS_LANDLOCK_CREATE_RULESET, attr, 8, 0)
	r := b.step("restrict_self", okOnly, unix.SYS_LANDLOCK_RESTRICT_SELF, 0, 0)
	b.from(r, 0, rs).after(r, rs)
	b.signals("config-after-landlock", droppedRule, a, e1, r)
	b.after(b.run("run-after-landlock", droppedRule, e1, 0), r)
	e2 := b.open("open-landlocked", openSet)
	b.configure("landlocked-", a, e2)
	b.after(b.run("run-landlocked", errs(unix.EACCES), e2, 0), r)
	fr, err := th.forkRun(b, 0, nil)
	if !th.check("fork.landlock", err == nil, "%v\n%s", err, b.dump(fr)) {
		return
	}
	if fr.res[rs].state == resDone && fr.res[rs].errno != 0 {
		th.ctr.note(fmt.Sprintf("Landlock unavailable (landlock_create_ruleset: %s): its ops were skipped", errnoName(unix.Errno(fr.res[rs].errno))))
	}
	th.checkProg("landlock", b, fr, exited0)
}

// opForkPidns: the child is the init of a new pid namespace; it creates
// embryos, starts one (reaping it or not) and exits: the namespace's
// teardown ends them all (DESIGN.md: "pid namespace teardown ... ends an
// embryo"), and the child's exit is reported only after that.
func opForkPidns(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	e1 := b.open("open", openSet)
	e2 := b.open("open2", openSet)
	b.open("open3", openSet)
	b.configure("", a, e1)
	r := b.run("run-in-ns", okOnly, e1, 0)
	if th.rng.IntN(2) == 0 {
		b.reap("reap-in-ns", m, e1, r)
	}
	b.configure("unstarted-", a, e2)
	th.runChild("pidns", b, unix.CLONE_NEWPID)
}

// opForkUnsharePid: after unshare(CLONE_NEWPID) the creator's new
// children would live in another pid namespace: it can create no embryo
// (EINVAL: an embryo lives in its creator's namespace) but may still
// configure and run the one it made before (pidfd_authority_sandboxed()
// leaves pid_ns_for_children out: the embryo's pid was fixed at
// creation).
func opForkUnsharePid(th *thread) {
	m, a := th.mem, th.progArgs()
	b := newProg()
	b.blockSignals(m)
	e1 := b.open("open", openSet)
	b.configure("", a, e1)
	u := b.step("unshare", okOnly, unix.SYS_UNSHARE, unix.CLONE_NEWPID)
	b.after(b.open("open-after-unshare", errs(unix.EINVAL)), u)
	b.signals("config-after-unshare", okOnly, a, e1, u)
	r := b.run("run-after-unshare", okOnly, e1, 0)
	b.after(r, u)
	b.reap("reap", m, e1, r)
	th.runChild("unsharepid", b, 0)
}

// Cgroups: the child moves into the worker's kill cgroup (v2), creates
// embryos, says it is ready and waits; the worker freezes the cgroup
// (cgroup.events must say frozen: embryos are freezable) and thaws it, or
// kills it (the child dies of SIGKILL and the cgroup empties: embryos are
// killable). Either way the cgroup must empty.

func opCgroupFreeze(th *thread) { th.cgroupScenario(false) }
func opCgroupKill(th *thread)   { th.cgroupScenario(true) }

func (th *thread) cgroupScenario(kill bool) {
	w, m, a := th.w, th.mem, th.progArgs()
	scn := "cgroup.freeze"
	if kill {
		scn = "cgroup.kill"
	}
	w.killMu.Lock()
	defer w.killMu.Unlock()
	// ready: the child says it is in the cgroup with its embryos; gop:
	// its read returns when the worker closes the write end. The
	// parent's ends the child does not use are closed after the fork.
	var ready, gop [2]int
	if err := unix.Pipe2(ready[:], unix.O_CLOEXEC); !th.check(scn, err == nil, "pipe: %v", err) {
		return
	}
	if err := unix.Pipe2(gop[:], unix.O_CLOEXEC); !th.check(scn, err == nil, "pipe: %v", err) {
		unix.Close(ready[0])
		unix.Close(ready[1])
		return
	}
	held := map[int]bool{ready[0]: true, ready[1]: true, gop[0]: true, gop[1]: true}
	closeEnd := func(fd int) {
		if held[fd] {
			unix.Close(fd)
			delete(held, fd)
		}
	}
	defer func() {
		for fd := range held {
			unix.Close(fd)
		}
	}()

	b := newProg()
	b.blockSignals(m)
	b.step("close-ready-r", okOnly, unix.SYS_CLOSE, uintptr(ready[0]))
	b.step("close-go-w", okOnly, unix.SYS_CLOSE, uintptr(gop[1]))
	procs := b.step("open-procs", okOnly, unix.SYS_OPENAT, uintptr(atFDCWD),
		m.cstr(filepath.Join(w.arg.KillCg, "cgroup.procs")), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	j := b.step("join", okOnly, unix.SYS_WRITE, 0, m.cstr("0"), 1)
	b.from(j, 0, procs).after(j, procs)
	c := b.step("close-procs", okOnly, unix.SYS_CLOSE, 0)
	b.from(c, 0, procs).after(c, procs)
	e1 := b.open("open", openSet)
	b.after(e1, j)
	b.after(b.open("open2", openSet), j)
	b.configure("", a, e1)
	rdy := b.step("ready", okOnly, unix.SYS_WRITE, uintptr(ready[1]), m.cstr("r"), 1)
	rd := b.step("wait-go", okOnly, unix.SYS_READ, uintptr(gop[0]), addr(m.alloc(8)), 1)
	// Killed once it said it was ready: maybe before it recorded so.
	b.mayNotRun[rdy], b.mayNotRun[rd] = kill, kill

	during := func(pid int) error {
		closeEnd(ready[1])
		closeEnd(gop[0])
		defer closeEnd(gop[1]) // lets the child's read return
		ev, err := embryo.PollIn(ready[0], forkTimeout)
		if err != nil || ev == 0 {
			return fmt.Errorf("the child did not say it was ready within %v (%v)", forkTimeout, err)
		}
		unix.Read(ready[0], make([]byte, 1))
		if kill {
			err := cgroup2.WriteCtl(filepath.Join(w.arg.KillCg, "cgroup.kill"), "1")
			th.expect(scn+"/write", "cgroup.kill", errnoOf(err), okOnly)
			return nil
		}
		freeze := filepath.Join(w.arg.KillCg, "cgroup.freeze")
		err = cgroup2.WriteCtl(freeze, "1")
		if th.expect(scn+"/write", "cgroup.freeze 1", errnoOf(err), okOnly) {
			v, ok := cgroup2.WaitEvent(w.arg.KillCg, "frozen", "1", cgroupWithin)
			th.check(scn, ok, "cgroup.events says frozen %s %v after cgroup.freeze: the creator or its embryos were not frozen (cgroup.procs %s)",
				v, cgroupWithin, cgroup2.Procs(w.arg.KillCg))
		}
		err = cgroup2.WriteCtl(freeze, "0")
		th.expect(scn+"/write", "cgroup.freeze 0", errnoOf(err), okOnly)
		v, ok := cgroup2.WaitEvent(w.arg.KillCg, "frozen", "0", cgroupWithin)
		th.check(scn, ok, "cgroup.events says frozen %s %v after thawing", v, cgroupWithin)
		return nil
	}
	fr, err := th.forkRun(b, 0, during)
	if !th.check(scn, err == nil, "%v\n%s", err, b.dump(fr)) {
		return
	}
	want := exited0
	if kill {
		want = func(e pidfd.Exit) bool { return e.Signaled(unix.SIGKILL) }
	}
	th.checkProg(scn, b, fr, want)
	v, ok := cgroup2.WaitEvent(w.arg.KillCg, "populated", "0", cgroupWithin)
	th.check(scn, ok, "the kill cgroup is still populated (%s) %v after its creator ended: an embryo outlived it (cgroup.procs %s)",
		v, cgroupWithin, cgroup2.Procs(w.arg.KillCg))
}

// cgroupWithin bounds the waits for a freeze, a thaw or a kill to show in
// cgroup.events (TCG, a debug kernel).
const cgroupWithin = 10 * time.Second
