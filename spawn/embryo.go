package spawn

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

// embryoUnusable says why c cannot start through an embryo ("" if it can):
// no empty pidfds, or a SysProcAttr field no pidfd_config command does.
func (c *Cmd) embryoUnusable() string {
	if err := pidfd.Probe(); err != nil {
		return err.Error()
	}
	if f := unsupportedAttr(c.SysProcAttr); f != "" {
		return "SysProcAttr." + f + ": no pidfd_config command for it in this kernel"
	}
	return ""
}

// embryoAttrs are the SysProcAttr fields the embryo path honours, each
// with the pidfd_config commands it needs (none: the embryo itself).
var embryoAttrs = map[string][]int{
	"PidFD":       nil,
	"Credential":  {pidfd.PIDFD_CONFIG_GROUPS, pidfd.PIDFD_CONFIG_GIDS, pidfd.PIDFD_CONFIG_UIDS},
	"Chroot":      {pidfd.PIDFD_CONFIG_ROOT},
	"Setsid":      {pidfd.PIDFD_CONFIG_SETSID},
	"Setpgid":     {pidfd.PIDFD_CONFIG_PGID},
	"Pdeathsig":   {pidfd.PIDFD_CONFIG_PDEATHSIG},
	"UseCgroupFD": {pidfd.PIDFD_CONFIG_CGROUP},
	// CgroupFD without UseCgroupFD is ignored by a fork too.
	"CgroupFD": nil,
	// Pgid without Setpgid or Foreground does nothing in a forked
	// child either.
	"Pgid": nil,
	// Foreground implies Setpgid, as in a forked child.
	"Foreground": {pidfd.PIDFD_CONFIG_PGID, pidfd.PIDFD_CONFIG_FOREGROUND},
	"Setctty":    {pidfd.PIDFD_CONFIG_CTTY},
	"Noctty":     {pidfd.PIDFD_CONFIG_NOCTTY},
	// Ctty names the terminal of Setctty or Foreground, and alone does
	// nothing in a forked child either.
	"Ctty": nil,
}

// unsupportedAttr names the first non-zero field of a that the embryo path
// cannot do on this kernel.
func unsupportedAttr(a *syscall.SysProcAttr) string {
	return unsupportedAttrWith(a, pidfd.HasCommand)
}

func unsupportedAttrWith(a *syscall.SysProcAttr, has func(cmd int) bool) string {
	if a == nil {
		return ""
	}
	v := reflect.ValueOf(a).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if v.Field(i).IsZero() {
			continue
		}
		cmds, ok := embryoAttrs[name]
		if !ok {
			return name
		}
		for _, cmd := range cmds {
			if !has(cmd) {
				return name
			}
		}
	}
	return ""
}

// configCredential makes the embryo drop to cred as a forked child of
// os/exec does before its exec: setgroups (unless NoSetGroups), then
// setgid and setuid. setgid(g) and setuid(u) become setresgid and
// setresuid with the ids they would set: all three with CAP_SETGID or
// CAP_SETUID, the effective one alone without.
func configCredential(fd int, cred *syscall.Credential) error {
	setgid, setuid, err := capsToSetIDs()
	if err != nil {
		return &StepError{Step: "GIDS", Arg: "reading the caller's capabilities", Err: err}
	}
	if !cred.NoSetGroups {
		if err := pidfd.ConfigGroups(fd, cred.Groups); err != nil {
			return &StepError{Step: "GROUPS", Arg: fmt.Sprint(cred.Groups), Err: err}
		}
	}
	k := pidfd.KeepID
	r, s := k, k
	if setgid {
		r, s = cred.Gid, cred.Gid
	}
	if err := pidfd.ConfigGIDs(fd, r, cred.Gid, s); err != nil {
		return &StepError{Step: "GIDS", Arg: strconv.FormatUint(uint64(cred.Gid), 10), Err: err}
	}
	r, s = k, k
	if setuid {
		r, s = cred.Uid, cred.Uid
	}
	if err := pidfd.ConfigUIDs(fd, r, cred.Uid, s); err != nil {
		return &StepError{Step: "UIDS", Arg: strconv.FormatUint(uint64(cred.Uid), 10), Err: err}
	}
	return nil
}

// capsToSetIDs reports whether the calling thread (the embryo's creator,
// whose credentials the embryo has) holds CAP_SETGID and CAP_SETUID in its
// effective set.
func capsToSetIDs() (setgid, setuid bool, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false, false, err
	}
	has := func(c int) bool { return data[c/32].Effective&(1<<(uint(c)%32)) != 0 }
	return has(unix.CAP_SETGID), has(unix.CAP_SETUID), nil
}

