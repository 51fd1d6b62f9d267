package lifecycle

// Every user-sized copy is bounded (series v2, A9 and A10): an open_how of
// at most a page, as openat2 takes it, and argv and envp held to exec's
// limit when they are configured.

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/arena"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// openat2Raw is openat2(AT_FDCWD, path, how, size) with any size.
func openat2Raw(path uint64, how []byte, size int) (int, error) {
	dirfd := unix.AT_FDCWD
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT2, uintptr(dirfd), uintptr(path), uintptr(unsafe.Pointer(&how[0])), uintptr(size), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// TestFDOpenHowSizeBounded (series v2, A9): PIDFD_FD_OPEN takes an open_how
// of at most a page, as openat2 does (E2BIG above), so no caller makes the
// kernel scan an unbounded user buffer for non-zero bytes. v1 accepts any
// size whose tail is zero.
func TestFDOpenHowSizeBounded(t *testing.T) {
	embryo.Require(t)
	page := unix.Getpagesize()
	a := arena.New(t, 1<<16)
	path := a.CStringAddr(os.DevNull)
	fd := embryo.New(t)
	for _, tc := range []struct {
		name string
		size int
		want unix.Errno
	}{
		{"how_size = sizeof(struct open_how)", unix.SizeofOpenHow, 0},
		{"how_size = PAGE_SIZE, zeros after the struct", page, 0},
		{"how_size = PAGE_SIZE + 1, zeros after the struct", page + 1, unix.E2BIG},
		{"how_size = 2 * PAGE_SIZE, zeros after the struct", 2 * page, unix.E2BIG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			how := arena.Place(a, unix.OpenHow{Flags: unix.O_RDONLY}, tc.size)
			ref, err := openat2Raw(path, how, tc.size)
			if err == nil {
				unix.Close(ref)
			}
			if embryo.Errno(err) != tc.want {
				t.Fatalf("openat2 itself with how_size %d: %s, want %s: the comparison is void", tc.size, embryo.Name(err), embryo.ErrnoName(tc.want))
			}
			arg := arena.Place(a, pidfd.FDArg{
				Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: 3,
				Path: path, How: arena.Addr(how), HowSize: uint64(tc.size),
			}, 0)
			err = pidfd.Config(fd, pidfd.PIDFD_CONFIG_FD, arena.Ptr(arg), pidfd.PIDFD_FD_SIZE_VER0)
			embryo.Check(t, "PIDFD_FD_OPEN with "+tc.name, err, tc.want)
			want := unix.Errno(0) // the opened fd is there
			if tc.want != 0 {
				want = unix.EBADF // a failed OPEN installs nothing
			}
			embryo.Check(t, "CLOSE of fd 3 after the OPEN", pidfd.ConfigFDClose(fd, 3), want)
		})
	}
}

// KiB-sized strings for the argv/envp rows.
const kib = 1024

// argvLimitsResult holds pidfd_config's and the run's answers by errno
// name, by row.
type argvLimitsResult struct {
	StackBig, StackSmall uint64 // RLIMIT_STACK at the embryos' creation

	BigArgv300 string // ARGV of 300 KiB, embryo created under StackBig

	Argv300 string // the rows below: embryos created under StackSmall

	Argv200, Envp100 string
	Run200, Exit200  string
	Exited200        bool

	Argv200b, Envp20 string
	Run220, Exit220  string
	Exited220        bool

	ArgvTiny, EnvpTiny string // 40000 strings of one byte
}

// runToExit starts a configured embryo and waits for its exit.
func runToExit(fd int) (run, exit string, exited0 bool) {
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return name(err), "", false
	}
	ex, err := embryo.WaitExit(fd, embryo.Timeout)
	if err != nil {
		return "success", err.Error(), false
	}
	return "success", ex.String(), ex.Exited(0)
}

