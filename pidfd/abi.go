package pidfd

import "golang.org/x/sys/unix"

// System call numbers of the series on mainline 7.3, the first free after
// fchroot (472): the same on every architecture but alpha (583 and 584;
// mips adds its ABI offsets). A kernel with the series on 6.12 had them at
// 463 and 464, which 7.3 gives to setxattrat and getxattrat. Renumber here,
// and only here: Probe confirms the number before any other call uses it.
const (
	SYS_PIDFD_CONFIG    = 473
	SYS_PIDFD_SPAWN_RUN = 474
)

// Flags of pidfd_open(2) (include/uapi/linux/pidfd.h).
const (
	PIDFD_NONBLOCK = unix.O_NONBLOCK
	PIDFD_THREAD   = unix.O_EXCL
	// PIDFD_EMPTY creates an embryo: a task that has never run, to be
	// configured with pidfd_config and started with pidfd_spawn_run. The
	// pid argument must be 0.
	PIDFD_EMPTY = unix.O_CREAT
)

// Commands of pidfd_config(2), each with its argument struct.
const (
	PIDFD_CONFIG_EXEC    = 1 // ExecArg
	PIDFD_CONFIG_ARGV    = 2 // StringsArg
	PIDFD_CONFIG_ENVP    = 3 // StringsArg
	PIDFD_CONFIG_FD      = 4 // FDArg
	PIDFD_CONFIG_CWD     = 5 // CwdArg
	PIDFD_CONFIG_SIGNALS = 6 // SignalsArg
	PIDFD_CONFIG_RLIMIT  = 7 // RlimitArg
	PIDFD_CONFIG_UMASK   = 8 // UmaskArg
	// PIDFD_CONFIG_NO_NEW_PRIVS takes no argument: arg 0, size 0.
	PIDFD_CONFIG_NO_NEW_PRIVS = 9
	PIDFD_CONFIG_UIDS         = 10 // IDsArg
	PIDFD_CONFIG_GIDS         = 11 // IDsArg
	PIDFD_CONFIG_GROUPS       = 12 // GroupsArg
	PIDFD_CONFIG_ROOT         = 13 // RootArg
	// PIDFD_CONFIG_SETSID takes no argument: arg 0, size 0.
	PIDFD_CONFIG_SETSID = 14
	PIDFD_CONFIG_PGID   = 15 // PgidArg
	// PIDFD_CONFIG_PDEATHSIG: prctl(PR_SET_PDEATHSIG) for the embryo.
	PIDFD_CONFIG_PDEATHSIG = 16 // PdeathsigArg
	// PIDFD_CONFIG_SCHED: sched_setattr() made by the embryo.
	PIDFD_CONFIG_SCHED = 17 // unix.SchedAttr (struct sched_attr)
	// PIDFD_CONFIG_CGROUP: the embryo moves itself into a cgroup2 directory.
	PIDFD_CONFIG_CGROUP = 18 // CgroupArg
	// PIDFD_CONFIG_CTTY: ioctl(fd, TIOCSCTTY, steal) made by the embryo.
	PIDFD_CONFIG_CTTY = 19 // TTYArg
	// PIDFD_CONFIG_NOCTTY: ioctl(fd, TIOCNOTTY) made by the embryo.
	PIDFD_CONFIG_NOCTTY = 20 // TTYArg
	// PIDFD_CONFIG_FOREGROUND: tcsetpgrp(fd, getpgrp()) made by the embryo.
	PIDFD_CONFIG_FOREGROUND = 21 // TTYArg
)

// Sizes of the first version of each argument struct. A caller passes the
// size of the struct it was built with; the kernel takes smaller than VER0
// as EINVAL and a larger one with a non-zero tail as E2BIG.
const (
	PIDFD_EXEC_SIZE_VER0      = 16
	PIDFD_STRINGS_SIZE_VER0   = 8
	PIDFD_FD_SIZE_VER0        = 48
	PIDFD_CWD_SIZE_VER0       = 16
	PIDFD_SIGNALS_SIZE_VER0   = 16
	PIDFD_SIGNALS_SIZE_VER1   = 24 // adds SignalsArg.Flags
	PIDFD_RLIMIT_SIZE_VER0    = 24
	PIDFD_UMASK_SIZE_VER0     = 8
	PIDFD_IDS_SIZE_VER0       = 16
	PIDFD_GROUPS_SIZE_VER0    = 16
	PIDFD_ROOT_SIZE_VER0      = 16
	PIDFD_PGID_SIZE_VER0      = 8
	PIDFD_PDEATHSIG_SIZE_VER0 = 8
	PIDFD_CGROUP_SIZE_VER0    = 8
	PIDFD_TTY_SIZE_VER0       = 8
)

// Actions of PIDFD_CONFIG_FD (FDArg.Action).
const (
	PIDFD_FD_DUP         = 1 // dup2(caller's SrcFd, embryo's Fd)
	PIDFD_FD_CLOSE       = 2 // close embryo's Fd: EBADF if not open
	PIDFD_FD_CLOSE_RANGE = 3 // close_range(Fd, MaxFd, Flags) in the embryo
	PIDFD_FD_OPEN        = 4 // openat2(SrcFd, Path, How) as the embryo, at embryo's Fd
	PIDFD_FD_INHERIT     = 5 // replace the embryo's table by the caller's non-CLOEXEC fds
)

// PIDFD_FD_CLOEXEC is the flag of PIDFD_FD_DUP that sets FD_CLOEXEC on the
// embryo's descriptor (it is cleared otherwise, as dup2 does).
const PIDFD_FD_CLOEXEC = 1 << 0

