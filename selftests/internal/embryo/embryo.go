// Package embryo holds what the empty-pidfd selftests share: creating
// embryos and checking that the kernel has them, running childreport in
// one and collecting its report, re-executing the test binary as a helper
// process (another process, another user, a sandbox), raw memory for
// hand-built argument structs, and the pids cgroup.
package embryo

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
// has empty pidfds: if it has not, t fails when the harness built a kernel
// whose headers define PIDFD_EMPTY, and skips (saying why) when it did not.
func Require(t testing.TB) {
	t.Helper()
	guest.Require(t)
	probeOnce.Do(func() { probeErr = pidfd.Probe() })
	if probeErr == nil {
		return
	}
	want := guest.Expect(t, "PIDFD_EMPTY")
	if errors.Is(probeErr, pidfd.ErrNotSupported) && want == "absent" {
		t.Skipf("the booted kernel has no PIDFD_EMPTY and its headers do not define it (harness: PIDFD_EMPTY=absent): nothing to test")
	}
	t.Fatalf("PIDFD_EMPTY probe: %v (harness: PIDFD_EMPTY=%s)", probeErr, want)
}

// NewUnmanaged creates an embryo, pidfd_open(0, PIDFD_EMPTY|flags), and
// leaves closing it to the caller.
func NewUnmanaged(t testing.TB, flags uint) int {
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

// Fdinfo returns the lines of /proc/self/fdinfo/fd as a map.
func Fdinfo(t testing.TB, fd int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatalf("reading fdinfo of fd %d: %v", fd, err)
	}
	return ParseFdinfo(string(b))
}

// ParseFdinfo splits "Key:\tvalue" lines.
func ParseFdinfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// IsEmbryo says whether fdinfo of fd has the line "Embryo:\t1".
func IsEmbryo(t testing.TB, fd int) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatalf("reading fdinfo of fd %d: %v", fd, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "Embryo:\t1" {
			return true
		}
	}
	return false
}
