// Package abi checks the system call interface of empty pidfds: the flag
// and errno matrix of pidfd_open(PIDFD_EMPTY), pidfd_config and
// pidfd_spawn_run, size-versioned argument structs, bad pointers, unknown
// commands and flags, and the order in which the errors are checked
// (include/uapi/linux/pidfd.h in kernel/patches/).
package abi

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/arena"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

func TestPidfdOpenFlags(t *testing.T) {
	embryo.Require(t)
	self := os.Getpid()
	for _, tc := range []struct {
		name  string
		pid   int
		flags int
		want  unix.Errno
	}{
		{"PIDFD_EMPTY", 0, pidfd.PIDFD_EMPTY, 0},
		{"PIDFD_EMPTY|PIDFD_NONBLOCK", 0, pidfd.PIDFD_EMPTY | pidfd.PIDFD_NONBLOCK, 0},
		{"pid=getpid() with PIDFD_EMPTY", self, pidfd.PIDFD_EMPTY, unix.EINVAL},
		{"pid=1 with PIDFD_EMPTY", 1, pidfd.PIDFD_EMPTY, unix.EINVAL},
		{"pid=-1 with PIDFD_EMPTY", -1, pidfd.PIDFD_EMPTY, unix.EINVAL},
		{"PIDFD_EMPTY|PIDFD_THREAD", 0, pidfd.PIDFD_EMPTY | pidfd.PIDFD_THREAD, unix.EINVAL},
		{"PIDFD_EMPTY|PIDFD_THREAD|PIDFD_NONBLOCK", 0, pidfd.PIDFD_EMPTY | pidfd.PIDFD_THREAD | pidfd.PIDFD_NONBLOCK, unix.EINVAL},
		{"PIDFD_EMPTY|1", 0, pidfd.PIDFD_EMPTY | 1, unix.EINVAL},
		{"PIDFD_EMPTY|O_TRUNC (mainline's PIDFD_AUTOKILL)", 0, pidfd.PIDFD_EMPTY | unix.O_TRUNC, unix.EINVAL},
		{"PIDFD_EMPTY|1<<31", 0, pidfd.PIDFD_EMPTY | 1<<31, unix.EINVAL},
		{"PIDFD_EMPTY|O_CLOEXEC", 0, pidfd.PIDFD_EMPTY | unix.O_CLOEXEC, unix.EINVAL},
		{"pid=0 without PIDFD_EMPTY", 0, 0, unix.EINVAL},
		{"unknown flag without PIDFD_EMPTY", self, unix.O_TRUNC, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd, err := pidfd.Open(tc.pid, tc.flags)
			if err == nil {
				defer unix.Close(fd)
			}
			if !embryo.Check(t, "pidfd_open", err, tc.want) || err != nil {
				return
			}
			fdflags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || fdflags&unix.FD_CLOEXEC == 0 {
				t.Errorf("embryo fd is not close-on-exec: F_GETFD %#x, %v", fdflags, err)
			}
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err != nil {
				t.Fatalf("F_GETFL: %v", err)
			}
			if got, want := fl&unix.O_NONBLOCK != 0, tc.flags&pidfd.PIDFD_NONBLOCK != 0; got != want {
				t.Errorf("O_NONBLOCK in F_GETFL %#x is %v, want %v", fl, got, want)
			}
			if !embryo.IsEmbryo(t, fd) {
				t.Errorf("fdinfo does not say Embryo:\\t1: %v", embryo.Fdinfo(t, fd))
			}
		})
	}
}

// A command with an argument that is valid on a fresh embryo, whose first
// version is the whole struct. Not PIDFD_CONFIG_SCHED: its struct
// sched_attr grew past SCHED_ATTR_SIZE_VER0 (the utilization clamps), so
// a size between the two is valid (pidfd_empty_test's sched_errors).
type command struct {
	name string
	cmd  int
	ver0 int
	// latest is the size of the kernel's struct where a later version
	// grew it (0: ver0): a non-zero byte within it is a field, past it
	// E2BIG.
	latest int
	// valid builds a valid struct in the arena.
	valid func(a *arena.Arena) []byte
	// validErr is what the valid struct gets once past the size
	// checks: 0, or, for the terminal commands, which no fresh embryo
	// can make succeed without a terminal of its own, ENOTTY for
	// /dev/null.
	validErr unix.Errno
}

