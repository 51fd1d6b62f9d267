// Package pidfd holds the raw system call interface of empty pidfds, in the
// style of golang.org/x/sys/unix: constants from the uapi headers and thin
// wrappers named after the system calls, with errors as unix.Errno and no
// hidden retries. Most programs want package spawn instead.
//
// Every pidfd_config command has a wrapper named Config<Command>
// (ConfigExec, ConfigFDDup, ConfigSignals, ...); descriptors, flags and
// commands are ints, as in x/sys/unix.
//
// pidfd_config and pidfd_spawn_run use system call numbers (473 and 474)
// that a kernel without the series may give to other system calls, as
// mainline 7.3 gave the series' earlier numbers, 463 and 464, to
// setxattrat and getxattrat. Config, SpawnRun and the Config* wrappers
// therefore issue them only after Probe has found empty pidfds and
// confirmed both numbers, and return ErrNotSupported otherwise: on any
// other kernel they never reach it.
package pidfd

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Open is pidfd_open(2). Its number is mainline's: it is always safe to call.
func Open(pid, flags int) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_PIDFD_OPEN, uintptr(pid), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// ErrNotSupported is returned by Probe, and by every call of the series, on
// kernels without empty pidfds, or wrapped in an error that says why when
// the kernel has PIDFD_EMPTY but another version of the series. Test for it
// with errors.Is, which also matches unix.ENOSYS.
var ErrNotSupported error = notSupported{}

type notSupported struct{}

func (notSupported) Error() string {
	return "pidfd: empty pidfds (PIDFD_EMPTY) not supported by this kernel"
}

func (notSupported) Is(target error) bool { return target == unix.ENOSYS }

var probe struct {
	sync.Mutex
	done bool
	err  error
	cmds map[int]bool // of laterCommands, what the kernel knows
}

// laterCommands are the pidfd_config commands that came after the first
// ones (EXEC, ARGV, ENVP, FD, CWD, SIGNALS): a kernel of the series may
// lack them. The probe asks for each (see probeWith).
var laterCommands = []int{PIDFD_CONFIG_RLIMIT, PIDFD_CONFIG_UMASK, PIDFD_CONFIG_NO_NEW_PRIVS,
	PIDFD_CONFIG_UIDS, PIDFD_CONFIG_GIDS, PIDFD_CONFIG_GROUPS, PIDFD_CONFIG_ROOT, PIDFD_CONFIG_SETSID,
	PIDFD_CONFIG_PGID, PIDFD_CONFIG_PDEATHSIG, PIDFD_CONFIG_SCHED, PIDFD_CONFIG_CGROUP,
	PIDFD_CONFIG_CTTY, PIDFD_CONFIG_NOCTTY, PIDFD_CONFIG_FOREGROUND}

// noArgCommands take no argument: the probe makes them (arg NULL, size 0)
// on its embryo, which it destroys at once.
var noArgCommands = map[int]bool{PIDFD_CONFIG_NO_NEW_PRIVS: true, PIDFD_CONFIG_SETSID: true}

// HasCommand reports whether the running kernel has empty pidfds (Probe)
// and the pidfd_config command cmd.
func HasCommand(cmd int) bool {
	if Probe() != nil {
		return false
	}
	if cmd >= PIDFD_CONFIG_EXEC && cmd < PIDFD_CONFIG_RLIMIT {
		return true
	}
	probe.Lock()
	defer probe.Unlock()
	return probe.cmds[cmd]
}

// Probe reports whether the running kernel supports empty pidfds as this
// package calls them: nil if it does, ErrNotSupported if pidfd_open rejects
// PIDFD_EMPTY with EINVAL or the series' system call numbers turn out to be
// other calls, and any other error (EMFILE, EAGAIN, ...) as it came. The
// first definite answer is cached: once it is yes, later calls cost an
// atomic load (a no, a mutex). A probe
// creates an embryo and destroys it at once.
func Probe() error {
	// Every call of the package asks first: once the answer is yes, a
	// load says so.
	if probeOK.Load() {
		return nil
	}
	probe.Lock()
	defer probe.Unlock()
	if probe.done {
		return probe.err
	}
	done, cmds, err := probeWith(kernelCalls)
	probe.done, probe.err, probe.cmds = done, err, cmds
	probeOK.Store(done && err == nil)
	return err
}

// probeOK is set once a probe has found empty pidfds.
var probeOK atomic.Bool

// probeCalls are the system calls of a probe; the host tests replace them.
type probeCalls struct {
	open   func() (int, error)     // pidfd_open(0, PIDFD_EMPTY)
	config func(fd int) unix.Errno // pidfd_config(fd, EXEC, NULL, probeConfigSize)
	// command is pidfd_config(fd, cmd, NULL, probeConfigSize), or
	// size 0 for noArgCommands.
	command func(fd, cmd int) unix.Errno
	run     func(fd int) unix.Errno // pidfd_spawn_run(fd, probeRunFlags)
	close   func(fd int)
}

