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
// one FD DUP per child descriptor, CWD for Dir, SIGNALS) and starts it with
// pidfd_spawn_run: no fork, no copy of the caller's page tables, and no
// process-wide lock (os/exec serializes every fork on syscall.ForkLock).
// A failed step returns a *StepError naming the command and its argument
// ("spawn: FD DUP 9→3: EBADF"), which errors.Is matches with the errno.
//
// Otherwise Start falls back to os/exec's own mechanism, os.StartProcess
// (fork and exec); everything else (I/O, waiting, cancellation) is the same
// code on both paths. It falls back when the kernel has no empty pidfds
// (probed once, cached), when SysProcAttr asks for something no
// pidfd_config command does yet, and when the child's RLIMIT_NOFILE cannot
// be restored (below). Mechanism and FallbackReason say which path a
// started Cmd took and why; nothing is silently ignored.
//
// SysProcAttr: PidFD works on both paths (it receives a duplicate of the
// pidfd); every other non-zero field (Setsid, Setpgid, Credential,
// Pdeathsig, Setctty, Foreground, Chroot, Cloneflags, CgroupFD, ...) falls
// back, until the kernel has the command for it.
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
//     ignores (SIG_IGN survives exec, as after fork) and starts with an
//     empty blocked mask. os/exec gives it the mask the Go program started
//     with, which is empty unless the program's parent blocked signals.
//   - RLIMIT_NOFILE: Go raises its soft limit at startup and os/exec gives
//     the child the original back. That value is private to package
//     syscall, so on a kernel with empty pidfds spawn learns it once, at
//     initialization (the process is small then, and the program watches
//     no SIGCHLD yet), from a child os/exec starts (/proc/self/exe, traced,
//     stopped at its exec before it runs an instruction, then killed), and
//     creates embryos with the soft limit lowered to it for the duration of
//     pidfd_open (rlimits are copied at creation; the kernel has no RLIMIT
//     command yet). If the program changes its limit later, the next Start
//     learns again, and that child is visible to it. If ptrace is not
//     allowed, or fewer than 64 descriptors are free below the lowered
//     limit (the lowering is process-wide, and an open() in another
//     goroutine would fail with EMFILE meanwhile), Start falls back. The
//     lowering is serialized by a mutex, a lock around every pidfd_open,
//     until the kernel can set an embryo's limits itself.
//   - GODEBUG=execwait's finalizer check of leaked Cmds is not done.
package spawn