// Pointers in the argument structs are user addresses in 64-bit fields
// (__aligned_u64), as in clone_args and open_how. A Go pointer stored there
// must stay valid until the system call returns: point only at memory that
// cannot move (heap objects kept alive with runtime.KeepAlive, or memory
// from mmap), never at a stack variable.

// ExecArg is struct pidfd_exec: the program, resolved at run by the embryo
// as execveat(Dirfd, Path, ..., Flags) would.
type ExecArg struct {
	Path  uint64 // const char *
	Dirfd int32  // a descriptor in the embryo's table, or AT_FDCWD
	Flags uint32 // AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW
}

// StringsArg is struct pidfd_strings, the argument of PIDFD_CONFIG_ARGV and
// PIDFD_CONFIG_ENVP: a NULL-terminated array of strings, copied at once.
// Strings == 0 means an empty vector.
type StringsArg struct {
	Strings uint64 // const char *const *
}

// FDArg is struct pidfd_fd, one file descriptor action.
type FDArg struct {
	Action  uint32
	Flags   uint32 // DUP: PIDFD_FD_CLOEXEC; CLOSE_RANGE: CLOSE_RANGE_CLOEXEC; others: 0
	SrcFd   int32  // DUP: caller's fd; OPEN: caller's dirfd or AT_FDCWD (the embryo's cwd)
	Fd      uint32 // DUP, OPEN, CLOSE: embryo's fd; CLOSE_RANGE: first
	MaxFd   uint32 // CLOSE_RANGE: last, inclusive
	Spare   uint32 // must be 0
	Path    uint64 // OPEN: const char *
	How     uint64 // OPEN: struct open_how *
	HowSize uint64 // OPEN: sizeof(*How)
}

// CwdArg is struct pidfd_cwd: chdir(Path) relative to the caller's Dirfd (or
// the embryo's cwd for AT_FDCWD), as the embryo; AT_EMPTY_PATH with "" is
// fchdir(Dirfd).
type CwdArg struct {
	Path  uint64 // const char *
	Dirfd int32
	Flags uint32 // AT_EMPTY_PATH
}

// SignalsArg is struct pidfd_signals: the signal state at start. Bit n-1
// stands for signal n (see SigBit). Every signal not in Ignored gets SIG_DFL,
// but with PIDFD_SIGNALS_INHERIT_IGNORED in Flags, where the signals that the
// caller ignores at the call are ignored too.
type SignalsArg struct {
	Blocked uint64
	Ignored uint64
	Flags   uint64 // PIDFD_SIGNALS_INHERIT_IGNORED; PIDFD_SIGNALS_SIZE_VER1
}

// PIDFD_SIGNALS_INHERIT_IGNORED in SignalsArg.Flags ignores, besides
// Ignored, every signal the caller ignores at the call, as fork and execve
// keep them.
const PIDFD_SIGNALS_INHERIT_IGNORED = 1 << 0

// RlimitArg is struct pidfd_rlimit: setrlimit(Resource) by the embryo, the
// limits as prlimit64 takes them (RLIM_INFINITY for none).
type RlimitArg struct {
	Resource uint32
	Spare    uint32 // must be 0
	Cur      uint64
	Max      uint64
}

// UmaskArg is struct pidfd_umask: umask(Umask) by the embryo; bits other
// than 0777 are EINVAL.
type UmaskArg struct {
	Umask uint64
}

// IDsArg is struct pidfd_ids: setresuid (PIDFD_CONFIG_UIDS) or setresgid
// (PIDFD_CONFIG_GIDS) made by the embryo itself; KeepID leaves an id as it
// is.
type IDsArg struct {
	Real      uint32
	Effective uint32
	Saved     uint32
	Spare     uint32 // must be 0
}

// RootArg is struct pidfd_root: chroot(Path) as the embryo, looked up as
// for CwdArg; AT_EMPTY_PATH with an empty path is fchroot(Dirfd).
type RootArg struct {
	Path  uint64
	Dirfd int32
	Flags uint32 // AT_EMPTY_PATH
}

// PgidArg is struct pidfd_pgid: setpgid(0, Pgid) made by the embryo
// itself; 0 for a new group that it leads.
type PgidArg struct {
	Pgid  int32
	Spare uint32 // must be 0
}

// PdeathsigArg is struct pidfd_pdeathsig: prctl(PR_SET_PDEATHSIG, Signal)
// for the embryo, whose parent is the thread that created it; 0 for none.
type PdeathsigArg struct {
	Signal uint32
	Spare  uint32 // must be 0
}

// CgroupArg is struct pidfd_cgroup: Fd, in the caller's table, names a
// cgroup2 directory (O_PATH will do), into whose cgroup.procs the embryo
// writes "0", as a process moves itself.
type CgroupArg struct {
	Fd    int32
	Spare uint32 // must be 0
}

// TTYArg is struct pidfd_tty: Fd, in the caller's table, is the terminal
// on which the embryo makes the job control request of PIDFD_CONFIG_CTTY,
// PIDFD_CONFIG_NOCTTY or PIDFD_CONFIG_FOREGROUND.
type TTYArg struct {
	Fd    int32
	Flags uint32 // PIDFD_TTY_STEAL for PIDFD_CONFIG_CTTY, else 0
}

// PIDFD_TTY_STEAL makes PIDFD_CONFIG_CTTY take the terminal from another
// session, as TIOCSCTTY's argument 1 does (with CAP_SYS_ADMIN).
const PIDFD_TTY_STEAL = 1 << 0

// KeepID in an IDsArg field leaves that id unchanged, as -1 does for
// setresuid.
const KeepID = ^uint32(0)

// GroupsArg is struct pidfd_groups: setgroups(Count, List) made by the
// embryo itself; List is the address of Count uint32 group ids.
type GroupsArg struct {
	List  uint64
	Count uint32
	Spare uint32 // must be 0
}
