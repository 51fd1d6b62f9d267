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
// therefore issue them only after Probe has found empty pidfds, and return
// ErrNotSupported otherwise: on a stock kernel they never reach it.
package pidfd

import (
	"errors"
	"fmt"
	"sync"

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
// kernels without empty pidfds. It matches unix.ENOSYS with errors.Is.
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
}

// Probe reports whether the running kernel supports empty pidfds: nil if it
// does, ErrNotSupported if pidfd_open rejects PIDFD_EMPTY with EINVAL, and
// any other error (EMFILE, EAGAIN, ...) as it came. The first definite
// answer is cached: later calls cost a mutex. A probe creates an embryo
// and destroys it at once.
func Probe() error {
	probe.Lock()
	defer probe.Unlock()
	if probe.done {
		return probe.err
	}
	fd, err := Open(0, PIDFD_EMPTY)
	switch {
	case err == nil:
		unix.Close(fd)
	case errors.Is(err, unix.EINVAL):
		probe.done, probe.err = true, ErrNotSupported
		return probe.err
	default:
		return fmt.Errorf("pidfd: probing PIDFD_EMPTY: %w", err)
	}
	probe.done = true
	return nil
}
