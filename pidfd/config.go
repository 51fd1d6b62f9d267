package pidfd

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config is pidfd_config(2) in its raw form: it applies command cmd, with
// the size bytes at address arg, to the embryo fd. arg must be memory the
// Go garbage collector does not manage (from mmap, as the selftests' arena
// hands out), or a deliberately bad address; the Config* wrappers below
// build the structs in Go memory themselves. It returns ErrNotSupported,
// without a system call, on a kernel without empty pidfds.
func Config(fd, cmd int, arg uintptr, size int) error {
	if err := Probe(); err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(SYS_PIDFD_CONFIG, uintptr(fd), uintptr(cmd), arg, uintptr(size), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// config is Config for a struct in Go memory: the pointer is converted in
// the call expression, so the struct stays alive and in place.
func config(fd, cmd int, arg unsafe.Pointer, size uintptr) error {
	if err := Probe(); err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(SYS_PIDFD_CONFIG, uintptr(fd), uintptr(cmd), uintptr(arg), size, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// SpawnRun is pidfd_spawn_run(2): it starts the embryo fd by running its
// program and returns the child's pid once the exec has passed its point
// of no return, where vfork lets its parent go; the child may still be
// finishing its exec then. On an exec failure before that point the
// embryo stays unstarted and configurable. It returns ErrNotSupported, without a system
// call, on a kernel without empty pidfds.
func SpawnRun(fd, flags int) (int, error) {
	if err := Probe(); err != nil {
		return -1, err
	}
	pid, _, errno := unix.Syscall(SYS_PIDFD_SPAWN_RUN, uintptr(fd), uintptr(flags), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(pid), nil
}

// The typed wrappers below build each struct on their own stack (passed to
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
// the strings in one heap buffer, as syscall.SlicePtrFromStrings lays out
// execve()'s vectors: two allocations, not one per string. nil for a nil
// ss (the kernel's "empty vector"); EINVAL if a string holds a NUL.
//
//go:noinline
func cvector(ss []string) ([]*byte, error) {
	if ss == nil {
		return nil, nil
	}
	n := 0
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 {
			return nil, unix.EINVAL
		}
		n += len(s) + 1
	}
	v := make([]*byte, len(ss)+1)
	b := make([]byte, n)
	off := 0
	for i, s := range ss {
		v[i] = &b[off]
		copy(b[off:], s)
		off += len(s) + 1
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
	err = config(fd, PIDFD_CONFIG_EXEC, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(p)
	return err
}

// Vector is a vector of strings laid out as the kernel reads argv and
// envp, built once for any number of ARGV and ENVP commands: a caller that
// gives many embryos the same environment converts it once. It is
// immutable, and safe for concurrent use.
type Vector struct {
	v []*byte // nil for the empty vector
}

// NewVector lays out ss for ConfigArgvVector and ConfigEnvpVector. A nil ss
// is the empty vector; a string that holds a NUL is EINVAL.
func NewVector(ss []string) (*Vector, error) {
	v, err := cvector(ss)
	if err != nil {
		return nil, err
	}
	return &Vector{v: v}, nil
}

// Len is the number of strings in the vector.
func (v *Vector) Len() int {
	if v == nil {
		return 0
	}
	return max(len(v.v)-1, 0)
}

// Strings returns a copy of the vector's strings (nil for a vector made of
// a nil slice).
func (v *Vector) Strings() []string {
	if v == nil || v.v == nil {
		return nil
	}
	ss := make([]string, v.Len())
	for i := range ss {
		ss[i] = unix.BytePtrToString(v.v[i])
	}
	return ss
}

func configVector(fd, cmd int, v *Vector) error {
	var arg StringsArg
	if v != nil && v.v != nil {
		arg.Strings = addr(&v.v[0])
	}
	err := config(fd, cmd, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(v)
	return err
}

func configStrings(fd, cmd int, ss []string) error {
	v, err := NewVector(ss)
	if err != nil {
		return err
	}
	return configVector(fd, cmd, v)
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

// ConfigArgvVector is ConfigArgv with a vector laid out before; a nil
// vector is the empty one, as a nil argv is.
func ConfigArgvVector(fd int, argv *Vector) error {
	return configVector(fd, PIDFD_CONFIG_ARGV, argv)
}

// ConfigEnvpVector is ConfigEnvp with a vector laid out before; a nil
// vector is the empty one, as a nil envp is.
func ConfigEnvpVector(fd int, envp *Vector) error {
	return configVector(fd, PIDFD_CONFIG_ENVP, envp)
}

func configFD(fd int, arg *FDArg) error {
	return config(fd, PIDFD_CONFIG_FD, unsafe.Pointer(arg), unsafe.Sizeof(*arg))
}

// ConfigFDDup installs the caller's descriptor src as the embryo's dst, as
// dup2 (PIDFD_FD_DUP); flags PIDFD_FD_CLOEXEC sets FD_CLOEXEC on it.
func ConfigFDDup(fd, src, dst, flags int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_DUP, Flags: uint32(flags), SrcFd: int32(src), Fd: uint32(dst)})
}

// ConfigFDClose closes the embryo's descriptor dst (PIDFD_FD_CLOSE).
func ConfigFDClose(fd, dst int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_CLOSE, Fd: uint32(dst)})
}

// ConfigFDCloseRange is close_range(first, last, flags) in the embryo
// (PIDFD_FD_CLOSE_RANGE); flags CLOSE_RANGE_CLOEXEC.
func ConfigFDCloseRange(fd, first, last, flags int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_CLOSE_RANGE, Flags: uint32(flags), Fd: uint32(first), MaxFd: uint32(last)})
}

// ConfigFDOpen opens path as the embryo would, openat2(dirfd, path, how)
// with dirfd a descriptor of the caller or AT_FDCWD for the embryo's cwd,
// and installs the file as the embryo's dst (PIDFD_FD_OPEN). O_CLOEXEC in
// how sets FD_CLOEXEC on dst. A nil how passes NULL (for the kernel to
// reject).
func ConfigFDOpen(fd, dirfd int, path string, how *unix.OpenHow, dst int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := FDArg{
		Action: PIDFD_FD_OPEN,
		SrcFd:  int32(dirfd),
		Fd:     uint32(dst),
		Path:   addr(p),
	}
	var h *unix.OpenHow
	if how != nil {
		h = heapOpenHow(*how)
		arg.How, arg.HowSize = addr(h), uint64(unsafe.Sizeof(*h))
	}
	err = configFD(fd, &arg)
	runtime.KeepAlive(p)
	runtime.KeepAlive(h)
	return err
}

// ConfigFDInherit replaces the embryo's table by a copy of the caller's
// descriptors that are not close-on-exec (PIDFD_FD_INHERIT).
func ConfigFDInherit(fd int) error {
	return configFD(fd, &FDArg{Action: PIDFD_FD_INHERIT})
}

// ConfigCwd changes the embryo's working directory (PIDFD_CONFIG_CWD): path
// relative to the caller's dirfd, or AT_FDCWD for the embryo's cwd; flags
// AT_EMPTY_PATH with path "" is fchdir(dirfd).
func ConfigCwd(fd, dirfd int, path string, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := CwdArg{Path: addr(p), Dirfd: int32(dirfd), Flags: uint32(flags)}
	err = config(fd, PIDFD_CONFIG_CWD, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(p)
	return err
}

// ConfigSignals sets the blocked mask and the ignored set the child starts
// with (PIDFD_CONFIG_SIGNALS); bit n-1 stands for signal n (SigBit).
func ConfigSignals(fd int, blocked, ignored uint64) error {
	return ConfigSignalsFlags(fd, blocked, ignored, 0)
}

// ConfigSignalsFlags is ConfigSignals with flags: with
// PIDFD_SIGNALS_INHERIT_IGNORED the child also ignores what the caller
// ignores now. A kernel whose struct pidfd_signals has no flags fails a
// non-zero flags with E2BIG; one that does not know a flag, with EINVAL.
func ConfigSignalsFlags(fd int, blocked, ignored, flags uint64) error {
	arg := SignalsArg{Blocked: blocked, Ignored: ignored, Flags: flags}
	size := unsafe.Sizeof(arg)
	if flags == 0 {
		// The first version, which every kernel with the command takes.
		size = PIDFD_SIGNALS_SIZE_VER0
	}
	return config(fd, PIDFD_CONFIG_SIGNALS, unsafe.Pointer(&arg), size)
}

// ConfigRlimit sets one resource limit of the embryo
// (PIDFD_CONFIG_RLIMIT), as setrlimit by the embryo would: raising the hard
// limit needs CAP_SYS_RESOURCE in the embryo's credentials.
func ConfigRlimit(fd, resource int, lim unix.Rlimit) error {
	if resource < 0 {
		return unix.EINVAL
	}
	arg := RlimitArg{Resource: uint32(resource), Cur: lim.Cur, Max: lim.Max}
	return config(fd, PIDFD_CONFIG_RLIMIT, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigUmask sets the embryo's umask (PIDFD_CONFIG_UMASK); bits other
// than 0777 are EINVAL.
func ConfigUmask(fd int, mask uint32) error {
	arg := UmaskArg{Umask: uint64(mask)}
	return config(fd, PIDFD_CONFIG_UMASK, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigNoNewPrivs sets no_new_privs on the embryo
// (PIDFD_CONFIG_NO_NEW_PRIVS), as prctl(PR_SET_NO_NEW_PRIVS, 1): for good.
func ConfigNoNewPrivs(fd int) error {
	return config(fd, PIDFD_CONFIG_NO_NEW_PRIVS, nil, 0)
}

// ConfigRoot changes the embryo's root directory (PIDFD_CONFIG_ROOT), as
// chroot by the embryo: path relative to the caller's dirfd, or AT_FDCWD
// for the embryo's cwd; flags AT_EMPTY_PATH with path "" is fchroot(dirfd).
// CAP_SYS_CHROOT in the embryo's credentials is needed.
func ConfigRoot(fd, dirfd int, path string, flags int) error {
	p, err := cstring(path)
	if err != nil {
		return err
	}
	arg := RootArg{Path: addr(p), Dirfd: int32(dirfd), Flags: uint32(flags)}
	err = config(fd, PIDFD_CONFIG_ROOT, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(p)
	return err
}

// ConfigSetsid makes the embryo call setsid() itself
// (PIDFD_CONFIG_SETSID): the child leads a new session and process group
// and has no controlling terminal.
func ConfigSetsid(fd int) error {
	return config(fd, PIDFD_CONFIG_SETSID, nil, 0)
}

// ConfigPgid makes the embryo call setpgid(0, pgid) itself
// (PIDFD_CONFIG_PGID): 0 puts the child in a new process group that it
// leads, another pgid in that existing group of its session.
func ConfigPgid(fd, pgid int) error {
	arg := PgidArg{Pgid: int32(pgid)}
	return config(fd, PIDFD_CONFIG_PGID, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigPdeathsig sets the embryo's parent-death signal
// (PIDFD_CONFIG_PDEATHSIG), as prctl(PR_SET_PDEATHSIG, sig) in a forked
// child does; 0 for none. The embryo's parent is the thread that called
// Open, and the signal comes when that thread exits, as after fork(): if
// it exits before the start, SIGKILL destroys the embryo (Run gets ESRCH)
// and another signal is taken when the child starts. A later change of
// the embryo's effective ids (ConfigUIDs, ConfigGIDs) or the exec of a
// set-user-ID program clears it: make this call after the credentials.
func ConfigPdeathsig(fd int, sig unix.Signal) error {
	arg := PdeathsigArg{Signal: uint32(sig)}
	return config(fd, PIDFD_CONFIG_PDEATHSIG, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigSched makes the embryo call sched_setattr(0, attr, 0) itself
// (PIDFD_CONFIG_SCHED): the policy, priority, nice value and utilization
// clamps its child starts with (exec keeps them), judged by the embryo's
// credentials and RLIMIT_RTPRIO and RLIMIT_NICE. For an embryo of a normal
// policy, SCHED_FLAG_KEEP_POLICY with a nice value is
// setpriority(PRIO_PROCESS, 0, nice); for a real-time one it is EINVAL.
// POSIX_SPAWN_SETSCHEDULER and SETSCHEDPARAM map to it. attr.Size is
// set to the struct's size.
func ConfigSched(fd int, attr unix.SchedAttr) error {
	attr.Size = unix.SizeofSchedAttr
	return config(fd, PIDFD_CONFIG_SCHED, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

// ConfigCgroup makes the embryo move itself into the cgroup2 directory
// cgroupFD (PIDFD_CONFIG_CGROUP), as clone3's CLONE_INTO_CGROUP names it
// (an O_PATH descriptor will do): the embryo opens its cgroup.procs and
// writes "0" to it, judged by its own credentials and LSMs, with a
// migration's rules (write access to the common ancestor's cgroup.procs
// too; EBUSY for a cgroup with controllers enabled for its children). The
// pids charge moves with it. Make this call before ConfigUIDs and
// ConfigGIDs, as CLONE_INTO_CGROUP moves a child with its parent's
// credentials.
func ConfigCgroup(fd, cgroupFD int) error {
	arg := CgroupArg{Fd: int32(cgroupFD)}
	return config(fd, PIDFD_CONFIG_CGROUP, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigCtty makes the embryo call ioctl(ttyFD, TIOCSCTTY, steal) itself
// (PIDFD_CONFIG_CTTY): the terminal ttyFD, a descriptor in the caller's
// table, becomes the controlling terminal of the session the embryo leads
// (ConfigSetsid first: EPERM otherwise). With steal, a terminal of another
// session is taken from it if the embryo has CAP_SYS_ADMIN. Go's Setctty
// is this call with steal, on the file the child will have as Ctty.
func ConfigCtty(fd, ttyFD int, steal bool) error {
	arg := TTYArg{Fd: int32(ttyFD)}
	if steal {
		arg.Flags = PIDFD_TTY_STEAL
	}
	return config(fd, PIDFD_CONFIG_CTTY, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigNoctty makes the embryo call ioctl(ttyFD, TIOCNOTTY) itself
// (PIDFD_CONFIG_NOCTTY): it gives up the controlling terminal it inherited
// from its creator, which keeps it; ENOTTY if ttyFD is not that terminal.
// Go's Noctty is this call on the file the child will have as its 0.
func ConfigNoctty(fd, ttyFD int) error {
	arg := TTYArg{Fd: int32(ttyFD)}
	return config(fd, PIDFD_CONFIG_NOCTTY, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigForeground makes the embryo call tcsetpgrp(ttyFD, getpgrp())
// itself (PIDFD_CONFIG_FOREGROUND): its process group (ConfigPgid first
// for a group of its own) becomes the foreground group of its controlling
// terminal ttyFD, a descriptor in the caller's table, with SIGTTOU as if
// blocked. Go's Foreground and glibc's
// posix_spawn_file_actions_addtcsetpgrp_np are this call.
func ConfigForeground(fd, ttyFD int) error {
	arg := TTYArg{Fd: int32(ttyFD)}
	return config(fd, PIDFD_CONFIG_FOREGROUND, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigUIDs makes the embryo call setresuid(real, effective, saved)
// itself (PIDFD_CONFIG_UIDS); KeepID leaves an id. Its own credentials
// judge the call: a creator can lower what its embryo runs with, never
// raise it.
func ConfigUIDs(fd int, real, effective, saved uint32) error {
	arg := IDsArg{Real: real, Effective: effective, Saved: saved}
	return config(fd, PIDFD_CONFIG_UIDS, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigGIDs makes the embryo call setresgid(real, effective, saved)
// itself (PIDFD_CONFIG_GIDS); KeepID leaves an id.
func ConfigGIDs(fd int, real, effective, saved uint32) error {
	arg := IDsArg{Real: real, Effective: effective, Saved: saved}
	return config(fd, PIDFD_CONFIG_GIDS, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
}

// ConfigGroups makes the embryo call setgroups(groups) itself
// (PIDFD_CONFIG_GROUPS); nil or empty clears its supplementary groups.
func ConfigGroups(fd int, groups []uint32) error {
	arg := GroupsArg{Count: uint32(len(groups))}
	if len(groups) > 0 {
		arg.List = uint64(uintptr(unsafe.Pointer(&groups[0])))
	}
	err := config(fd, PIDFD_CONFIG_GROUPS, unsafe.Pointer(&arg), unsafe.Sizeof(arg))
	runtime.KeepAlive(groups)
	return err
}

// SigBit returns the bit that stands for sig in SignalsArg and in the
// SigBlk/SigIgn masks of /proc/<pid>/status. Signals outside 1..64 have no
// bit: EINVAL.
func SigBit(sig unix.Signal) (uint64, error) {
	if sig < 1 || sig > 64 {
		return 0, fmt.Errorf("pidfd: signal %d has no bit in a 64-bit mask: %w", int(sig), unix.EINVAL)
	}
	return 1 << (uint(sig) - 1), nil
}

// SigSet returns the mask with the bits of sigs (SigBit).
func SigSet(sigs ...unix.Signal) (uint64, error) {
	var m uint64
	for _, s := range sigs {
		b, err := SigBit(s)
		if err != nil {
			return 0, err
		}
		m |= b
	}
	return m, nil
}