// startEmbryo creates, configures and runs an embryo: files[i] becomes
// the child's fd i (a nil entry stays closed, or is /dev/null if nulls
// has it), and the first candidate that execs is the program.
func (c *Cmd) startEmbryo(cands []string, env *envVector, files []*os.File, nulls nullStreams) (err error) {
	if err := checkCtty(c.SysProcAttr, len(files)); err != nil {
		return &os.PathError{Op: "fork/exec", Path: c.Path, Err: err}
	}
	// The kernel lets only the credentials that created an embryo
	// configure and run it, compared by identity, and a process-wide
	// set*id() (Go's AllThreadsSyscall, glibc's broadcast) gives each
	// thread its own, equal, credentials: create, configure and run on
	// one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		// os/exec's stat of Dir comes first: so does its error.
		if derr := c.checkDir(); derr != nil {
			return derr
		}
		return &StepError{Step: "pidfd_open", Arg: "PIDFD_EMPTY", Err: err}
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	// os/exec stats Dir before it does anything else (before it asks
	// the files for their descriptors, which can make one blocking).
	// Without a SysProcAttr no later command changes how CWD is judged
	// (no ROOT, no credentials), so CWD goes first and fails where that
	// stat would.
	cwdFirst := c.Dir != "" && c.SysProcAttr == nil
	if cwdFirst {
		if err := c.configCwd(fd); err != nil {
			return err
		}
	}
	argv := c.argv()
	if err := pidfd.ConfigArgv(fd, argv); err != nil {
		return &StepError{Step: "ARGV", Arg: strconv.Quote(argv[0]) + "...", Err: err}
	}
	if err := pidfd.ConfigEnvpVector(fd, env.vec); err != nil {
		return &StepError{Step: "ENVP", Err: err}
	}
	keepEnv(env)
	for i, f := range files {
		if f == nil {
			if nulls.has(i) {
				if err := openNull(fd, i); err != nil {
					return err
				}
			}
			continue
		}
		src := int(f.Fd())
		if src < 0 {
			// A closed *os.File: fork+exec leaves the child's fd
			// closed, and so does the embryo.
			continue
		}
		if err := pidfd.ConfigFDDup(fd, src, i, 0); err != nil {
			return &StepError{Step: "FD DUP", Arg: fmt.Sprintf("%d→%d", src, i), Err: err}
		}
	}
	runtime.KeepAlive(files)
	// As in a forked child: the cgroup (CLONE_INTO_CGROUP, at the
	// clone), setsid, setpgid, chroot, then the credentials, then the
	// chdir, each judged by the credentials of the moment, and the
	// parent-death signal last, which a change of the credentials would
	// clear.
	if c.SysProcAttr != nil && c.SysProcAttr.UseCgroupFD {
		if err := pidfd.ConfigCgroup(fd, c.SysProcAttr.CgroupFD); err != nil {
			return &StepError{Step: "CGROUP", Arg: strconv.Itoa(c.SysProcAttr.CgroupFD), Err: err}
		}
	}
	if c.SysProcAttr != nil && c.SysProcAttr.Setsid {
		if err := pidfd.ConfigSetsid(fd); err != nil {
			return &StepError{Step: "SETSID", Err: err}
		}
	}
	if c.SysProcAttr != nil && (c.SysProcAttr.Setpgid || c.SysProcAttr.Foreground) {
		if err := pidfd.ConfigPgid(fd, c.SysProcAttr.Pgid); err != nil {
			return &StepError{Step: "PGID", Arg: strconv.Itoa(c.SysProcAttr.Pgid), Err: err}
		}
	}
	// Foreground's Ctty is a descriptor of ours, as in a forked child,
	// which calls tcsetpgrp() before it arranges its descriptors.
	if c.SysProcAttr != nil && c.SysProcAttr.Foreground {
		if err := pidfd.ConfigForeground(fd, c.SysProcAttr.Ctty); err != nil {
			return &StepError{Step: "FOREGROUND", Arg: strconv.Itoa(c.SysProcAttr.Ctty), Err: err}
		}
	}
	if c.SysProcAttr != nil && c.SysProcAttr.Chroot != "" {
		if err := pidfd.ConfigRoot(fd, unix.AT_FDCWD, c.SysProcAttr.Chroot, 0); err != nil {
			return &StepError{Step: "ROOT", Arg: c.SysProcAttr.Chroot, Err: err}
		}
	}
	if c.SysProcAttr != nil && c.SysProcAttr.Credential != nil {
		if err := configCredential(fd, c.SysProcAttr.Credential); err != nil {
			return err
		}
	}
	if c.Dir != "" && !cwdFirst {
		if err := c.configCwd(fd); err != nil {
			return err
		}
	}
	// The embryo's parent is this thread, locked to us until the run,
	// as a forked child's is the thread that forked it: the signal
	// comes when the thread exits, which a Go thread does only when a
	// goroutine that locked it ends without unlocking (see
	// syscall.SysProcAttr.Pdeathsig). If it has exited by the start,
	// the child gets the signal then, where os/exec's child sends it to
	// itself.
	if c.SysProcAttr != nil && c.SysProcAttr.Pdeathsig != 0 {
		if err := pidfd.ConfigPdeathsig(fd, unix.Signal(c.SysProcAttr.Pdeathsig)); err != nil {
			return &StepError{Step: "PDEATHSIG", Arg: c.SysProcAttr.Pdeathsig.String(), Err: err}
		}
	}
	// Noctty's terminal is the child's 0, Setctty's its Ctty, as a
	// forked child names them after it has arranged its descriptors:
	// the embryo is given the files that will be those.
	if c.SysProcAttr != nil && c.SysProcAttr.Noctty {
		if err := pidfd.ConfigNoctty(fd, childFD(files, 0)); err != nil {
			return &StepError{Step: "NOCTTY", Arg: "0", Err: err}
		}
	}
	if c.SysProcAttr != nil && c.SysProcAttr.Setctty {
		// Steal, as a forked child's TIOCSCTTY with 1 does.
		if err := pidfd.ConfigCtty(fd, childFD(files, c.SysProcAttr.Ctty), true); err != nil {
			return &StepError{Step: "CTTY", Arg: strconv.Itoa(c.SysProcAttr.Ctty), Err: err}
		}
	}
	runtime.KeepAlive(files)
	if err := configIgnored(fd); err != nil {
		return err
	}
	var pid int
	var first error
	for _, path := range cands {
		if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, path, 0); err != nil {
			return &StepError{Step: "EXEC", Arg: path, Err: err}
		}
		pid, err = pidfd.SpawnRun(fd, 0)
		if err == nil {
			// Only a later PATH candidate changes Path: String
			// may read it meanwhile (as os/exec's TestPathRace).
			if path != c.Path {
				c.Path = path
			}
			break
		}
		if first == nil {
			first = &StepError{Step: "RUN", Arg: path, Err: err}
		}
		if !retryable(err) {
			break
		}
	}
	if pid <= 0 {
		return first
	}
	// The child is ours and unreaped: its pid cannot be reused before
	// Wait, so FindProcess (which opens a pidfd of its own) finds it.
	if c.Process, err = os.FindProcess(pid); err != nil {
		return fmt.Errorf("spawn: started pid %d but cannot find it: %w", pid, err)
	}
	if err := c.givePidFD(fd); err != nil {
		c.Process.Kill()
		c.Process.Wait()
		c.Process = nil
		return err
	}
	c.pidfd = fd
	return nil
}

