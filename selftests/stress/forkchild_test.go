package stress

// Raw fork children: a process that the creator forks and that makes a
// short list of system calls and exits, without running any Go. They are
// how the workers stress what needs another process cheaply: the fork of
// a creator that inherits its embryo fds (EPERM), a creator that exits
// holding embryos (destroyed), privilege drops (setresuid, seccomp,
// no_new_privs, Landlock: EPERM on embryos made before, the sandbox
// inherited by embryos made after), the init of a pid namespace that
// dies holding embryos, and a creator in a cgroup that is frozen or
// killed.
//
// The child is made by a bare clone(2) of the calling thread (as
// lifecycle's rawFork does): it has one thread and must not touch the Go
// runtime. It runs runSteps, which is nosplit and makes raw system calls
// only, reading a program (cprog) that the parent built before the fork
// in its own memory (the child has a copy) and writing each call's result
// to a page shared with the parent (cresult). The parent checks each
// result against the set the program gives for it.

import (
	"fmt"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

const maxSteps = 40

// cstep is one system call of a child program.
type cstep struct {
	nr   uintptr
	args [6]uintptr
	// subst[i] >= 0: args[i] is replaced by the return value of that
	// earlier step (an fd the child opened).
	subst [6]int32
	// dep[k] >= 0: the step runs only if that step ran and succeeded.
	dep [2]int32
	// repeat > 1: the call is made up to repeat times, until one fails
	// (its result is the last call's).
	repeat int32
}

type cprog struct {
	n     int32
	steps [maxSteps]cstep
}

// cresult is one step's result, in the shared page.
type cresult struct {
	state uintptr // resNotReached, resDone, resSkipped, resInProgress
	ret   uintptr
	errno uintptr
}

const (
	resNotReached = 0
	resDone       = 1
	resSkipped    = 2
	resInProgress = 3 // the child died in the call, or before it recorded the result
)

// runSteps runs the program. It is nosplit and calls nosplit functions
// only: in a raw fork child a stack check could call into the runtime,
// whose locks another thread of the parent may have held at the fork.
//
//go:nosplit
//go:norace
func runSteps(p *cprog, res *[maxSteps]cresult) {
	n := int(p.n)
	if n > maxSteps {
		n = maxSteps
	}
	for i := 0; i < n; i++ {
		s := &p.steps[i]
		skip := false
		for k := 0; k < 2; k++ {
			if d := s.dep[k]; d >= 0 && d < maxSteps && (res[d].state != resDone || res[d].errno != 0) {
				skip = true
			}
		}
		if skip {
			res[i].state = resSkipped
			continue
		}
		var a [6]uintptr
		for j := 0; j < 6; j++ {
			a[j] = s.args[j]
			if k := s.subst[j]; k >= 0 && k < maxSteps {
				a[j] = res[k].ret
			}
		}
		res[i].state = resInProgress
		r, _, e := syscall.RawSyscall6(s.nr, a[0], a[1], a[2], a[3], a[4], a[5])
		for k := int32(1); k < s.repeat && e == 0; k++ {
			r, _, e = syscall.RawSyscall6(s.nr, a[0], a[1], a[2], a[3], a[4], a[5])
		}
		res[i].ret = r
		res[i].errno = uintptr(e)
		res[i].state = resDone
	}
}

// childMain is the raw fork child: the program, then exit_group(0).
//
//go:nosplit
//go:norace
func childMain(p *cprog, res *[maxSteps]cresult) {
	runSteps(p, res)
	syscall.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
}

// progBuilder builds a child program and what the parent expects of each
// step.
type progBuilder struct {
	p         cprog
	names     [maxSteps]string
	allowed   [maxSteps]errset
	mayNotRun [maxSteps]bool // the child may be killed before this step ends
}

func newProg() *progBuilder {
	b := &progBuilder{}
	for i := range b.p.steps {
		b.p.steps[i].dep = [2]int32{-1, -1}
		for j := range b.p.steps[i].subst {
			b.p.steps[i].subst[j] = -1
		}
	}
	return b
}

// step adds a system call and the results allowed for it; it returns the
// step's index.
func (b *progBuilder) step(name string, allowed errset, nr uintptr, args ...uintptr) int {
	i := int(b.p.n)
	if i >= maxSteps {
		panic("stress: child program too long")
	}
	b.p.n++
	s := &b.p.steps[i]
	s.nr = nr
	copy(s.args[:], args)
	b.names[i] = name
	b.allowed[i] = allowed
	return i
}

// repeat makes step i's call up to n times, until one fails.
func (b *progBuilder) repeat(i, n int) *progBuilder {
	b.p.steps[i].repeat = int32(n)
	return b
}

// from makes argument arg of step i the return value of step src.
func (b *progBuilder) from(i, arg, src int) *progBuilder {
	b.p.steps[i].subst[arg] = int32(src)
	return b
}

// after makes step i run only if step dep succeeded (two such steps at
// most).
func (b *progBuilder) after(i, dep int) *progBuilder {
	d := &b.p.steps[i].dep
	switch {
	case d[0] < 0 || d[0] == int32(dep):
		d[0] = int32(dep)
	case d[1] < 0 || d[1] == int32(dep):
		d[1] = int32(dep)
	default:
		panic("stress: a child step with more than two dependencies")
	}
	return b
}

// Steps the programs share.

// blockSignals blocks every signal in the child first, so that no Go
// signal handler runs there (a SIGCHLD from a child it starts).
func (b *progBuilder) blockSignals(m *mem) {
	set := m.alloc(8)
	for i := range set {
		set[i] = 0xff
	}
	b.step("sigprocmask", okOnly, unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK, addr(set), 0, 8)
}

func (b *progBuilder) open(name string, allowed errset) int {
	return b.step(name, allowed, unix.SYS_PIDFD_OPEN, 0, pidfd.PIDFD_EMPTY)
}

// config adds pidfd_config on the fd that step fdStep returned (or on fd,
// if fdStep < 0).
func (b *progBuilder) config(name string, allowed errset, fdStep, fd, cmd int, arg uintptr, size int) int {
	i := b.step(name, allowed, pidfd.SYS_PIDFD_CONFIG, uintptr(fd), uintptr(cmd), arg, uintptr(size))
	if fdStep >= 0 {
		b.from(i, 0, fdStep).after(i, fdStep)
	}
	return i
}

func (b *progBuilder) run(name string, allowed errset, fdStep, fd int) int {
	i := b.step(name, allowed, pidfd.SYS_PIDFD_SPAWN_RUN, uintptr(fd), 0)
	if fdStep >= 0 {
		b.from(i, 0, fdStep).after(i, fdStep)
	}
	return i
}

// reap adds waitid(P_PIDFD, fd of fdStep, WEXITED) after a successful run.
func (b *progBuilder) reap(name string, m *mem, fdStep, runStep int) int {
	si := m.alloc(128)
	i := b.step(name, okOnly, unix.SYS_WAITID, unix.P_PIDFD, 0, addr(si), unix.WEXITED, 0)
	b.from(i, 1, fdStep).after(i, runStep)
	return i
}

// forkResult is how a child program went.
type forkResult struct {
	exit pidfd.Exit
	res  [maxSteps]cresult
	hung bool // it did not exit within forkTimeout and was killed
}

// forkTimeout bounds a child's run (TCG, a debug kernel).
const forkTimeout = 60 * time.Second

// sharedResults is the layout of a thread's shared page: the results, and
// where clone(CLONE_PIDFD) puts the child's pidfd.
type sharedResults struct {
	res   [maxSteps]cresult
	pidfd int32
}

// forkRun runs b's program in a raw fork child (clone with flags, plus
// CLONE_PIDFD and SIGCHLD) and waits for it. during, if set, runs in the
// parent after the fork, before the wait (the cgroup scenarios); the
// child's pid is passed to it.
func (th *thread) forkRun(b *progBuilder, flags uintptr, during func(pid int) error) (forkResult, error) {
	var fr forkResult
	sh := (*sharedResults)(unsafe.Pointer(&th.shared[0]))
	*sh = sharedResults{pidfd: -1}
	pid, _, errno := syscall.RawSyscall6(unix.SYS_CLONE, flags|unix.CLONE_PIDFD|uintptr(unix.SIGCHLD), 0,
		uintptr(unsafe.Pointer(&sh.pidfd)), 0, 0, 0)
	if errno != 0 {
		return fr, fmt.Errorf("clone(%#x): %w", flags, errno)
	}
	if pid == 0 {
		childMain(&b.p, &sh.res)
	}
	pfd := int(sh.pidfd)
	defer unix.Close(pfd)
	var derr error
	if during != nil {
		derr = during(int(pid))
	}
	ev, err := embryo.PollIn(pfd, forkTimeout)
	if err != nil || ev == 0 {
		fr.hung = true
		unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
	}
	for {
		fr.exit, err = pidfd.Waitid(unix.P_PIDFD, pfd, unix.WEXITED)
		if err != unix.EINTR {
			break
		}
	}
	fr.res = sh.res
	if err != nil {
		return fr, fmt.Errorf("waitid for the fork child %d: %w", pid, err)
	}
	return fr, derr
}

// checkProg checks each step's result against b and counts it under
// "fork.<scn>/<step>". killed says the child may have died before its
// mayNotRun steps. It returns false on a failure (recorded).
func (th *thread) checkProg(scn string, b *progBuilder, fr forkResult, wantExit func(pidfd.Exit) bool) bool {
	ok := true
	for i := 0; i < int(b.p.n); i++ {
		key := "fork." + scn + "/" + b.names[i]
		r := fr.res[i]
		switch r.state {
		case resDone:
			e := unix.Errno(r.errno)
			th.ctr.add(key, e)
			if !b.allowed[i].has(e) {
				th.fail(key, fmt.Sprintf("step %d %s of the %s child: got %s, want %v\n%s",
					i, b.names[i], scn, errnoName(e), b.allowed[i], b.dump(fr)))
				ok = false
			}
		case resSkipped:
			th.ctr.addResult(key, "skipped")
		default:
			th.ctr.addResult(key, "not-completed")
			if !b.mayNotRun[i] {
				th.fail(key, fmt.Sprintf("step %d %s of the %s child did not complete (child %v)\n%s",
					i, b.names[i], scn, fr.exit, b.dump(fr)))
				ok = false
			}
		}
	}
	if fr.hung {
		th.fail("fork."+scn, fmt.Sprintf("the %s child did not exit within %v: killed\n%s", scn, forkTimeout, b.dump(fr)))
		return false
	}
	if !wantExit(fr.exit) {
		th.fail("fork."+scn, fmt.Sprintf("the %s child ended %v\n%s", scn, fr.exit, b.dump(fr)))
		return false
	}
	return ok
}

// dump renders the program and its results for a failure message.
func (b *progBuilder) dump(fr forkResult) string {
	var s strings.Builder
	for i := 0; i < int(b.p.n); i++ {
		r := fr.res[i]
		st := [...]string{"not reached", "done", "skipped", "in progress"}[min(r.state, 3)]
		fmt.Fprintf(&s, "  %2d %-24s nr %3d dep %v: %s", i, b.names[i], b.p.steps[i].nr, b.p.steps[i].dep, st)
		if r.state == resDone {
			fmt.Fprintf(&s, " ret %d %s (allowed %v)", int(r.ret), errnoName(unix.Errno(r.errno)), b.allowed[i])
		}
		s.WriteByte('\n')
	}
	return s.String()
}

func exited0(e pidfd.Exit) bool { return e.Exited(0) }