// commands are the commands that take a struct, each with a valid one;
// CGROUP's names the cgroup2 root, the terminal commands /dev/null, open
// until t ends.
func commands(t *testing.T) []command {
	t.Helper()
	root := cgroup2.Root(t)
	cgfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", root, err)
	}
	t.Cleanup(func() { unix.Close(cgfd) })
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(null) })
	tty := func(a *arena.Arena) []byte { return arena.Place(a, pidfd.TTYArg{Fd: int32(null)}, 0) }
	return []command{
		{"EXEC", pidfd.PIDFD_CONFIG_EXEC, pidfd.PIDFD_EXEC_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.ExecArg{Path: a.CStringAddr(childreport.Path), Dirfd: unix.AT_FDCWD}, 0)
		}, 0},
		{"ARGV", pidfd.PIDFD_CONFIG_ARGV, pidfd.PIDFD_STRINGS_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.StringsArg{Strings: a.Strings("childreport", "x")}, 0)
		}, 0},
		{"ENVP", pidfd.PIDFD_CONFIG_ENVP, pidfd.PIDFD_STRINGS_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.StringsArg{Strings: a.Strings("A=1")}, 0)
		}, 0},
		{"FD", pidfd.PIDFD_CONFIG_FD, pidfd.PIDFD_FD_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.FDArg{Action: pidfd.PIDFD_FD_CLOSE_RANGE, Fd: 0, MaxFd: ^uint32(0)}, 0)
		}, 0},
		{"CWD", pidfd.PIDFD_CONFIG_CWD, pidfd.PIDFD_CWD_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.CwdArg{Path: a.CStringAddr("/"), Dirfd: unix.AT_FDCWD}, 0)
		}, 0},
		{"SIGNALS", pidfd.PIDFD_CONFIG_SIGNALS, pidfd.PIDFD_SIGNALS_SIZE_VER0, pidfd.PIDFD_SIGNALS_SIZE_VER1, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.SignalsArg{Blocked: 1 << (unix.SIGUSR1 - 1)}, 0)
		}, 0},
		{"RLIMIT", pidfd.PIDFD_CONFIG_RLIMIT, pidfd.PIDFD_RLIMIT_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.RlimitArg{Resource: unix.RLIMIT_CORE}, 0)
		}, 0},
		{"UMASK", pidfd.PIDFD_CONFIG_UMASK, pidfd.PIDFD_UMASK_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.UmaskArg{Umask: 0o22}, 0)
		}, 0},
		// The tests run as root: root's ids and no groups change
		// nothing the other tests look at.
		{"UIDS", pidfd.PIDFD_CONFIG_UIDS, pidfd.PIDFD_IDS_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.IDsArg{Real: pidfd.KeepID, Effective: 0, Saved: pidfd.KeepID}, 0)
		}, 0},
		{"GIDS", pidfd.PIDFD_CONFIG_GIDS, pidfd.PIDFD_IDS_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.IDsArg{Real: 0, Effective: 0, Saved: 0}, 0)
		}, 0},
		{"GROUPS", pidfd.PIDFD_CONFIG_GROUPS, pidfd.PIDFD_GROUPS_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.GroupsArg{}, 0)
		}, 0},
		{"ROOT", pidfd.PIDFD_CONFIG_ROOT, pidfd.PIDFD_ROOT_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.RootArg{Path: a.CStringAddr("/"), Dirfd: unix.AT_FDCWD}, 0)
		}, 0},
		{"PGID", pidfd.PIDFD_CONFIG_PGID, pidfd.PIDFD_PGID_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.PgidArg{}, 0)
		}, 0},
		{"PDEATHSIG", pidfd.PIDFD_CONFIG_PDEATHSIG, pidfd.PIDFD_PDEATHSIG_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.PdeathsigArg{}, 0)
		}, 0},
		{"CGROUP", pidfd.PIDFD_CONFIG_CGROUP, pidfd.PIDFD_CGROUP_SIZE_VER0, 0, func(a *arena.Arena) []byte {
			return arena.Place(a, pidfd.CgroupArg{Fd: int32(cgfd)}, 0)
		}, 0},
		{"CTTY", pidfd.PIDFD_CONFIG_CTTY, pidfd.PIDFD_TTY_SIZE_VER0, 0, tty, unix.ENOTTY},
		{"NOCTTY", pidfd.PIDFD_CONFIG_NOCTTY, pidfd.PIDFD_TTY_SIZE_VER0, 0, tty, unix.ENOTTY},
		{"FOREGROUND", pidfd.PIDFD_CONFIG_FOREGROUND, pidfd.PIDFD_TTY_SIZE_VER0, 0, tty, unix.ENOTTY},
	}
}