// configCwd makes Dir the embryo's working directory. Where os/exec's
// Start would have failed to stat Dir (no SysProcAttr), it fails with that
// "chdir" *PathError, else with the command's.
func (c *Cmd) configCwd(fd int) error {
	err := pidfd.ConfigCwd(fd, unix.AT_FDCWD, c.Dir, 0)
	if err == nil {
		return nil
	}
	if derr := c.checkDir(); derr != nil {
		return derr
	}
	return &StepError{Step: "CWD", Arg: c.Dir, Err: err}
}

// openNull opens /dev/null as the embryo's descriptor n, for reading if
// n is 0, else for writing, as os/exec opens it for a nil stream. The
// embryo's root and credentials are still ours: the same file.
func openNull(fd, n int) error {
	how := unix.OpenHow{Flags: unix.O_WRONLY}
	if n == 0 {
		how.Flags = unix.O_RDONLY
	}
	if err := pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, os.DevNull, &how, n); err != nil {
		return &StepError{Step: "FD OPEN", Arg: fmt.Sprintf("%s→%d", os.DevNull, n), Err: err}
	}
	return nil
}

// checkCtty refuses what syscall.StartProcess refuses before it forks:
// both Setctty and Foreground, and a Setctty whose Ctty is not one of the
// child's nfiles descriptors.
func checkCtty(a *syscall.SysProcAttr, nfiles int) error {
	if a == nil {
		return nil
	}
	if a.Setctty && a.Foreground {
		return errors.New("both Setctty and Foreground set in SysProcAttr")
	}
	if a.Setctty && a.Ctty >= nfiles {
		return errors.New("Setctty set but Ctty not valid in child")
	}
	return nil
}

