package pidfd

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config is pidfd_config(2): it applies command cmd, with the struct of size
// bytes at arg, to the embryo fd. The raw form, for callers that build the
// struct themselves (or a bad one, to test the kernel's checks).
func Config(fd int, cmd uint, arg unsafe.Pointer, size uintptr) error {
	_, _, errno := unix.Syscall6(SYS_PIDFD_CONFIG, uintptr(fd), uintptr(cmd), uintptr(arg), size, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// SpawnRun is pidfd_spawn_run(2): it starts the embryo fd by running its
// program and returns the child's pid. On an exec failure the embryo stays
// unstarted and configurable.
func SpawnRun(fd int, flags uint) (int, error) {
	pid, _, errno := unix.Syscall(SYS_PIDFD_SPAWN_RUN, uintptr(fd), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(pid), nil
}

// The typed helpers below build each struct on their own stack (passed to
// the kernel by a pointer in the call itself) and everything it points to on
// the heap, which does not move; runtime.KeepAlive holds it until the call
// has returned.

// cstring returns s as a NUL-terminated string on the heap. It is not
// inlined so that its result always escapes to the heap.
//
//go:noinline
func cstring(s string) (*byte, error) {
	return unix.BytePtrFromString(s)
}

// cvector returns ss as a NUL-terminated array of NUL-terminated strings,
// all on the heap; nil for a nil ss (the kernel's "empty vector").
//
//go:noinline
func cvector(ss []string) ([]*byte, error) {
	if ss == nil {
		return nil, nil
	}
	v := make([]*byte, len(ss)+1)
	for i, s := range ss {
		p, err := cstring(s)
		if err != nil {
			return nil, err
		}
		v[i] = p
	}
	return v, nil
}

//go:noinline
func heapOpenHow(how unix.OpenHow) *unix.OpenHow {
	return &how
}

func addr[T any](p *T) uint64 {
	return uint64(uintptr(unsafe.Pointer(p)))
}

// ConfigExec sets the program (PIDFD_CONFIG_EXEC): path relative to dirfd,
// a descriptor in the embryo's table, or AT_FDCWD for the embryo's cwd;
// flags AT_EMPTY_PATH and AT_SYMLINK_NOFOLLOW.
func ConfigExec(fd, dirfd int, path string, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := ExecArg{Path: addr(p), Dirfd: int32(dirfd), Flags: uint32(flags)}
	err = Config(fd, PIDFD_CONFIG_EXEC, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(p)
	return err
}

func configStrings(fd int, cmd uint, ss []string) error {
	v, err := cvector(ss)
	if err != nil {
		return err
	}
	var arg StringsArg
	if v != nil {
		arg.Strings = addr(&v[0])
	}
	err = Config(fd, cmd, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(v)
	return err
}

// ConfigArgv sets the argument vector (PIDFD_CONFIG_ARGV). A nil argv is
// the empty vector.
func ConfigArgv(fd int, argv []string) error {
	return configStrings(fd, PIDFD_CONFIG_ARGV, argv)
}

// ConfigEnvp sets the environment (PIDFD_CONFIG_ENVP). A nil envp is the
// empty vector.
func ConfigEnvp(fd int, envp []string) error {
	return configStrings(fd, PIDFD_CONFIG_ENVP, envp)
}

func configFD(fd int, arg *FDArg) error {
	return Config(fd, PIDFD_CONFIG_FD, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
}

// FDDup installs the caller's descriptor src as the embryo's dst, as dup2
// (PIDFD_FD_DUP); flags PIDFD_FD_CLOEXEC sets FD_CLOEXEC on it.
func FDDup(fd, src, dst int, flags uint) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_DUP, Flags: uint32(flags), SrcFd: int32(src), Fd: uint32(dst)})
}

// FDClose closes the embryo's descriptor dst (PIDFD_FD_CLOSE).
func FDClose(fd, dst int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_CLOSE, Fd: uint32(dst)})
}

// FDCloseRange is close_range(first, last, flags) in the embryo
// (PIDFD_FD_CLOSE_RANGE); flags CLOSE_RANGE_CLOEXEC.
func FDCloseRange(fd int, first, last, flags uint) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_CLOSE_RANGE, Flags: uint32(flags), Fd: uint32(first), MaxFd: uint32(last)})
}

// FDOpen opens path as the embryo would, openat2(srcDirfd, path, how) with
// srcDirfd a descriptor of the caller or AT_FDCWD for the embryo's cwd, and
// installs the file as the embryo's dst (PIDFD_FD_OPEN). O_CLOEXEC in how
// sets FD_CLOEXEC on dst.
func FDOpen(fd, srcDirfd int, path string, how *unix.OpenHow, dst int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := FDArg{
		Action: PIDFD_FD_OPEN,
		SrcFd:  int32(srcDirfd),
		Fd:     uint32(dst),
		Path:   addr(p),
	}
	var h *unix.OpenHow
	if how != nil { // nil passes a NULL how for the kernel to reject
		h = heapOpenHow(*how)
		arg.How, arg.HowSize = addr(h), uint64(unsafe.Sizeof(*h))
	}
	err = configFD(fd, &arg)
	runtime.KeepAlive(p)
	runtime.KeepAlive(h)
	return err
}

// FDInherit replaces the embryo's table by a copy of the caller's
// descriptors that are not close-on-exec (PIDFD_FD_INHERIT).
func FDInherit(fd int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_INHERIT})
}

// Cwd changes the embryo's working directory (PIDFD_CONFIG_CWD): path
// relative to the caller's dirfd, or AT_FDCWD for the embryo's cwd; flags
// AT_EMPTY_PATH with path "" is fchdir(dirfd).
func Cwd(fd, dirfd int, path string, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := CwdArg{Path: addr(p), Dirfd: int32(dirfd), Flags: uint32(flags)}
	err = Config(fd, PIDFD_CONFIG_CWD, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(p)
	return err
}

// Signals sets the blocked mask and the ignored set the child starts with
// (PIDFD_CONFIG_SIGNALS); bit n-1 stands for signal n (SigBit).
func Signals(fd int, blocked, ignored uint64) error {
	arg := SignalsArg{Blocked: blocked, Ignored: ignored}
	return Config(fd, PIDFD_CONFIG_SIGNALS, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}
