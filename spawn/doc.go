// Package spawn runs external commands like os/exec, on empty pidfds where
// the kernel has them.
//
// A Cmd has the fields and methods of exec.Cmd and the same defaults: a nil
// Env is the caller's environment, nil standard streams are /dev/null, a
// non-*os.File Stdin, Stdout or Stderr is fed by a copying goroutine, Wait
// releases everything, a Cmd from CommandContext is killed (or Cancel is
// called) when its context is done, and WaitDelay bounds the wait for I/O.
// Its errors are os/exec's where os/exec has one: exec.ErrDot, ErrNotFound,
// *exec.Error and *exec.ExitError (ExitError, Error, ErrDot, ErrNotFound
// and ErrWaitDelay here are aliases of them, so errors.As and errors.Is
// work with either package's names).
//
// # Two mechanisms
//
// On a kernel with empty pidfds, Start creates an embryo with
// pidfd_open(0, PIDFD_EMPTY), configures it with pidfd_config (ARGV, ENVP,
// one FD DUP per child descriptor, or an FD OPEN of /dev/null by the embryo
// for a nil stream, CGROUP for SysProcAttr.UseCgroupFD,
// SETSID for Setsid, PGID for Setpgid, FOREGROUND for Foreground, ROOT for
// Chroot, GROUPS, GIDS and UIDS for Credential, CWD for Dir, PDEATHSIG for
// Pdeathsig, NOCTTY for Noctty, CTTY for Setctty, SIGNALS if the caller
// ignores a signal) and
// starts it with
// pidfd_spawn_run: no fork, no copy of the caller's page tables, and no
// process-wide lock (os/exec serializes every fork on syscall.ForkLock).
// A failed step returns a *StepError naming the command and its argument
// ("spawn: FD DUP 9→3: EBADF"), which errors.Is matches with the errno.
//
// Otherwise Start falls back to os/exec's own mechanism, os.StartProcess
// (fork and exec); everything else (I/O, waiting, cancellation) is the same
// code on both paths. It falls back when the kernel has no empty pidfds
// (probed once, cached, at the first Start) and when SysProcAttr asks for
// something no pidfd_config command does yet. Mechanism and FallbackReason say which path a
// started Cmd took and why; nothing is silently ignored.
//
// SysProcAttr: PidFD works on both paths (it receives a duplicate of the
// pidfd), UseCgroupFD (with CgroupFD), Setsid, Setpgid (with Pgid),
// Foreground, Setctty and Noctty (with Ctty), Chroot, Credential and
// Pdeathsig go through the embryo on a kernel with the CGROUP, SETSID,
// PGID, FOREGROUND, CTTY, NOCTTY, ROOT, credential and PDEATHSIG commands;
// every other non-zero
// field falls back, until the
// kernel has the command for it. What each field, and each posix_spawn
// attribute, needs:
//
//	Cmd.Path, Args, Env           EXEC, ARGV, ENVP
//	Cmd.Dir                       CWD
//	Stdin, Stdout, Stderr,        FD DUP; FD OPEN of /dev/null for a nil stream
//	  ExtraFiles                  (FD DUP of our /dev/null with Noctty or Setctty)
//	(signals)                     SIGNALS (the caller's ignored set; POSIX_SPAWN_SETSIGMASK, SETSIGDEF)
//	SysProcAttr.PidFD             the embryo's pidfd (on both paths)
//	Setsid                        SETSID (POSIX_SPAWN_SETSID)
//	Setpgid, Pgid                 PGID (POSIX_SPAWN_SETPGROUP)
//	Foreground, Ctty              PGID, then FOREGROUND on our Ctty (glibc's addtcsetpgrp_np)
//	Setctty, Ctty                 CTTY, with steal, on the file that is the child's Ctty
//	Noctty                        NOCTTY on the file that is the child's 0
//	Credential                    GROUPS (unless NoSetGroups), GIDS, UIDS (POSIX_SPAWN_RESETIDS)
//	AmbientCaps                   none yet: falls back
//	Pdeathsig                     PDEATHSIG (the thread that called Start is the parent, as after fork)
//	UseCgroupFD, CgroupFD         CGROUP, before the credentials, as CLONE_INTO_CGROUP (glibc's setcgroup_np)
//	Chroot                        ROOT
//	Cloneflags, Unshareflags,     none: falls back (namespaces are not commands)
//	  UidMappings, GidMappings,
//	  GidMappingsEnableSetgroups
//	Ptrace                        none: falls back (an embryo cannot be traced)
//	(scheduling)                  SCHED (POSIX_SPAWN_SETSCHEDULER, SETSCHEDPARAM; no SysProcAttr field)
//
// The kernel's RLIMIT, UMASK, NO_NEW_PRIVS and SCHED commands have no
// SysProcAttr field; package pidfd has them (ConfigRlimit, ConfigUmask,
// ConfigNoNewPrivs, ConfigSched) for a program that drives an embryo
// itself.
//
// # The pidfd is the handle
//
// After Start, PidFD returns the pidfd (the embryo's own fd, or the one
// fork gave): an event loop can poll it (readable when the child exits).
// Wait waits on it, then reaps through Process, an *os.Process that
// os.FindProcess opens by pidfd (safe: the child is ours and not yet
// reaped, so its pid cannot be reused), whose Signal and Kill use
// pidfd_send_signal.
//
// # PATH search
//
// Command resolves a bare name with LookPath, as os/exec does, so Path,
// String and Err are the same. Start then execs; if the kernel refuses the
// candidate with ENOENT, ENOTDIR or EACCES (it vanished, or a noexec mount
// or an LSM denies it although its mode bits allow it), Start goes on with
// the next $PATH entry that names the program, as execvp does, and returns
// the first error if none runs. On the embryo path every attempt is one
// EXEC and one pidfd_spawn_run on the same embryo (a failed exec leaves it
// configurable); on the fallback path every attempt is a fork. Path is
// updated to the program that ran.
//
// # Differences from os/exec
//
//   - The PATH retry above: os/exec fails with the first candidate's error.
//   - Exec failures on the embryo path are *StepError ("spawn: RUN
//     /bin/x: ENOENT") wrapping the errno, not *os.PathError ("fork/exec
//     /bin/x: no such file or directory"); errors.Is(err, fs.ErrNotExist)
//     and errors.Is(err, syscall.ENOENT) hold for both.
//   - Signals: the embryo child ignores exactly the signals the caller
//     ignores at Start (SIG_IGN survives exec, as after fork; one
//     PIDFD_SIGNALS_INHERIT_IGNORED call, or on a kernel without the flag
//     an rt_sigaction query of each of signals 1 to 64) and starts with an
//     empty blocked mask. os/exec gives it the mask the Go program started
//     with, which is empty unless the program's parent blocked signals.
//   - RLIMIT_NOFILE: the embryo child gets the caller's current limits,
//     as a child of posix_spawn from C does. Go raises its own soft
//     RLIMIT_NOFILE at startup (to the hard limit minus one), and os/exec
//     gives its children the soft limit the program started with (unless
//     the program set the limit itself since, with syscall.Setrlimit).
//     That value is private to package syscall, and no library can learn
//     it without starting a process, which spawn will not do behind its
//     caller's back (importing spawn starts nothing, and Start starts only
//     the child). So an embryo child of a Go program sees a higher soft
//     limit than an os/exec child; only a program that uses select() on
//     descriptors it numbers above 1023 can tell. A program that wants a
//     lower soft limit in its children sets its own with
//     syscall.Setrlimit before it starts them: os/exec and spawn then
//     both pass that one on. The fallback path is os/exec's, and
//     restores.
//   - Credential: a forked child calls setgid(Gid) and setuid(Uid); the
//     embryo makes setresgid and setresuid with the ids those would set
//     (all three with CAP_SETGID or CAP_SETUID in the caller's effective
//     set, the effective one alone without), so the child ends with the
//     same ids. An unprivileged caller that names its own effective id
//     when it is neither its real nor its saved one gets no EPERM, where
//     setgid and setuid refuse it.
//   - GODEBUG=execwait's finalizer check of leaked Cmds is not done.
//   - The environment: the package keeps the last four environments that
//     embryos took, of up to 64 KiB each (a copy of the slice and the
//     kernel's vector of it, until four others replace it), so that a
//     program that starts its commands with a few environments lays each
//     out once. Their strings stay referenced meanwhile.
//   - Dir is not stat'ed before an embryo. Without a SysProcAttr the
//     embryo's first command after its creation is CWD, and only its
//     failure makes the stat, so that Start fails with os/exec's "chdir"
//     error before it has touched the files or sent the environment; an
//     embryo has been created and is destroyed.
package spawn
