// Package config checks what pidfd_config does to an embryo, as the
// started child sees it (through childreport): the pristine default state,
// each file descriptor action, the working directory, the signal state,
// argv/envp snapshots and limits, and how the program is resolved. Each
// bad action must fail its own call with its own errno and leave no trace
// in the child (DESIGN.md section 3, the series' include/uapi/linux/pidfd.h and Documentation/userspace-api/pidfd_empty.rst).
package config

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/arena"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// MAX_ARG_STRLEN counts the terminating NUL.
const maxArgStrlen = 32 * 4096

// reportEnv is the environment entry that sends the report to a file, so
// that the child needs no descriptor at all.
func reportEnv(t *testing.T) (env, path string) {
	path = filepath.Join(t.TempDir(), "report")
	return childreport.EnvOutFile + "=" + path, path
}

// runToFile starts the configured embryo (its program, argv and envp set,
// the envp including reportEnv's entry), waits for it and parses the
// report it wrote to path.
func runToFile(t *testing.T, fd int, path string) (*childreport.Report, pidfd.Exit) {
	t.Helper()
	pid := embryo.Run(t, fd)
	ex := embryo.Wait(t, fd)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("child %v wrote no report: %v", ex, err)
	}
	rep, err := childreport.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("child %v: %v\n%s", ex, err, b)
	}
	if rep.Pid != pid {
		t.Errorf("report from pid %d, started %d", rep.Pid, pid)
	}
	return rep, ex
}

// spawnToFile runs childreport with args in embryo fd (configured by the
// caller so far), reporting to a file; the child's environment is the
// report entry only.
func spawnToFile(t *testing.T, fd int, args ...string) *childreport.Report {
	t.Helper()
	env, path := reportEnv(t)
	embryo.ConfigProgram(t, fd, childreport.Path, append([]string{childreport.Path}, args...), []string{env})
	rep, ex := runToFile(t, fd, path)
	if !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	return rep
}