// childFD is our descriptor of the file that becomes the child's fd n, or
// -1 (EBADF) if the child's n will be closed.
func childFD(files []*os.File, n int) int {
	if n < 0 || n >= len(files) || files[n] == nil {
		return -1
	}
	return int(files[n].Fd())
}

// givePidFD hands SysProcAttr.PidFD a duplicate of fd, if asked.
func (c *Cmd) givePidFD(fd int) error {
	if c.SysProcAttr == nil || c.SysProcAttr.PidFD == nil {
		return nil
	}
	d, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("spawn: duplicating the pidfd for SysProcAttr.PidFD: %w", err)
	}
	*c.SysProcAttr.PidFD = d
	return nil
}

// startForkExec is the fallback: os.StartProcess, candidate by candidate.
// It asks for a pidfd (CLONE_PIDFD) to be the Cmd's handle as the embryo
// is.
func (c *Cmd) startForkExec(cands, env []string, files []*os.File) error {
	pfd := -1
	attr := syscall.SysProcAttr{}
	if c.SysProcAttr != nil {
		attr = *c.SysProcAttr
	}
	attr.PidFD = &pfd
	var first error
	for _, path := range cands {
		p, err := os.StartProcess(path, c.argv(), &os.ProcAttr{Dir: c.Dir, Env: env, Files: files, Sys: &attr})
		if err == nil {
			if path != c.Path {
				c.Path = path
			}
			c.Process, c.pidfd = p, pfd
			if err := c.givePidFD(pfd); err != nil {
				p.Kill()
				p.Wait()
				unix.Close(pfd)
				c.Process, c.pidfd = nil, -1
				return err
			}
			return nil
		}
		if first == nil {
			first = err
		}
		if !retryable(err) {
			break
		}
	}
	return first
}

// ignoredSignalsFromStatus is the caller's set of ignored signals from
// /proc/self/status (SigIgn), read with three system calls into a buffer
// on the stack: where rt_sigaction() queries cannot give it (see
// ignoredSignals).
func ignoredSignalsFromStatus() (uint64, error) {
	const path = "/proc/self/status"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var buf [4096]byte
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
		if v, ok := sigIgn(buf[:n]); ok {
			return v, nil
		}
	}
	if v, ok := sigIgn(buf[:n]); ok {
		return v, nil
	}
	return 0, fmt.Errorf("no SigIgn line in the first %d bytes of %s", n, path)
}

// sigIgn parses the mask of a complete "SigIgn:\t<hex>\n" line of status.
func sigIgn(status []byte) (uint64, bool) {
	const key = "\nSigIgn:"
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := status[i+len(key):]
	j := bytes.IndexByte(rest, '\n')
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(rest[:j])), 16, 64)
	return v, err == nil
}

// inheritIgnored says whether the kernel takes PIDFD_SIGNALS_INHERIT_IGNORED:
// 0 until a first Start finds out, then inheritYes or inheritNo.
var inheritIgnored atomic.Int32

const (
	inheritYes = 1
	inheritNo  = 2
)

// configIgnored gives the embryo the caller's ignored signals, which a
// forked child would keep across its exec: in one call where the kernel
// takes PIDFD_SIGNALS_INHERIT_IGNORED (all of them, above 64 too), else
// by asking for each (ignoredSignals) and passing the set.
func configIgnored(fd int) error {
	if inheritIgnored.Load() != inheritNo {
		err := pidfd.ConfigSignalsFlags(fd, 0, 0, pidfd.PIDFD_SIGNALS_INHERIT_IGNORED)
		switch {
		case err == nil:
			inheritIgnored.Store(inheritYes)
			return nil
		case errors.Is(err, unix.E2BIG) && inheritIgnored.Load() == 0:
			// A struct pidfd_signals without flags: an older kernel.
			inheritIgnored.Store(inheritNo)
		default:
			return &StepError{Step: "SIGNALS", Arg: "inherit ignored", Err: err}
		}
	}
	ignored, err := ignoredSignals()
	if err != nil {
		return &StepError{Step: "SIGNALS", Arg: "reading the caller's ignored set", Err: err}
	}
	// An embryo starts with every disposition the default and nothing
	// blocked: with nothing ignored there is nothing to set.
	if ignored != 0 {
		if err := pidfd.ConfigSignals(fd, 0, ignored); err != nil {
			return &StepError{Step: "SIGNALS", Arg: fmt.Sprintf("ignored %#x", ignored), Err: err}
		}
	}
	return nil
}