// grow copies a struct into size bytes of the arena (zero tail).
func grow(a *arena.Arena, s []byte, size int) []byte {
	b := a.Alloc(size)
	copy(b, s)
	return b
}

// latestSize is the size of the kernel's struct: latest, or ver0.
func (c command) latestSize() int {
	if c.latest > 0 {
		return c.latest
	}
	return c.ver0
}

func TestStructSizeVersioning(t *testing.T) {
	embryo.Require(t)
	page := unix.Getpagesize()
	for _, c := range commands(t) {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				size int
				tail byte // value of the last byte past VER0, if any
				want unix.Errno
			}{
				{"size 0", 0, 0, unix.EINVAL},
				{"size 1", 1, 0, unix.EINVAL},
				{"VER0-1", c.ver0 - 1, 0, unix.EINVAL},
				{"VER0", c.ver0, 0, 0},
				{"VER0+1 zero tail", c.ver0 + 1, 0, 0},
				{"VER0+8 zero tail", c.ver0 + 8, 0, 0},
				{"latest+1 non-zero tail", c.latestSize() + 1, 1, unix.E2BIG},
				{"latest+64 non-zero tail", c.latestSize() + 64, 0x80, unix.E2BIG},
				{"a page, zero tail", page, 0, 0},
				{"a page, non-zero tail", page, 1, unix.E2BIG},
				{"more than a page, zero tail", page + 8, 0, unix.E2BIG},
			} {
				t.Run(tc.name, func(t *testing.T) {
					a := arena.New(t, 3*page)
					fd := embryo.New(t)
					arg := grow(a, c.valid(a), max(tc.size, c.ver0))
					if tc.size > c.ver0 {
						arg[tc.size-1] = tc.tail
					}
					want := tc.want
					if want == 0 {
						want = c.validErr
					}
					err := pidfd.Config(fd, c.cmd, arena.Ptr(arg), tc.size)
					embryo.Check(t, "pidfd_config", err, want)
				})
			}
		})
	}
}

// A struct accepted with a zero tail must take effect as with its VER0 size.
func TestLargerStructTakesEffect(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<16)
	fd := embryo.New(t)
	exec := grow(a, arena.Place(a, pidfd.ExecArg{Path: a.CStringAddr(childreport.Path), Dirfd: unix.AT_FDCWD}, 0), 64)
	if err := pidfd.Config(fd, pidfd.PIDFD_CONFIG_EXEC, arena.Ptr(exec), 64); err != nil {
		t.Fatalf("EXEC with a 64-byte struct: %s", embryo.Name(err))
	}
	argv := grow(a, arena.Place(a, pidfd.StringsArg{Strings: a.Strings(childreport.Path, "exit", "5")}, 0), 32)
	if err := pidfd.Config(fd, pidfd.PIDFD_CONFIG_ARGV, arena.Ptr(argv), 32); err != nil {
		t.Fatalf("ARGV with a 32-byte struct: %s", embryo.Name(err))
	}
	out := embryo.StdoutPipe(t, fd)
	embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	if ex := embryo.Wait(t, fd); !ex.Exited(5) {
		t.Errorf("child: %v, want exit 5", ex)
	}
	if len(rep.Argv) != 3 || rep.Argv[2] != "5" {
		t.Errorf("argv %q, want [childreport exit 5]", rep.Argv)
	}
}