func hex(t *testing.T, rep *childreport.Report, name string) uint64 {
	t.Helper()
	v, err := rep.Hex(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// bit is the mask of sigs; they are the test's own constants, all in 1..64.
func bit(sigs ...unix.Signal) uint64 {
	m, err := pidfd.SigSet(sigs...)
	if err != nil {
		panic(err)
	}
	return m
}

// fixture is a directory tree for path-based actions:
// base/a/file1, base/b/file2, base/file.
type fixture struct {
	base, a, b, file1, file2, file string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	base := t.TempDir()
	f := fixture{base: base, a: filepath.Join(base, "a"), b: filepath.Join(base, "b")}
	f.file1, f.file2, f.file = filepath.Join(f.a, "file1"), filepath.Join(f.b, "file2"), filepath.Join(base, "file")
	for _, d := range []string{f.a, f.b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{f.file1, f.file2, f.file} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// open opens path in the caller (close-on-exec) for the test's duration.
func open(t *testing.T, path string, flags int) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %s", what, embryo.Name(err))
	}
}

// checkFDs compares the child's descriptors with want (fd -> target).
func checkFDs(t *testing.T, rep *childreport.Report, want map[int]string) {
	t.Helper()
	got := map[int]string{}
	for _, f := range rep.FDs {
		got[f.Num] = f.Target
		if f.Cloexec {
			t.Errorf("fd %d survived exec with FD_CLOEXEC set", f.Num)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("child's descriptors %v, want %v", got, want)
	}
}

func TestFDActions(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	devnull := open(t, os.DevNull, unix.O_RDONLY)
	file1 := open(t, fx.file1, unix.O_RDONLY)
	dirB := open(t, fx.b, unix.O_RDONLY|unix.O_DIRECTORY)
	ro := &unix.OpenHow{Flags: unix.O_RDONLY}

	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, fd int)
		want  map[int]string
		check func(t *testing.T, rep *childreport.Report)
	}{
		{"DUP clears FD_CLOEXEC", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 5, 0))
		}, map[int]string{5: os.DevNull}, nil},
		{"DUP with PIDFD_FD_CLOEXEC is closed at exec", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 5, 0))
			must(t, "DUP CLOEXEC", pidfd.ConfigFDDup(fd, devnull, 6, pidfd.PIDFD_FD_CLOEXEC))
		}, map[int]string{5: os.DevNull}, nil},
		{"DUP with PIDFD_FD_CLOEXEC installs the fd", func(t *testing.T, fd int) {
			must(t, "DUP CLOEXEC", pidfd.ConfigFDDup(fd, devnull, 6, pidfd.PIDFD_FD_CLOEXEC))
			must(t, "CLOSE of the fd DUP installed", pidfd.ConfigFDClose(fd, 6))
		}, map[int]string{}, nil},
		{"DUP to a high fd", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 900, 0))
		}, map[int]string{900: os.DevNull}, nil},
		{"DUP over an open fd replaces it", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 3, 0))
			must(t, "DUP", pidfd.ConfigFDDup(fd, file1, 3, 0))
		}, map[int]string{3: fx.file1}, nil},
		{"CLOSE", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 4, 0))
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 7, 0))
			must(t, "CLOSE", pidfd.ConfigFDClose(fd, 4))
			embryo.Check(t, "second CLOSE", pidfd.ConfigFDClose(fd, 4), unix.EBADF)
		}, map[int]string{7: os.DevNull}, nil},
		{"CLOSE_RANGE", func(t *testing.T, fd int) {
			for _, n := range []int{10, 11, 12, 20} {
				must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, n, 0))
			}
			must(t, "CLOSE_RANGE", pidfd.ConfigFDCloseRange(fd, 10, 12, 0))
			embryo.Check(t, "CLOSE of a fd CLOSE_RANGE closed", pidfd.ConfigFDClose(fd, 11), unix.EBADF)
		}, map[int]string{20: os.DevNull}, nil},
		{"CLOSE_RANGE_CLOEXEC marks, exec closes", func(t *testing.T, fd int) {
			for _, n := range []int{10, 11, 12, 13, 20} {
				must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, n, 0))
			}
			must(t, "CLOSE_RANGE(CLOSE_RANGE_CLOEXEC)", pidfd.ConfigFDCloseRange(fd, 10, 13, unix.CLOSE_RANGE_CLOEXEC))
			// Still open before exec:
			must(t, "CLOSE of a fd CLOSE_RANGE_CLOEXEC marked", pidfd.ConfigFDClose(fd, 10))
			// DUP over a marked fd clears the mark.
			must(t, "DUP over a marked fd", pidfd.ConfigFDDup(fd, file1, 12, 0))
		}, map[int]string{12: fx.file1, 20: os.DevNull}, nil},
		{"CLOSE_RANGE to ~0", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 3, 0))
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 50, 0))
			must(t, "CLOSE_RANGE", pidfd.ConfigFDCloseRange(fd, 4, math.MaxUint32, 0))
		}, map[int]string{3: os.DevNull}, nil},
		{"OPEN relative to AT_FDCWD after CWD", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.a, 0))
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, "file1", ro, 3))
		}, map[int]string{3: fx.file1}, nil},
		{"OPEN relative to the caller's dirfd", func(t *testing.T, fd int) {
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, dirB, "file2", ro, 4))
		}, map[int]string{4: fx.file2}, nil},
		{"OPEN with O_CLOEXEC", func(t *testing.T, fd int) {
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, dirB, "file2", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC}, 5))
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, dirB, "file2", ro, 6))
		}, map[int]string{6: fx.file2}, nil},
		{"OPEN O_WRONLY|O_APPEND", func(t *testing.T, fd int) {
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, fx.file, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_APPEND}, 8))
		}, map[int]string{8: fx.file}, func(t *testing.T, rep *childreport.Report) {
			f, _ := rep.FD(8)
			if f.Flags&unix.O_ACCMODE != unix.O_WRONLY || f.Flags&unix.O_APPEND == 0 {
				t.Errorf("fd 8 flags %#x, want O_WRONLY|O_APPEND", f.Flags)
			}
		}},
		{"OPEN over a DUP'd fd replaces it", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 3, 0))
			must(t, "OPEN", pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, fx.file2, ro, 3))
		}, map[int]string{3: fx.file2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			tc.setup(t, fd)
			rep := spawnToFile(t, fd)
			checkFDs(t, rep, tc.want)
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

// TestOpenCreatUmask: OPEN creates files with the embryo's umask (the
// caller's at creation), at once, not at run.
func TestOpenCreatUmask(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	dir := open(t, fx.base, unix.O_RDONLY|unix.O_DIRECTORY)
	old := unix.Umask(0o027)
	fd := embryo.New(t)
	unix.Umask(old)
	if old == 0o027 {
		t.Fatalf("the test process already has umask 027: the test cannot tell umasks apart")
	}
	how := &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, Mode: 0o666}
	must(t, "OPEN O_CREAT", pidfd.ConfigFDOpen(fd, dir, "new", how, 3))
	st, err := os.Stat(filepath.Join(fx.base, "new"))
	if err != nil {
		t.Fatalf("OPEN O_CREAT did not create the file at once: %v", err)
	}
	if got := st.Mode().Perm(); got != 0o640 {
		t.Errorf("created with mode %#o, want 0640 (0666 under the embryo's umask 027; the caller's is now %#o)", got, old)
	}
	rep := spawnToFile(t, fd)
	checkFDs(t, rep, map[int]string{3: filepath.Join(fx.base, "new")})
	if m, err := rep.Octal("Umask"); err != nil || m != 0o027 {
		t.Errorf("child's umask %#o (%v), want 027", m, err)
	}
}

