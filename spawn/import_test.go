package spawn_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

func init() {
	registerHelperCommand("underfilter", cmdUnderFilter)
	registerHelperCommand("startone", cmdStartOne)
}

// noProcessFilter is a seccomp filter that kills the process at any
// attempt to create another one: fork, vfork, clone without CLONE_THREAD,
// and pidfd_open with PIDFD_EMPTY (an embryo is a process too). clone3,
// whose flags a filter cannot read, fails with ENOSYS, which makes glibc
// (the test binary may use cgo) and Go fall back to clone. Threads are
// allowed.
func noProcessFilter() []unix.SockFilter {
	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
		arg0 = 16 // offsetof(struct seccomp_data, args[0]), low half on little-endian
		arg1 = 24
	)
	return []unix.SockFilter{
		/* 0 */ {Code: ld, K: 4}, // arch
		/* 1 */ {Code: jeq, K: unix.AUDIT_ARCH_X86_64, Jt: 0, Jf: 10},
		/* 2 */ {Code: ld, K: 0}, // nr
		/* 3 */ {Code: jeq, K: unix.SYS_FORK, Jt: 9, Jf: 0},
		/* 4 */ {Code: jeq, K: unix.SYS_VFORK, Jt: 8, Jf: 0},
		/* 5 */ {Code: jeq, K: unix.SYS_CLONE3, Jt: 8, Jf: 0},
		/* 6 */ {Code: jeq, K: unix.SYS_CLONE, Jt: 0, Jf: 2},
		/* 7 */ {Code: ld, K: arg0},
		/* 8 */ {Code: jset, K: unix.CLONE_THREAD, Jt: 3, Jf: 4},
		/* 9 */ {Code: jeq, K: unix.SYS_PIDFD_OPEN, Jt: 0, Jf: 2},
		/* 10 */ {Code: ld, K: arg1},
		/* 11 */ {Code: jset, K: pidfd.PIDFD_EMPTY, Jt: 1, Jf: 0},
		/* 12 */ {Code: ret, K: unix.SECCOMP_RET_ALLOW},
		/* 13 */ {Code: ret, K: unix.SECCOMP_RET_KILL_PROCESS},
		/* 14 */ {Code: ret, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	}
}

// cmdUnderFilter runs the test binary again, with the rest of its
// arguments, under noProcessFilter: every package's initialization, and
// the helper command, run under it.
func cmdUnderFilter(args ...string) {
	runtime.LockOSThread() // the filter is this thread's, and exec keeps it
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "PR_SET_NO_NEW_PRIVS:", err)
		os.Exit(3)
	}
	filter := noProcessFilter()
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); e != 0 {
		fmt.Fprintln(os.Stderr, "seccomp:", e)
		os.Exit(3)
	}
	runtime.KeepAlive(filter)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	err = unix.Exec(exe, append([]string{exe}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, "exec:", err)
	os.Exit(3)
}

// cmdStartOne starts a child with spawn: the control, which the filter
// must kill.
func cmdStartOne(...string) {
	exe, _ := os.Executable()
	err := spawn.Command(exe, "echo", "started").Run()
	fmt.Println("startone:", err)
}

// TestImportStartsNoProcess: a program that imports spawn starts no
// process until it starts one: the test binary, which imports it, runs its
// initialization and a command under a filter that kills it at the first
// process it creates. The control shows that the filter does kill at a
// Start.
func TestImportStartsNoProcess(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		maySkipHelperCommand("underfilter")
		maySkipHelperCommand("startone")
		t.Skipf("the filter is written for x86-64 system call numbers, not %s", runtime.GOARCH)
	}
	exe := testenv.Executable(t)
	for _, tc := range []struct {
		name   string
		args   []string
		killed bool
	}{
		{"import, then echo", []string{"echo", "ok"}, false},
		{"control: a Start", []string{"startone"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			helperCommandUsed.Store("underfilter", true)
			helperCommandUsed.Store(tc.args[0], true)
			out, err := exec.Command(exe, append([]string{"underfilter"}, tc.args...)...).CombinedOutput()
			var ee *exec.ExitError
			gotKilled := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() &&
				ee.Sys().(syscall.WaitStatus).Signal() == unix.SIGSYS
			if gotKilled != tc.killed || (!tc.killed && err != nil) {
				t.Fatalf("%v: %v, output %q; want killed by SIGSYS: %v", tc.args, err, out, tc.killed)
			}
			if !tc.killed && string(out) != "ok\n" {
				t.Errorf("output %q, want %q", out, "ok\n")
			}
		})
	}
}