func TestEFAULT(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<16)
	good := a.CStringAddr("/")
	bad := a.Bad()
	how := arena.Place(a, unix.OpenHow{Flags: unix.O_RDONLY}, 0)
	type tcase struct {
		name string
		cmd  int
		arg  uintptr
		size int
		// atEnd: copy this struct to the end of the arena, right
		// before the guard page, at run time (the cases share it).
		atEnd []byte
	}
	var cases []tcase
	for _, c := range commands(t) {
		cases = append(cases,
			tcase{name: c.name + " arg NULL", cmd: c.cmd, arg: 0, size: c.ver0},
			tcase{name: c.name + " arg unmapped", cmd: c.cmd, arg: a.BadPtr(), size: c.ver0},
			// A valid struct passed as larger than the kernel's:
			// its tail, which must be checked for zeroes, runs
			// into the guard page.
			tcase{name: c.name + " tail unmapped", cmd: c.cmd, size: c.latestSize() + 8, atEnd: c.valid(a)},
		)
	}
	cases = append(cases,
		tcase{name: "EXEC path unmapped", cmd: pidfd.PIDFD_CONFIG_EXEC, arg: arena.Ptr(arena.Place(a, pidfd.ExecArg{Path: bad, Dirfd: unix.AT_FDCWD}, 0)), size: pidfd.PIDFD_EXEC_SIZE_VER0},
		tcase{name: "EXEC path NULL", cmd: pidfd.PIDFD_CONFIG_EXEC, arg: arena.Ptr(arena.Place(a, pidfd.ExecArg{Path: 0, Dirfd: unix.AT_FDCWD}, 0)), size: pidfd.PIDFD_EXEC_SIZE_VER0},
		tcase{name: "CWD path unmapped", cmd: pidfd.PIDFD_CONFIG_CWD, arg: arena.Ptr(arena.Place(a, pidfd.CwdArg{Path: bad, Dirfd: unix.AT_FDCWD}, 0)), size: pidfd.PIDFD_CWD_SIZE_VER0},
		tcase{name: "FD OPEN path unmapped", cmd: pidfd.PIDFD_CONFIG_FD, arg: arena.Ptr(arena.Place(a, pidfd.FDArg{
			Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: 3, Path: bad, How: arena.Addr(how), HowSize: unix.SizeofOpenHow}, 0)), size: pidfd.PIDFD_FD_SIZE_VER0},
		tcase{name: "FD OPEN how unmapped", cmd: pidfd.PIDFD_CONFIG_FD, arg: arena.Ptr(arena.Place(a, pidfd.FDArg{
			Action: pidfd.PIDFD_FD_OPEN, SrcFd: unix.AT_FDCWD, Fd: 3, Path: good, How: bad, HowSize: unix.SizeofOpenHow}, 0)), size: pidfd.PIDFD_FD_SIZE_VER0},
		tcase{name: "ARGV array unmapped", cmd: pidfd.PIDFD_CONFIG_ARGV, arg: arena.Ptr(arena.Place(a, pidfd.StringsArg{Strings: bad}, 0)), size: pidfd.PIDFD_STRINGS_SIZE_VER0},
		tcase{name: "ENVP array unmapped", cmd: pidfd.PIDFD_CONFIG_ENVP, arg: arena.Ptr(arena.Place(a, pidfd.StringsArg{Strings: bad}, 0)), size: pidfd.PIDFD_STRINGS_SIZE_VER0},
		tcase{name: "ARGV string unmapped", cmd: pidfd.PIDFD_CONFIG_ARGV, arg: arena.Ptr(arena.Place(a, pidfd.StringsArg{
			Strings: arena.VectorAddr(a.Vector(a.CStringAddr("ok"), bad))}, 0)), size: pidfd.PIDFD_STRINGS_SIZE_VER0},
		tcase{name: "ENVP string unmapped", cmd: pidfd.PIDFD_CONFIG_ENVP, arg: arena.Ptr(arena.Place(a, pidfd.StringsArg{
			Strings: arena.VectorAddr(a.Vector(a.CStringAddr("A=1"), bad))}, 0)), size: pidfd.PIDFD_STRINGS_SIZE_VER0},
		// GROUPS reads its list in the caller, before the embryo makes the call.
		tcase{name: "ROOT path unmapped", cmd: pidfd.PIDFD_CONFIG_ROOT, arg: arena.Ptr(arena.Place(a, pidfd.RootArg{Path: bad, Dirfd: unix.AT_FDCWD}, 0)), size: pidfd.PIDFD_ROOT_SIZE_VER0},
		tcase{name: "GROUPS list unmapped", cmd: pidfd.PIDFD_CONFIG_GROUPS, arg: arena.Ptr(arena.Place(a, pidfd.GroupsArg{List: bad, Count: 1}, 0)), size: pidfd.PIDFD_GROUPS_SIZE_VER0},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			arg := tc.arg
			if tc.atEnd != nil {
				end := a.AllocEnd(len(tc.atEnd))
				copy(end, tc.atEnd)
				arg = arena.Ptr(end)
			}
			err := pidfd.Config(fd, tc.cmd, arg, tc.size)
			embryo.Check(t, "pidfd_config", err, unix.EFAULT)
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<12)
	zero := a.Alloc(64)
	fd := embryo.New(t)
	for _, cmd := range []int{0, pidfd.PIDFD_CONFIG_FOREGROUND + 1, 255, 1 << 16, 1 << 31, 1<<32 - 1} {
		err := pidfd.Config(fd, cmd, arena.Ptr(zero), 64)
		embryo.Check(t, fmt.Sprintf("pidfd_config(cmd %#x)", cmd), err, unix.EINVAL)
		// The command is checked before the argument is read.
		err = pidfd.Config(fd, cmd, a.BadPtr(), 64)
		embryo.Check(t, fmt.Sprintf("pidfd_config(cmd %#x, unmapped arg)", cmd), err, unix.EINVAL)
	}
	// The embryo is untouched.
	rep, ex := embryo.Spawn(t, fd, []string{"exit", "0"}, nil)
	if !ex.Exited(0) || len(rep.FDs) != 1 {
		t.Errorf("after unknown commands: %v, fds %v", ex, rep.FDNums())
	}
}