// callerInheritable lists the caller's descriptors without FD_CLOEXEC.
func callerInheritable(t *testing.T) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd") // its own fd is close-on-exec
	if err != nil {
		t.Fatal(err)
	}
	m := map[int]string{}
	for _, e := range ents {
		var n int
		if _, err := fmt.Sscan(e.Name(), &n); err != nil {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0)
		if err != nil || fl&unix.FD_CLOEXEC != 0 {
			continue
		}
		target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = target
	}
	return m
}

func TestInherit(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	keep1 := open(t, os.DevNull, unix.O_RDONLY)
	keep2 := open(t, fx.file1, unix.O_RDONLY)
	drop := open(t, fx.file2, unix.O_RDONLY)
	for _, n := range []int{keep1, keep2} {
		if _, err := unix.FcntlInt(uintptr(n), unix.F_SETFD, 0); err != nil {
			t.Fatal(err)
		}
	}
	fd := embryo.New(t)
	must(t, "DUP", pidfd.ConfigFDDup(fd, drop, 777, 0)) // replaced by INHERIT
	want := callerInheritable(t)
	err := pidfd.ConfigFDInherit(fd)
	for _, n := range []int{keep1, keep2} {
		unix.FcntlInt(uintptr(n), unix.F_SETFD, unix.FD_CLOEXEC)
	}
	must(t, "INHERIT", err)
	if want[keep1] != os.DevNull || want[keep2] != fx.file1 {
		t.Fatalf("the caller's inheritable fds %v lack %d and %d", want, keep1, keep2)
	}
	rep := spawnToFile(t, fd)
	checkFDs(t, rep, want)
}

