package spawn_test

// Stand-ins for the standard library's internal test packages that the
// ported os/exec tests use (internal/testenv, internal/poll,
// os/exec/internal/fdtest), which only the standard library may import.

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

type testenvShim struct{}

var testenv testenvShim

// MustHaveExec: Linux can always exec.
func (testenvShim) MustHaveExec(testing.TB) {}

// MustHaveSymlink: Linux always has symlinks.
func (testenvShim) MustHaveSymlink(testing.TB) {}

// Executable is the running test binary.
func (testenvShim) Executable(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return exe
}

// SyscallIsNotSupported is internal/testenv's test for an error that says
// the system call (or the privilege it needs) is missing.
func (testenvShim) SyscallIsNotSupported(err error) bool {
	if err == nil {
		return false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.ENOSYS, syscall.ENOTSUP, syscall.EPERM, syscall.EROFS, syscall.EACCES:
			return true
		}
	}
	return errors.Is(err, errors.ErrUnsupported)
}

// SkipFlaky is only called on netbsd/arm64.
func (testenvShim) SkipFlaky(t testing.TB, issue int) {
	t.Skipf("skipping known flaky test (go.dev/issue/%d)", issue)
}

type fdtestShim struct{}

var fdtest fdtestShim

// Exists says whether fd is open.
func (fdtestShim) Exists(fd uintptr) bool {
	_, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
	return err == nil
}

type pollShim struct{}

var poll pollShim

// IsPollDescriptor says whether fd is the Go runtime's own: its network
// poller's epoll instance or the eventfd (or pipe) that wakes it, or (since
// Go 1.25) a cgroup CPU limit file it keeps open to update GOMAXPROCS.
// internal/poll knows the numbers; outside the standard library they are
// recognized by what they are.
func (pollShim) IsPollDescriptor(fd uintptr) bool {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return false
	}
	if strings.HasPrefix(link, "/sys/fs/cgroup/") {
		return true
	}
	return link == "anon_inode:[eventpoll]" || link == "anon_inode:[eventfd]" ||
		(strings.HasPrefix(link, "pipe:") && pollPipe(fd))
}

// pollPipe: the runtime's wake-up pipe is non-blocking and close-on-exec.
func pollPipe(fd uintptr) bool {
	fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err != nil || fl&unix.O_NONBLOCK == 0 {
		return false
	}
	fdfl, err := unix.FcntlInt(fd, unix.F_GETFD, 0)
	return err == nil && fdfl&unix.FD_CLOEXEC != 0
}

// kernelVersionGE is internal/syscall/unix.KernelVersionGE.
func kernelVersionGE(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