// A successful PIDFD_EMPTY shows that the kernel has some version of the
// series, not that its system calls have the numbers this package was
// built with: a 6.12 kernel of the series has them at 463 and 464, where
// 473 and 474 answer ENOSYS, and a later kernel may give 473 and 474 to
// other calls. So the probe calls each number once on the new embryo, in a
// way that pidfd_config and pidfd_spawn_run refuse before they look at or
// change anything, and requires their answer:
//
//   - pidfd_config(fd, PIDFD_CONFIG_EXEC, NULL, probeConfigSize): the
//     caller is the embryo's creator, the command is known, and an argument
//     struct larger than a page is E2BIG, checked before the struct is read
//     or the embryo locked. E2BIG rather than an unknown command's EINVAL,
//     which too many calls return to tell them apart.
//   - pidfd_spawn_run(fd, probeRunFlags): unknown flags are EINVAL, checked
//     before the embryo is locked or started.
//
// Then each of laterCommands the same way: E2BIG if the kernel knows it,
// EINVAL (an unknown command, checked before the size) if not. A command
// without an argument answers EINVAL to any size, so it is made instead
// (arg NULL, size 0) on the probe's embryo: known unless EINVAL, since the
// caller's seccomp filter judges it as the call it stands for (prctl(),
// setsid()) and may answer anything, and a kill verdict destroys the
// embryo (ESRCH for the commands after it).
//
// Any other answer, ENOSYS above all, means another version of the series
// and ErrNotSupported: this package never issues those numbers there. (A
// setuid(2) in another thread between the open and the confirmation would
// make pidfd_config answer EPERM and the probe say ErrNotSupported.)
const (
	probeConfigSize = 1 << 30
	probeRunFlags   = ^uint32(0)
)

var kernelCalls = probeCalls{
	open: func() (int, error) { return Open(0, PIDFD_EMPTY) },
	config: func(fd int) unix.Errno {
		_, _, errno := unix.Syscall6(SYS_PIDFD_CONFIG, uintptr(fd), PIDFD_CONFIG_EXEC, 0, probeConfigSize, 0, 0)
		return errno
	},
	command: func(fd, cmd int) unix.Errno {
		size := uintptr(probeConfigSize)
		if noArgCommands[cmd] {
			size = 0
		}
		_, _, errno := unix.Syscall6(SYS_PIDFD_CONFIG, uintptr(fd), uintptr(cmd), 0, size, 0, 0)
		return errno
	},
	run: func(fd int) unix.Errno {
		_, _, errno := unix.Syscall(SYS_PIDFD_SPAWN_RUN, uintptr(fd), uintptr(probeRunFlags), 0)
		return errno
	},
	close: func(fd int) { unix.Close(fd) },
}

// probeWith makes a probe with c. done says whether err is a definite
// answer, to be cached; cmds says which of laterCommands the kernel has.
func probeWith(c probeCalls) (done bool, cmds map[int]bool, err error) {
	fd, err := c.open()
	switch {
	case errors.Is(err, unix.EINVAL):
		return true, nil, ErrNotSupported
	case err != nil:
		return false, nil, fmt.Errorf("pidfd: probing PIDFD_EMPTY: %w", err)
	}
	defer c.close(fd)
	if errno := c.config(fd); errno != unix.E2BIG {
		return true, nil, notTheSeries("pidfd_config", SYS_PIDFD_CONFIG, errno, unix.E2BIG)
	}
	if errno := c.run(fd); errno != unix.EINVAL {
		return true, nil, notTheSeries("pidfd_spawn_run", SYS_PIDFD_SPAWN_RUN, errno, unix.EINVAL)
	}
	cmds = map[int]bool{}
	for _, cmd := range laterCommands {
		errno := c.command(fd, cmd)
		switch {
		case errno == unix.EINVAL:
		case noArgCommands[cmd], errno == unix.E2BIG:
			cmds[cmd] = true
		default:
			return true, nil, notTheSeries(fmt.Sprintf("pidfd_config (command %d)", cmd), SYS_PIDFD_CONFIG, errno, unix.E2BIG)
		}
	}
	return true, cmds, nil
}

func notTheSeries(name string, nr int, got, want unix.Errno) error {
	answer := "success"
	if got != 0 {
		answer = unix.ErrnoName(got)
		if answer == "" {
			answer = fmt.Sprintf("errno %d", int(got))
		}
	}
	return fmt.Errorf("%w: PIDFD_EMPTY works, but system call %d is not %s as this package knows it (%s, want %s): "+
		"the kernel has another version of the series", ErrNotSupported, nr, name, answer, unix.ErrnoName(want))
}