func TestCwd(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	dirBase := open(t, fx.base, unix.O_RDONLY|unix.O_DIRECTORY)
	dirB := open(t, fx.b, unix.O_RDONLY|unix.O_DIRECTORY)
	pathA := open(t, fx.a, unix.O_PATH|unix.O_DIRECTORY)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		calls func(t *testing.T, fd int)
		want  string
	}{
		{"default: the caller's", func(t *testing.T, fd int) {}, wd},
		{"absolute path", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.a, 0))
		}, fx.a},
		{"AT_FDCWD is the embryo's cwd", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.base, 0))
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, "a", 0))
		}, fx.a},
		{"dotdot from the embryo's cwd", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.a, 0))
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, "../b", 0))
		}, fx.b},
		{"the caller's dirfd and a path", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, dirBase, "b", 0))
		}, fx.b},
		{"AT_EMPTY_PATH: fchdir", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, dirB, "", unix.AT_EMPTY_PATH))
		}, fx.b},
		{"AT_EMPTY_PATH on an O_PATH fd", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, pathA, "", unix.AT_EMPTY_PATH))
		}, fx.a},
		{"a failed CWD leaves the cwd", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.a, 0))
			embryo.Check(t, "CWD to a missing dir", pidfd.ConfigCwd(fd, unix.AT_FDCWD, "missing", 0), unix.ENOENT)
			embryo.Check(t, "CWD to a file", pidfd.ConfigCwd(fd, unix.AT_FDCWD, "file1", 0), unix.ENOTDIR)
		}, fx.a},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			tc.calls(t, fd)
			rep := spawnToFile(t, fd)
			if rep.Cwd != tc.want {
				t.Errorf("child's cwd %q, want %q", rep.Cwd, tc.want)
			}
			if now, _ := os.Getwd(); now != wd {
				t.Errorf("the caller's cwd changed to %q", now)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	embryo.Require(t)
	killStop := bit(unix.SIGKILL, unix.SIGSTOP)
	for _, tc := range []struct {
		name             string
		calls            [][2]uint64 // blocked, ignored per call
		wantBlk, wantIgn uint64
	}{
		{"blocked and ignored", [][2]uint64{{bit(unix.SIGUSR1, unix.SIGTERM), bit(unix.SIGUSR2, unix.SIGPIPE)}},
			bit(unix.SIGUSR1, unix.SIGTERM), bit(unix.SIGUSR2, unix.SIGPIPE)},
		{"SIGKILL and SIGSTOP in blocked are dropped", [][2]uint64{{bit(unix.SIGKILL, unix.SIGSTOP, unix.SIGUSR1), 0}},
			bit(unix.SIGUSR1), 0},
		{"all blocked", [][2]uint64{{^uint64(0), 0}}, ^uint64(0) &^ killStop, 0},
		{"all but SIGKILL and SIGSTOP ignored", [][2]uint64{{0, ^uint64(0) &^ killStop}}, 0, ^uint64(0) &^ killStop},
		{"real-time signals", [][2]uint64{{1<<33 | 1<<63, 1 << 39}}, 1<<33 | 1<<63, 1 << 39},
		{"a second call replaces the first", [][2]uint64{{bit(unix.SIGUSR1), bit(unix.SIGUSR2)}, {bit(unix.SIGTERM), bit(unix.SIGHUP)}},
			bit(unix.SIGTERM), bit(unix.SIGHUP)},
		{"back to the default", [][2]uint64{{bit(unix.SIGUSR1), bit(unix.SIGUSR2)}, {0, 0}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			for _, c := range tc.calls {
				must(t, fmt.Sprintf("SIGNALS(%#x, %#x)", c[0], c[1]), pidfd.ConfigSignals(fd, c[0], c[1]))
			}
			rep := spawnToFile(t, fd)
			if got := hex(t, rep, "SigBlk"); got != tc.wantBlk {
				t.Errorf("SigBlk %#x, want %#x", got, tc.wantBlk)
			}
			if got := hex(t, rep, "SigIgn"); got != tc.wantIgn {
				t.Errorf("SigIgn %#x, want %#x", got, tc.wantIgn)
			}
			for _, k := range []string{"SigCgt", "SigPnd", "ShdPnd"} {
				if got := hex(t, rep, k); got != 0 {
					t.Errorf("%s %#x, want 0", k, got)
				}
			}
		})
	}
}

