// Package embryo holds the fixtures the empty-pidfd selftests share:
// creating embryos and checking that the kernel has them, running
// childreport in one and collecting its report, pipes, descriptor passing,
// and the pids cgroup with the embryo charge in it. The system calls,
// waitid decoding and fdinfo are package pidfd's; re-executing the test
// binary is package helper's, raw memory for hand-built structs package
// arena's, the cgroup v2 hierarchy package cgroup2's.
package embryo

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
)

var (
	probeOnce sync.Once
	probeErr  error
)

// Require skips t outside the test VM, and checks that the running kernel
// has empty pidfds. If it has not, t fails: the suite tests the series, and
// a kernel without it must not pass by skipping. The one exception is a
// stock-kernel comparison run (the harness says PIDFD_EMPTY=absent and
// ALLOW_STOCK_KERNEL=1, from EMPTYPIDFD_ALLOW_STOCK_KERNEL=1): t then skips,
// saying so.
func Require(t testing.TB) {
	t.Helper()
	guest.Require(t)
	probeOnce.Do(func() { probeErr = pidfd.Probe() })
	if probeErr == nil {
		return
	}
	empty := guest.Expect(t, "PIDFD_EMPTY")
	stock := guest.Expect(t, "ALLOW_STOCK_KERNEL")
	if skip, msg := verdict(probeErr, empty, stock); skip {
		t.Skip(msg)
	} else {
		t.Fatal(msg)
	}
}

// verdict decides what Require does when the probe failed with err, given
// what the harness said: empty (PIDFD_EMPTY: present or absent) and stock
// (ALLOW_STOCK_KERNEL: 1 or 0). It skips only a kernel that lacks the
// feature in a run that allowed a stock kernel.
func verdict(err error, empty, stock string) (skip bool, msg string) {
	missing := errors.Is(err, pidfd.ErrNotSupported)
	switch {
	case missing && empty == "absent" && stock == "1":
		return true, "STOCK KERNEL RUN (EMPTYPIDFD_ALLOW_STOCK_KERNEL=1): the booted kernel has no PIDFD_EMPTY: not tested"
	case missing && empty == "absent":
		return false, fmt.Sprintf("the booted kernel has no PIDFD_EMPTY and its headers do not define it: it was built without the empty pidfds series, "+
			"which the suite requires (harness: PIDFD_EMPTY=absent, ALLOW_STOCK_KERNEL=%s; EMPTYPIDFD_ALLOW_STOCK_KERNEL=1 runs on a stock kernel for comparison)", stock)
	case missing:
		return false, fmt.Sprintf("the booted kernel has no PIDFD_EMPTY, but the headers the harness built define it: the VM booted another kernel? (probe: %v)", err)
	}
	return false, fmt.Sprintf("PIDFD_EMPTY probe: %v (harness: PIDFD_EMPTY=%s)", err, empty)
}

// NewUnmanaged creates an embryo, pidfd_open(0, PIDFD_EMPTY|flags), and
// leaves closing it to the caller.
func NewUnmanaged(t testing.TB, flags int) int {
	t.Helper()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY|flags)
	if err != nil {
		t.Fatalf("pidfd_open(0, PIDFD_EMPTY|%#x): %v", flags, Name(err))
	}
	return fd
}

// New creates an embryo that is closed when t ends.
func New(t testing.TB) int {
	t.Helper()
	fd := NewUnmanaged(t, 0)
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// Name names an error for a test message: the errno's name, or "success".
func Name(err error) string {
	if err == nil {
		return "success"
	}
	var e unix.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
	}
	return err.Error()
}

// Errno returns err's errno, 0 for nil.
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.Errno(^uintptr(0) >> 1) // not an errno: matches nothing
}

// ErrnoName names an errno, "success" for 0.
func ErrnoName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// Check reports on t whether err is want (0: success) and returns whether
// it was.
func Check(t testing.TB, what string, err error, want unix.Errno) bool {
	t.Helper()
	if got := Errno(err); got != want {
		t.Errorf("%s: got %s, want %s", what, Name(err), ErrnoName(want))
		return false
	}
	return true
}

// Fdinfo returns the lines of /proc/self/fdinfo/fd as a map, failing t if
// it cannot be read.
func Fdinfo(t testing.TB, fd int) map[string]string {
	t.Helper()
	m, err := pidfd.Fdinfo(fd)
	if err != nil {
		t.Fatalf("reading fdinfo of fd %d: %v", fd, err)
	}
	return m
}

// IsEmbryo is pidfd.IsEmbryo, failing t if fdinfo cannot be read.
func IsEmbryo(t testing.TB, fd int) bool {
	t.Helper()
	e, err := pidfd.IsEmbryo(fd)
	if err != nil {
		t.Fatalf("reading fdinfo of fd %d: %v", fd, err)
	}
	return e
}
