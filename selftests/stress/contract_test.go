package stress

// The contract: which errnos each op may end with, by the state of its
// target. The sets come from DESIGN.md section 3 and, where DESIGN.md is
// silent (the order of the checks, the errnos of the argument checks),
// from the series' kernel/pidfd_embryo.c and the system calls it reuses
// (openat2, execveat, dup2, close_range, waitid). Each rule says which.

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// errset is a set of errnos; 0 stands for success.
type errset [4]uint64

func errs(es ...unix.Errno) errset {
	var s errset
	for _, e := range es {
		if e < 256 {
			s[e/64] |= 1 << (e % 64)
		}
	}
	return s
}

func (s errset) has(e unix.Errno) bool {
	return e < 256 && s[e/64]&(1<<(e%64)) != 0
}

func (s errset) union(o errset) errset {
	for i := range s {
		s[i] |= o[i]
	}
	return s
}

func (s errset) String() string {
	var names []string
	for e := unix.Errno(0); e < 256; e++ {
		if s.has(e) {
			names = append(names, errnoName(e))
		}
	}
	return "{" + strings.Join(names, ", ") + "}"
}

// errnoName names an errno for logs and counters: "ok" for success.
func errnoName(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno%d", int(e))
}

var (
	okOnly = errs(0)

	// cleanFault: what a call may fail with when the kernel's fault
	// injection fails an allocation or a user copy under it (beside
	// succeeding, if it can do without what failed). Anything else is
	// an unclean errno: an allocation failure turned into EINVAL,
	// ESRCH, EBUSY... (faults_test.go).
	cleanFault = errs(unix.ENOMEM, unix.EFAULT, unix.EAGAIN, unix.EINTR)

	// openSet: pidfd_open(0, PIDFD_EMPTY) counts against RLIMIT_NPROC,
	// pid_max and the pids cgroup: EAGAIN (DESIGN.md section 3,
	// Lifecycle). The workers set no pids.max, so EAGAIN is not expected,
	// but it is the contract's answer and stays allowed.
	openSet = errs(0, unix.EAGAIN)
)

// embState is what the model knows of an embryo: unstarted, started (an
// ordinary child, maybe exited), or started and reaped.
type embState int

const (
	stNew embState = iota
	stStarted
	stReaped
)

func (s embState) String() string {
	return [...]string{"unstarted", "started", "reaped"}[s]
}

// tgtKind is what an op's pidfd argument is.
type tgtKind int

const (
	tgtSlot     tgtKind = iota // one of the thread's own embryo fds (the creator's file)
	tgtClosed                  // a descriptor that is not open
	tgtNotPidfd                // /dev/null, a pipe, a FIFO, a directory
	tgtPlain                   // pidfd_open(getpid(), 0): a process that was never an embryo
	tgtReopened                // pidfd_open(pid, 0) of a started embryo: a second file on its pid
)

func (k tgtKind) String() string {
	return [...]string{"slot", "closed-fd", "not-a-pidfd", "plain-pidfd", "reopened-pidfd"}[k]
}

// configRule is the set pidfd_config may answer on a target in state st
// (for tgtSlot and tgtReopened), given pre, the errno the command, size
// and address checks give before the embryo is looked at (0 if they
// pass), and cmdSet, what the command may end with on an unstarted
// embryo of ours.
//
// The order is pidfd_config()'s in kernel/pidfd_embryo.c: the fd (EBADF),
// a pidfd (EBADF otherwise), an embryo's (EINVAL otherwise: DESIGN.md
// "on a plain pidfd ... EINVAL"), the caller's authority (EPERM: only the
// creator, DESIGN.md), the command (EINVAL), the size (EINVAL below the
// first version, E2BIG above a page), the copy (EFAULT, E2BIG for a
// non-zero tail), then the state: EBUSY once started (DESIGN.md: "Run on
// an already started pidfd: EBUSY"; pidfd_embryo_pin() answers config
// calls the same), ESRCH once destroyed.
//
// A reopened pidfd of a started embryo is a second file on a pid that
// still carries the embryo state: the kernel treats it as the embryo's
// (EBUSY). DESIGN.md's EINVAL row is about pidfds of processes that never
// were embryos; both are allowed for it (an assumption, see the report).
func configRule(k tgtKind, st embState, pre unix.Errno, cmdSet errset) errset {
	switch k {
	case tgtClosed, tgtNotPidfd:
		return errs(unix.EBADF)
	case tgtPlain:
		return errs(unix.EINVAL)
	case tgtReopened:
		if pre != 0 {
			return errs(pre, unix.EINVAL)
		}
		return errs(unix.EBUSY, unix.EINVAL)
	}
	if pre != 0 {
		return errs(pre)
	}
	if st != stNew {
		return errs(unix.EBUSY)
	}
	return cmdSet
}

// runRule is the set pidfd_spawn_run(fd, flags) may answer. Its order
// (kernel/pidfd_embryo.c): the fd (EBADF), an embryo's pidfd (EINVAL),
// authority (EPERM), flags (EINVAL), the state (EBUSY once started), an
// EXEC configured (EINVAL), then the exec's own errno (DESIGN.md: "On
// failure it returns the exec's errno ... and the embryo stays unstarted
// and configurable").
func runRule(k tgtKind, st embState, flags bool, exec execKind, execSet errset) errset {
	switch k {
	case tgtClosed, tgtNotPidfd:
		return errs(unix.EBADF)
	case tgtPlain:
		return errs(unix.EINVAL)
	case tgtReopened:
		if flags {
			return errs(unix.EINVAL)
		}
		return errs(unix.EBUSY, unix.EINVAL)
	}
	switch {
	case flags:
		return errs(unix.EINVAL)
	case st != stNew:
		return errs(unix.EBUSY)
	case exec == kNone:
		return errs(unix.EINVAL)
	}
	return execSet
}

// hiddenRule: before start an embryo behaves as a process that does not
// exist yet: pidfd_send_signal, pidfd_getfd, setns, process_madvise and
// process_mrelease answer ESRCH (DESIGN.md section 3, "Must"). After
// start a signal or getfd reaches the child (or finds it gone, ESRCH,
// once reaped; getfd of a descriptor the child lacks is EBADF).
func signalRule(st embState) errset {
	switch st {
	case stNew:
		return errs(unix.ESRCH)
	case stStarted:
		return errs(0, unix.ESRCH)
	}
	return errs(unix.ESRCH)
}

func getfdRule(st embState) errset {
	if st == stStarted {
		return errs(0, unix.EBADF, unix.ESRCH)
	}
	return errs(unix.ESRCH)
}

// foreignRule is what a process other than the creator gets from config
// and run calls on the embryo's fd, whatever its state: EPERM (DESIGN.md:
// "a process that received the fd (SCM_RIGHTS, pidfd_getfd, or simply
// fork() of the creator ...) gets EPERM"). The creator's authority is
// checked before the state (pidfd_embryo_get()).
var foreignRule = errs(unix.EPERM)

// droppedRule is what the creator gets from config and run after it
// dropped privileges or entered a sandbox (setresuid, seccomp,
// no_new_privs, Landlock): EPERM (DESIGN.md, "Safety in every state:
// Authority").
var droppedRule = errs(unix.EPERM)