// TestBadActions: each bad action fails its own call with its errno, and
// none leaves a trace: the child then starts with exactly the state the
// good calls made.
func TestBadActions(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	devnull := open(t, os.DevNull, unix.O_RDONLY)
	dirA := open(t, fx.a, unix.O_RDONLY|unix.O_DIRECTORY)
	fileFd := open(t, fx.file, unix.O_RDONLY)
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	nofile := int(rl.Cur)
	const closed = 1 << 20
	ro := &unix.OpenHow{Flags: unix.O_RDONLY}
	a := arena.New(t, 1<<16)
	rawFD := func(fd int, arg pidfd.FDArg) error {
		return pidfd.Config(fd, pidfd.PIDFD_CONFIG_FD, arena.Ptr(arena.Place(a, arg, 0)), pidfd.PIDFD_FD_SIZE_VER0)
	}
	longArg := strings.Repeat("a", maxArgStrlen) // with its NUL, one byte too long

	fd := embryo.New(t)
	env, path := reportEnv(t)
	argv := []string{childreport.Path, "exit", "0"}
	embryo.ConfigProgram(t, fd, childreport.Path, argv, []string{env})
	must(t, "SIGNALS", pidfd.ConfigSignals(fd, bit(unix.SIGUSR1), 0))
	must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.a, 0))

	for _, tc := range []struct {
		name string
		call func() error
		want unix.Errno
	}{
		{"DUP of a closed caller fd", func() error { return pidfd.ConfigFDDup(fd, closed, 3, 0) }, unix.EBADF},
		{"DUP of caller fd -1", func() error { return pidfd.ConfigFDDup(fd, -1, 3, 0) }, unix.EBADF},
		{"DUP to fd >= RLIMIT_NOFILE", func() error { return pidfd.ConfigFDDup(fd, devnull, nofile, 0) }, unix.EBADF},
		{"DUP with unknown flags", func() error { return pidfd.ConfigFDDup(fd, devnull, 3, 2) }, unix.EINVAL},
		{"CLOSE of a fd not open in the embryo", func() error { return pidfd.ConfigFDClose(fd, 5) }, unix.EBADF},
		{"CLOSE of a fd the caller has open", func() error { return pidfd.ConfigFDClose(fd, devnull) }, unix.EBADF},
		{"CLOSE with flags", func() error {
			must(t, "DUP", pidfd.ConfigFDDup(fd, devnull, 9, 0))
			defer pidfd.ConfigFDClose(fd, 9)
			return rawFD(fd, pidfd.FDArg{Action: pidfd.PIDFD_FD_CLOSE, Flags: 1, Fd: 9})
		}, unix.EINVAL},
		{"CLOSE_RANGE fd > max_fd", func() error { return pidfd.ConfigFDCloseRange(fd, 10, 9, 0) }, unix.EINVAL},
		{"CLOSE_RANGE unknown flags", func() error { return pidfd.ConfigFDCloseRange(fd, 3, 9, 1<<8) }, unix.EINVAL},
		{"OPEN of a missing file", func() error { return pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, "missing", ro, 3) }, unix.ENOENT},
		{"OPEN relative to a closed dirfd", func() error { return pidfd.ConfigFDOpen(fd, closed, "file1", ro, 3) }, unix.EBADF},
		{"OPEN relative to a file", func() error { return pidfd.ConfigFDOpen(fd, fileFd, "x", ro, 3) }, unix.ENOTDIR},
		{"OPEN of a directory for writing", func() error {
			return pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, fx.b, &unix.OpenHow{Flags: unix.O_WRONLY}, 3)
		}, unix.EISDIR},
		{"OPEN with unknown open_how flags", func() error {
			return pidfd.ConfigFDOpen(fd, dirA, "file1", &unix.OpenHow{Flags: 1 << 40}, 3)
		}, unix.EINVAL},
		{"OPEN with RESOLVE_BENEATH escaping", func() error {
			return pidfd.ConfigFDOpen(fd, dirA, "../b/file2", &unix.OpenHow{Flags: unix.O_RDONLY, Resolve: unix.RESOLVE_BENEATH}, 3)
		}, unix.EXDEV},
		{"OPEN with how_size < OPEN_HOW_SIZE_VER0", func() error {
			return rawFD(fd, pidfd.FDArg{Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: 3,
				Path: a.CStringAddr(fx.file1), How: arena.Addr(arena.Place(a, *ro, 0)), HowSize: 16})
		}, unix.EINVAL},
		{"OPEN to fd >= RLIMIT_NOFILE", func() error { return pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, fx.file1, ro, nofile) }, unix.EBADF},
		{"OPEN with flags", func() error {
			return rawFD(fd, pidfd.FDArg{Action: pidfd.PIDFD_FD_OPEN, Flags: 1, SrcFd: unix.AT_FDCWD, Fd: 3,
				Path: a.CStringAddr(fx.file1), How: arena.Addr(arena.Place(a, *ro, 0)), HowSize: unix.SizeofOpenHow})
		}, unix.EINVAL},
		{"INHERIT with flags", func() error { return rawFD(fd, pidfd.FDArg{Action: pidfd.PIDFD_FD_INHERIT, Flags: 1}) }, unix.EINVAL},
		{"FD action 0", func() error { return rawFD(fd, pidfd.FDArg{Action: 0, Fd: 3}) }, unix.EINVAL},
		{"FD action 6", func() error { return rawFD(fd, pidfd.FDArg{Action: 6, Fd: 3}) }, unix.EINVAL},
		{"FD action 1<<31", func() error { return rawFD(fd, pidfd.FDArg{Action: 1 << 31, Fd: 3}) }, unix.EINVAL},
		{"DUP with __spare != 0", func() error {
			return rawFD(fd, pidfd.FDArg{Action: pidfd.PIDFD_FD_DUP, SrcFd: int32(devnull), Fd: 3, Spare: 1})
		}, unix.EINVAL},
		{"CWD to a file", func() error { return pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.file, 0) }, unix.ENOTDIR},
		{"CWD to a missing directory", func() error { return pidfd.ConfigCwd(fd, unix.AT_FDCWD, "/nonexistent", 0) }, unix.ENOENT},
		{"CWD with unknown flags", func() error { return pidfd.ConfigCwd(fd, unix.AT_FDCWD, fx.b, 1<<30) }, unix.EINVAL},
		{"CWD AT_EMPTY_PATH on a file", func() error { return pidfd.ConfigCwd(fd, fileFd, "", unix.AT_EMPTY_PATH) }, unix.ENOTDIR},
		{"CWD relative to a closed dirfd", func() error { return pidfd.ConfigCwd(fd, closed, "b", 0) }, unix.EBADF},
		{"SIGNALS with SIGKILL ignored", func() error { return pidfd.ConfigSignals(fd, 0, bit(unix.SIGKILL)) }, unix.EINVAL},
		{"SIGNALS with SIGSTOP ignored", func() error { return pidfd.ConfigSignals(fd, bit(unix.SIGTERM), bit(unix.SIGSTOP)) }, unix.EINVAL},
		{"ARGV with a string over MAX_ARG_STRLEN", func() error { return pidfd.ConfigArgv(fd, []string{"x", longArg}) }, unix.E2BIG},
		{"ENVP with a string over MAX_ARG_STRLEN", func() error { return pidfd.ConfigEnvp(fd, []string{"K=" + longArg}) }, unix.E2BIG},
		{"EXEC with unknown flags", func() error { return pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, unix.AT_REMOVEDIR) }, unix.EINVAL},
		{"EXEC with a path over PATH_MAX", func() error {
			return pidfd.ConfigExec(fd, unix.AT_FDCWD, "/"+strings.Repeat("a", unix.PathMax), 0)
		}, unix.ENAMETOOLONG},
	} {
		t.Run(tc.name, func(t *testing.T) {
			embryo.Check(t, tc.name, tc.call(), tc.want)
		})
	}

	rep, ex := runToFile(t, fd, path)
	if !ex.Exited(0) {
		t.Errorf("child after the bad actions: %v, want exit 0", ex)
	}
	checkFDs(t, rep, map[int]string{})
	if !reflect.DeepEqual(rep.Argv, argv) || !reflect.DeepEqual(rep.Env, []string{env}) {
		t.Errorf("argv %q env %q, want %q %q: a failed ARGV/ENVP replaced the vector", rep.Argv, rep.Env, argv, []string{env})
	}
	if rep.Cwd != fx.a {
		t.Errorf("cwd %q, want %q: a failed CWD moved it", rep.Cwd, fx.a)
	}
	if blk, ign := hex(t, rep, "SigBlk"), hex(t, rep, "SigIgn"); blk != bit(unix.SIGUSR1) || ign != 0 {
		t.Errorf("SigBlk %#x SigIgn %#x, want %#x 0: a failed SIGNALS changed them", blk, ign, bit(unix.SIGUSR1))
	}
}