// helperArgvLimits creates embryos under an RLIMIT_STACK of 8 MiB and of
// 1 MiB and sets argv and envp vectors around exec's limit for them: a
// quarter of RLIMIT_STACK (256 KiB at 1 MiB) for argv and envp strings
// and pointers together.
func helperArgvLimits(json.RawMessage) (any, error) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &old); err != nil {
		return nil, fmt.Errorf("getrlimit: %v", err)
	}
	setStack := func(cur uint64) error {
		rl := unix.Rlimit{Cur: cur, Max: old.Max}
		if rl.Max != unix.RLIM_INFINITY && rl.Max < cur {
			rl.Max = cur
		}
		if err := unix.Setrlimit(unix.RLIMIT_STACK, &rl); err != nil {
			return fmt.Errorf("setrlimit(RLIMIT_STACK, %d): %v", cur, err)
		}
		return nil
	}
	open := func() (int, error) {
		fd, err := openEmbryo()
		if err != nil {
			return -1, err
		}
		if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("EXEC: %s", name(err))
		}
		return fd, nil
	}
	s100 := strings.Repeat("a", 100*kib)
	argv300 := []string{"true-static", s100, s100, s100}
	argv200 := []string{"true-static", s100, s100}
	envp100 := []string{"K=" + s100[2:]}
	envp20 := []string{"K=" + strings.Repeat("e", 20*kib-2)}
	tiny := make([]string, 40000)
	for i := range tiny {
		tiny[i] = "a"
	}

	var res argvLimitsResult
	res.StackBig, res.StackSmall = 8<<20, 1<<20
	if err := setStack(res.StackBig); err != nil {
		return nil, err
	}
	big, err := open()
	if err != nil {
		return nil, err
	}
	defer unix.Close(big)
	if err := setStack(res.StackSmall); err != nil {
		return nil, err
	}
	res.BigArgv300 = name(pidfd.ConfigArgv(big, argv300))

	fds := make([]int, 4)
	for i := range fds {
		if fds[i], err = open(); err != nil {
			return nil, err
		}
		defer unix.Close(fds[i])
	}
	res.Argv300 = name(pidfd.ConfigArgv(fds[0], argv300))

	res.Argv200 = name(pidfd.ConfigArgv(fds[1], argv200))
	res.Envp100 = name(pidfd.ConfigEnvp(fds[1], envp100))
	res.Run200, res.Exit200, res.Exited200 = runToExit(fds[1])

	res.Argv200b = name(pidfd.ConfigArgv(fds[2], argv200))
	res.Envp20 = name(pidfd.ConfigEnvp(fds[2], envp20))
	res.Run220, res.Exit220, res.Exited220 = runToExit(fds[2])

	res.ArgvTiny = name(pidfd.ConfigArgv(fds[3], tiny))
	res.EnvpTiny = name(pidfd.ConfigEnvp(fds[3], tiny))
	return res, nil
}

// TestArgvEnvpLimitsAsExec (series v2, A10): ARGV and ENVP are held to
// exec's limit when they are configured: argv and envp strings and their
// pointers together against a quarter of the embryo's RLIMIT_STACK (at
// least ARG_MAX, at most 6 MiB), so what config accepts exec also accepts.
// v1 allowed 6 MiB of strings per vector whatever the stack limit, without
// counting pointers.
func TestArgvEnvpLimitsAsExec(t *testing.T) {
	embryo.Require(t)
	var res argvLimitsResult
	helper.New(t, "argvlimits", nil).Result(&res)
	t.Logf("%+v", res)
	for _, c := range []struct{ what, got, want string }{
		{"ARGV of 300 KiB, embryo created under RLIMIT_STACK 8 MiB (limit 2 MiB)", res.BigArgv300, "success"},
		{"ARGV of 300 KiB under RLIMIT_STACK 1 MiB (limit 256 KiB)", res.Argv300, "E2BIG"},
		{"ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Argv200, "success"},
		{"ENVP of 100 KiB after ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Envp100, "E2BIG"},
		{"run with ARGV of 200 KiB after the rejected ENVP", res.Run200, "success"},
		{"ARGV of 200 KiB (second embryo)", res.Argv200b, "success"},
		{"ENVP of 20 KiB after ARGV of 200 KiB under RLIMIT_STACK 1 MiB", res.Envp20, "success"},
		{"run with ARGV of 200 KiB and ENVP of 20 KiB", res.Run220, "success"},
		{"ARGV of 40000 one-byte strings (80 KB of strings, 400 KB with pointers)", res.ArgvTiny, "E2BIG"},
		{"ENVP of 40000 one-byte strings", res.EnvpTiny, "E2BIG"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	if res.Run200 == "success" && !res.Exited200 {
		t.Errorf("child with ARGV of 200 KiB: %s, want exit 0", res.Exit200)
	}
	if res.Run220 == "success" && !res.Exited220 {
		t.Errorf("child with ARGV of 200 KiB and ENVP of 20 KiB: %s, want exit 0", res.Exit220)
	}
}
