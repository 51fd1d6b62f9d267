// Package baseline checks that the guest runs the kernel we built and that
// the pidfd interfaces the series builds on work there.
package baseline

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
)

// localVersion is CONFIG_LOCALVERSION in configs/vmtest.config.
const localVersion = "-emptypidfd"

func TestKernelIsOurs(t *testing.T) {
	guest.Require(t)
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	if !strings.HasSuffix(release, localVersion) {
		t.Fatalf("kernel release %q does not end in %q: the VM booted some other kernel", release, localVersion)
	}
	if want := guest.Expect(t, "RELEASE"); release != want {
		t.Errorf("kernel release %q, the harness built %q", release, want)
	}
}

// fdinfoPid returns the "Pid:" field of /proc/self/fdinfo/fd.
func fdinfoPid(t *testing.T, fd int) string {
	t.Helper()
	m, err := pidfd.Fdinfo(fd)
	if err != nil {
		t.Fatalf("reading fdinfo: %v", err)
	}
	pid, ok := m["Pid"]
	if !ok {
		t.Fatalf("fdinfo of fd %d has no Pid field: %v", fd, m)
	}
	return pid
}

func TestPidfdOpenSelf(t *testing.T) {
	guest.Require(t)
	fd, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open(getpid(), 0): %v", err)
	}
	defer unix.Close(fd)
	if got, want := fdinfoPid(t, fd), fmt.Sprint(os.Getpid()); got != want {
		t.Errorf("fdinfo Pid = %s, want %s", got, want)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("pidfd is not close-on-exec: flags %#x, err %v", flags, err)
	}
}

// cloneArgs is struct clone_args (CLONE_ARGS_SIZE_VER0).
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls uint64
}

// clonePidfd receives clone3's pidfd. The kernel writes it behind the Go
// compiler's back, so it lives where the runtime never moves it (a global)
// and is read atomically.
var clonePidfd int32

func TestClone3Pidfd(t *testing.T) {
	guest.Require(t)
	const exitCode = 42
	atomic.StoreInt32(&clonePidfd, -1)
	pfd := &clonePidfd
	args := cloneArgs{
		// The child runs Go code only long enough to exit; with its
		// handlers reset, no Go signal handler can run in it.
		flags:      unix.CLONE_PIDFD | unix.CLONE_CLEAR_SIGHAND,
		pidfd:      uint64(uintptr(unsafe.Pointer(pfd))),
		exitSignal: uint64(unix.SIGCHLD),
	}
	runtime.LockOSThread()
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	if pid == 0 && errno == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, exitCode, 0, 0)
	}
	runtime.UnlockOSThread()
	if errno != 0 {
		t.Fatalf("clone3(CLONE_PIDFD): %v", errno)
	}
	fd := int(atomic.LoadInt32(pfd))
	defer unix.Close(fd)
	if got := fdinfoPid(t, fd); got != fmt.Sprint(pid) {
		t.Errorf("fdinfo Pid = %s, clone3 returned %d", got, pid)
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil); err != nil {
		t.Fatalf("waitid(P_PIDFD): %v", err)
	}
	if info.Signo != int32(unix.SIGCHLD) {
		t.Errorf("waitid: si_signo = %d, want SIGCHLD", info.Signo)
	}
	if ex := pidfd.DecodeSiginfo(&info); !ex.Exited(exitCode) || ex.Pid != int(pid) {
		t.Errorf("waitid: %v, want pid %d exited %d", ex, pid, exitCode)
	}
}

func TestPidfdEmptyProbe(t *testing.T) {
	guest.Require(t)
	want := guest.Expect(t, "PIDFD_EMPTY")
	err := pidfd.Probe()
	switch want {
	case "absent":
		// The host refuses such a kernel unless the run opted in.
		if stock := guest.Expect(t, "ALLOW_STOCK_KERNEL"); stock != "1" {
			t.Errorf("harness: PIDFD_EMPTY=absent and ALLOW_STOCK_KERNEL=%s: a kernel without the series must fail the run", stock)
		}
		if !errors.Is(err, pidfd.ErrNotSupported) {
			t.Errorf("probe on a kernel without PIDFD_EMPTY in its headers: got %v, want %v", err, pidfd.ErrNotSupported)
		}
	case "present":
		if err != nil {
			t.Errorf("probe on a kernel with PIDFD_EMPTY in its headers: %v", err)
		}
	default:
		t.Fatalf("harness expectation PIDFD_EMPTY=%q, want present or absent", want)
	}
}