func TestArgvEnvpLimits(t *testing.T) {
	embryo.Require(t)
	longest := strings.Repeat("b", maxArgStrlen-1) // MAX_ARG_STRLEN with its NUL
	t.Run("strings of MAX_ARG_STRLEN pass", func(t *testing.T) {
		fd := embryo.New(t)
		env, path := reportEnv(t)
		embryo.ConfigProgram(t, fd, childreport.Path, []string{"cr", longest}, []string{env, "L=" + longest[2:]})
		rep, ex := runToFile(t, fd, path)
		if !ex.Exited(0) || len(rep.Argv) != 2 || rep.Argv[1] != longest || len(rep.Env) != 2 || len(rep.Env[1]) != len(longest) {
			t.Errorf("child %v: argv/env lengths do not match what was configured", ex)
		}
	})
	// The exec copies them a page at a time, string after string: every
	// length, so that strings start and end at every offset of a page
	// and many cross a page boundary.
	t.Run("many strings across pages arrive intact", func(t *testing.T) {
		fd := embryo.New(t)
		env, path := reportEnv(t)
		argv, envp := []string{"cr"}, []string{env}
		for i := range 1500 {
			argv = append(argv, strings.Repeat(string(rune('A'+i%26)), 1+i*53%211))
			envp = append(envp, fmt.Sprintf("V%04d=%s", i, strings.Repeat(string(rune('a'+i%26)), i*37%307)))
		}
		embryo.ConfigProgram(t, fd, childreport.Path, argv, envp)
		rep, ex := runToFile(t, fd, path)
		if !ex.Exited(0) {
			t.Fatalf("child %v, want exit 0", ex)
		}
		if !slices.Equal(rep.Argv, argv) || !slices.Equal(rep.Env, envp) {
			t.Errorf("the child got %d args and %d variables, not the %d and %d configured, or not the same strings", len(rep.Argv), len(rep.Env), len(argv), len(envp))
		}
	})
	t.Run("more than 6 MiB in all", func(t *testing.T) {
		fd := embryo.New(t)
		many := slices.Repeat([]string{longest}, 49)
		embryo.Check(t, "ARGV of 49 x 128 KiB", pidfd.ConfigArgv(fd, many), unix.E2BIG)
		embryo.Check(t, "ENVP of 49 x 128 KiB", pidfd.ConfigEnvp(fd, many), unix.E2BIG)
	})
	t.Run("over the stack limit: E2BIG, then a retry", func(t *testing.T) {
		var rl unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_STACK, &rl); err != nil {
			t.Fatal(err)
		}
		if rl.Cur == unix.RLIM_INFINITY || rl.Cur > 16<<20 {
			t.Skipf("RLIMIT_STACK %d leaves execve room for 5 MiB of arguments: nothing to check", rl.Cur)
		}
		fd := embryo.New(t)
		out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
		err := pidfd.ConfigArgv(fd, slices.Repeat([]string{longest}, 40))
		if err == nil {
			_, err = pidfd.SpawnRun(fd, 0)
			embryo.Check(t, "run with 5 MiB of argv under an 8 MiB stack limit", err, unix.E2BIG)
		} else {
			embryo.Check(t, "ARGV of 5 MiB under an 8 MiB stack limit", err, unix.E2BIG)
		}
		must(t, "ARGV", pidfd.ConfigArgv(fd, []string{childreport.Path, "exit", "0"}))
		embryo.RunToExit(t, fd, out, 0)
	})
}

