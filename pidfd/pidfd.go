// Package pidfd holds the raw system call interface of empty pidfds, in the
// style of golang.org/x/sys/unix: constants from the uapi headers and thin
// wrappers named after the system calls, with errors as unix.Errno and no
// hidden retries. Most programs want package spawn instead.
package pidfd

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Open is pidfd_open(2).
func Open(pid int, flags uint) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_PIDFD_OPEN, uintptr(pid), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// ErrNotSupported is returned by Probe on kernels without empty pidfds.
var ErrNotSupported = errors.New("pidfd: empty pidfds (PIDFD_EMPTY) not supported by this kernel")

// Probe reports whether the running kernel supports empty pidfds: nil if it
// does, ErrNotSupported if pidfd_open rejects PIDFD_EMPTY with EINVAL, and
// any other error as it came. It creates an embryo and destroys it at once.
func Probe() error {
	fd, err := Open(0, PIDFD_EMPTY)
	switch {
	case err == nil:
		return unix.Close(fd)
	case errors.Is(err, unix.EINVAL):
		return ErrNotSupported
	default:
		return fmt.Errorf("pidfd: probing PIDFD_EMPTY: %w", err)
	}
}