// TestNoArgument: a command that takes no struct (PIDFD_CONFIG_NO_NEW_PRIVS)
// wants arg NULL and size 0, and reads nothing: an unmapped arg is EINVAL,
// not EFAULT.
func TestNoArgument(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<12)
	zero := arena.Ptr(a.Alloc(64))
	for _, tc := range []struct {
		name string
		arg  uintptr
		size int
		want unix.Errno
	}{
		{"NULL, 0", 0, 0, 0},
		{"NULL, size 8", 0, 8, unix.EINVAL},
		{"zeroes, size 0", zero, 0, unix.EINVAL},
		{"zeroes, size 8", zero, 8, unix.EINVAL},
		{"unmapped, size 0", a.BadPtr(), 0, unix.EINVAL},
		{"NULL, more than a page", 0, 1 << 20, unix.EINVAL},
	} {
		for _, cmd := range []struct {
			name string
			cmd  int
		}{{"NO_NEW_PRIVS", pidfd.PIDFD_CONFIG_NO_NEW_PRIVS}, {"SETSID", pidfd.PIDFD_CONFIG_SETSID}} {
			t.Run(cmd.name+"/"+tc.name, func(t *testing.T) {
				fd := embryo.New(t)
				err := pidfd.Config(fd, cmd.cmd, tc.arg, tc.size)
				embryo.Check(t, "pidfd_config("+cmd.name+")", err, tc.want)
			})
		}
	}
}

// TestNotAnEmbryo: pidfd_config and pidfd_spawn_run on descriptors that are
// not embryos.
func TestNotAnEmbryo(t *testing.T) {
	embryo.Require(t)
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatalf("pidfd_open(getpid(), 0): %v", err)
	}
	defer unix.Close(self)
	thread, err := pidfd.Open(unix.Gettid(), pidfd.PIDFD_THREAD)
	if err != nil {
		t.Fatalf("pidfd_open(gettid(), PIDFD_THREAD): %v", err)
	}
	defer unix.Close(thread)
	const closed = 1 << 20 // above any fd table here: never open

	a := arena.New(t, 1<<12)
	sig := arena.Place(a, pidfd.SignalsArg{}, 0)
	for _, tc := range []struct {
		name string
		fd   int
		want unix.Errno
	}{
		{"closed fd", closed, unix.EBADF},
		{"fd -1", -1, unix.EBADF},
		// Not a pidfd at all: EBADF, as pidfd_send_signal() says.
		{"/dev/null", int(devnull.Fd()), unix.EBADF},
		{"pipe", p[0], unix.EBADF},
		{"pidfd_open(getpid(), 0)", self, unix.EINVAL},
		{"pidfd_open(gettid(), PIDFD_THREAD)", thread, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pidfd.Config(tc.fd, pidfd.PIDFD_CONFIG_SIGNALS, arena.Ptr(sig), pidfd.PIDFD_SIGNALS_SIZE_VER0)
			embryo.Check(t, "pidfd_config(SIGNALS)", err, tc.want)
			// Checked before the command and the argument.
			err = pidfd.Config(tc.fd, 99, a.BadPtr(), 8)
			embryo.Check(t, "pidfd_config(unknown cmd, unmapped arg)", err, tc.want)
			_, err = pidfd.SpawnRun(tc.fd, 0)
			embryo.Check(t, "pidfd_spawn_run", err, tc.want)
			_, err = pidfd.SpawnRun(tc.fd, 1)
			embryo.Check(t, "pidfd_spawn_run(flags 1)", err, tc.want)
		})
	}
}