// TestArgvEnvpSnapshot: ARGV and ENVP are copied at config time; changing
// the caller's memory afterwards changes nothing.
func TestArgvEnvpSnapshot(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<16)
	fd := embryo.New(t)
	must(t, "EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0))
	arg0, arg1 := a.CString(childreport.Path), a.CString("AAAA")
	env0 := a.CString("K=orig")
	argv := a.Vector(uint64(uintptr(unsafe.Pointer(&arg0[0]))), uint64(uintptr(unsafe.Pointer(&arg1[0]))))
	envp := a.Vector(uint64(uintptr(unsafe.Pointer(&env0[0]))))
	for _, c := range []struct {
		cmd int
		vec []uint64
	}{{pidfd.PIDFD_CONFIG_ARGV, argv}, {pidfd.PIDFD_CONFIG_ENVP, envp}} {
		arg := arena.Place(a, pidfd.StringsArg{Strings: arena.VectorAddr(c.vec)}, 0)
		must(t, "ARGV/ENVP", pidfd.Config(fd, c.cmd, arena.Ptr(arg), pidfd.PIDFD_STRINGS_SIZE_VER0))
	}
	out := embryo.StdoutPipe(t, fd)
	// Change the strings in place, repoint and cut the vectors.
	copy(arg1, "BBBB")
	copy(env0, "K=gone")
	argv[1] = a.CStringAddr("CCCC")
	envp[0] = 0
	embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	embryo.Wait(t, fd)
	if want := []string{childreport.Path, "AAAA"}; !reflect.DeepEqual(rep.Argv, want) {
		t.Errorf("argv %q, want %q as configured", rep.Argv, want)
	}
	if want := []string{"K=orig"}; !reflect.DeepEqual(rep.Env, want) {
		t.Errorf("env %q, want %q as configured", rep.Env, want)
	}
}

func TestArgvEnvpReplace(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	must(t, "ARGV", pidfd.ConfigArgv(fd, []string{"first", "1"}))
	must(t, "ENVP", pidfd.ConfigEnvp(fd, []string{"A=1", "B=2"}))
	must(t, "EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0))
	must(t, "ARGV", pidfd.ConfigArgv(fd, []string{"second"}))
	must(t, "ENVP (empty: strings == 0)", pidfd.ConfigEnvp(fd, nil))
	out := embryo.StdoutPipe(t, fd)
	embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	embryo.Wait(t, fd)
	if want := []string{"second"}; !reflect.DeepEqual(rep.Argv, want) {
		t.Errorf("argv %q, want %q", rep.Argv, want)
	}
	if len(rep.Env) != 0 {
		t.Errorf("env %q, want empty", rep.Env)
	}
}

// TestExecResolution: EXEC's dirfd is a descriptor of the embryo and
// AT_FDCWD its cwd, resolved at run as execveat would.
func TestExecResolution(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	link := filepath.Join(fx.base, "link")
	if err := os.Symlink(childreport.Path, link); err != nil {
		t.Fatal(err)
	}
	binDir := open(t, "/bin", unix.O_PATH|unix.O_DIRECTORY)
	prog := open(t, childreport.Path, unix.O_RDONLY)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, fd int)
		want  unix.Errno
	}{
		{"AT_FDCWD is the embryo's cwd", func(t *testing.T, fd int) {
			must(t, "CWD", pidfd.ConfigCwd(fd, unix.AT_FDCWD, "/bin", 0))
			must(t, "EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, "childreport", 0))
		}, 0},
		{"dirfd in the embryo's table", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, binDir, 10, pidfd.PIDFD_FD_CLOEXEC))
			must(t, "EXEC", pidfd.ConfigExec(fd, 10, "childreport", 0))
		}, 0},
		{"dirfd open only in the caller", func(t *testing.T, fd int) {
			must(t, "EXEC", pidfd.ConfigExec(fd, binDir, "childreport", 0))
		}, unix.EBADF},
		{"AT_EMPTY_PATH: fexecve of an fd in the embryo's table", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, prog, 11, pidfd.PIDFD_FD_CLOEXEC))
			must(t, "EXEC", pidfd.ConfigExec(fd, 11, "", unix.AT_EMPTY_PATH))
		}, 0},
		{"an empty path without AT_EMPTY_PATH: ENOENT, as execveat", func(t *testing.T, fd int) {
			must(t, "DUP", pidfd.ConfigFDDup(fd, prog, 11, pidfd.PIDFD_FD_CLOEXEC))
			must(t, "EXEC", pidfd.ConfigExec(fd, 11, "", 0))
		}, unix.ENOENT},
		{"a symlink", func(t *testing.T, fd int) {
			must(t, "EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, link, 0))
		}, 0},
		{"a symlink with AT_SYMLINK_NOFOLLOW", func(t *testing.T, fd int) {
			must(t, "EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, link, unix.AT_SYMLINK_NOFOLLOW))
		}, unix.ELOOP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			env, path := reportEnv(t)
			must(t, "ARGV", pidfd.ConfigArgv(fd, []string{"cr", "exit", "0"}))
			must(t, "ENVP", pidfd.ConfigEnvp(fd, []string{env}))
			tc.setup(t, fd)
			if tc.want != 0 {
				_, err := pidfd.SpawnRun(fd, 0)
				embryo.Check(t, "pidfd_spawn_run", err, tc.want)
				return
			}
			rep, ex := runToFile(t, fd, path)
			if !ex.Exited(0) || !reflect.DeepEqual(rep.Argv, []string{"cr", "exit", "0"}) {
				t.Errorf("child %v argv %q", ex, rep.Argv)
			}
			checkFDs(t, rep, map[int]string{})
		})
	}
}