func TestSpawnRunFlags(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "3"}, nil)
	for _, flags := range []int{1, 2, 1 << 31, 1<<32 - 1} {
		pid, err := pidfd.SpawnRun(fd, flags)
		if !embryo.Check(t, fmt.Sprintf("pidfd_spawn_run(flags %#x)", flags), err, unix.EINVAL) {
			t.Fatalf("returned pid %d", pid)
		}
		if !embryo.IsEmbryo(t, fd) {
			t.Fatalf("after pidfd_spawn_run(flags %#x) failed, fdinfo no longer says Embryo:\\t1", flags)
		}
	}
	embryo.RunToExit(t, fd, out, 3)
}

// TestErrnoOrder follows the order that the series documents in
// Documentation/userspace-api/pidfd_empty.rst: the descriptor, then the
// command or flags, then the struct copy, then the embryo's state.
func TestErrnoOrder(t *testing.T) {
	embryo.Require(t)
	a := arena.New(t, 1<<12)
	sig := arena.Place(a, pidfd.SignalsArg{}, 0)
	sigTail := arena.Place(a, pidfd.SignalsArg{}, pidfd.PIDFD_SIGNALS_SIZE_VER1+8)
	sigTail[len(sigTail)-1] = 1
	sigFlags := arena.Place(a, pidfd.SignalsArg{Flags: 1 << 1}, 0)

	started := embryo.New(t)
	embryo.Spawn(t, started, []string{"exit", "0"}, nil) // reaped
	running := embryo.New(t)
	out := embryo.Config(t, running, []string{"read"}, nil)
	stdin, w := embryo.InputPipe(t)
	if err := pidfd.ConfigFDDup(running, int(stdin.Fd()), 0, 0); err != nil {
		t.Fatalf("DUP to fd 0: %s", embryo.Name(err))
	}
	embryo.Run(t, running)
	defer func() {
		w.Close()
		embryo.Report(t, out)
		embryo.Wait(t, running)
	}()

	for _, st := range []struct {
		name string
		fd   int
	}{{"running", running}, {"exited and reaped", started}} {
		for _, tc := range []struct {
			name string
			call func(fd int) error
			want unix.Errno
		}{
			{"config SIGNALS", func(fd int) error {
				return pidfd.Config(fd, pidfd.PIDFD_CONFIG_SIGNALS, arena.Ptr(sig), pidfd.PIDFD_SIGNALS_SIZE_VER0)
			}, unix.EBUSY},
			{"config unknown cmd", func(fd int) error {
				return pidfd.Config(fd, 99, arena.Ptr(sig), 16)
			}, unix.EINVAL},
			{"config size VER0-1", func(fd int) error {
				return pidfd.Config(fd, pidfd.PIDFD_CONFIG_SIGNALS, arena.Ptr(sig), pidfd.PIDFD_SIGNALS_SIZE_VER0-1)
			}, unix.EINVAL},
			{"config non-zero tail", func(fd int) error {
				return pidfd.Config(fd, pidfd.PIDFD_CONFIG_SIGNALS, arena.Ptr(sigTail), len(sigTail))
			}, unix.E2BIG},
			{"config SIGNALS unknown flag", func(fd int) error {
				return pidfd.Config(fd, pidfd.PIDFD_CONFIG_SIGNALS, arena.Ptr(sigFlags), len(sigFlags))
			}, unix.EINVAL},
			{"config unmapped arg", func(fd int) error {
				return pidfd.Config(fd, pidfd.PIDFD_CONFIG_SIGNALS, a.BadPtr(), pidfd.PIDFD_SIGNALS_SIZE_VER0)
			}, unix.EFAULT},
			{"run", func(fd int) error { _, err := pidfd.SpawnRun(fd, 0); return err }, unix.EBUSY},
			{"run flags 1", func(fd int) error { _, err := pidfd.SpawnRun(fd, 1); return err }, unix.EINVAL},
		} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				embryo.Check(t, tc.name, tc.call(st.fd), tc.want)
			})
		}
	}
}
