package creds

// PIDFD_CONFIG_CTTY, _NOCTTY and _FOREGROUND: job control requests the
// embryo makes itself on a terminal of its creator's table, as TIOCSCTTY,
// TIOCNOTTY and tcsetpgrp() of its own group. Each row runs in a helper
// that leads a session whose controlling terminal is a fresh
// pseudo-terminal, and checks what the started child sees (childreport's
// session line: session, group, /dev/tty and its foreground group), the
// permission failures of an embryo that dropped to uid 4242, a set-user-ID
// program's start, and that the helper's own terminal is left as it was.

import (
	"encoding/json"
	"fmt"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() { helpers["tty"] = helperTTY }

// ttyArg is a row: the steps, by name, the one expected to fail and its
// errno, and the program the embryo runs.
type ttyArg struct {
	Steps   []string
	Failing int // -1 for none
	Errno   unix.Errno
	Prog    string
}

// ttyResult is what the helper saw: its own session, group and terminal
// before and after, and the child's report (nil if a step failed).
type ttyResult struct {
	Sid, Pgrp     int
	TermSid       int // TIOCGSID of the terminal after the run, -1 for none
	HelperHasTTY  bool
	ChildPid      int
	ChildSession  childreport.Session
	ChildEuid     int
	FailedStepErr string
}

// openPty opens a pseudo-terminal: its master and its slave, O_NOCTTY
// unless ctty.
func openPty(ctty bool) (master, slave int, err error) {
	master, err = unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("opening /dev/ptmx: %s", embryo.Name(err))
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("unlockpt: %s", embryo.Name(err))
	}
	n, err := unix.IoctlGetInt(master, unix.TIOCGPTN)
	if err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("ptsname: %s", embryo.Name(err))
	}
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if !ctty {
		flags |= unix.O_NOCTTY
	}
	slave, err = unix.Open("/dev/pts/"+strconv.Itoa(n), flags, 0)
	if err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("opening /dev/pts/%d: %s", n, embryo.Name(err))
	}
	return master, slave, nil
}

// helperTTY runs one row in a session leader (the test starts it with
// Setsid) whose controlling terminal is a new pseudo-terminal.
func helperTTY(raw json.RawMessage) (any, error) {
	var arg ttyArg
	if err := json.Unmarshal(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	// The child's exit as the terminal's session leader sends SIGHUP
	// to the terminal's foreground group, which may be ours.
	signal.Ignore(syscall.SIGHUP)
	master, tty, err := openPty(true)
	if err != nil {
		return nil, err
	}
	defer unix.Close(master)
	defer unix.Close(tty)
	res := ttyResult{Sid: unix.Getpid(), Pgrp: unix.Getpgrp()}
	if sid, err := unix.IoctlGetInt(master, unix.TIOCGSID); err != nil || sid != res.Sid {
		return nil, fmt.Errorf("the pty is not our terminal: session %d, %s", sid, embryo.Name(err))
	}
	// Another terminal, of no session, and one opened write-only.
	m2, other, err := openPty(false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(m2)
	defer unix.Close(other)
	n, _ := unix.IoctlGetInt(m2, unix.TIOCGPTN)
	wronly, err := unix.Open("/dev/pts/"+strconv.Itoa(n), unix.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(wronly)

	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open: %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	steps := map[string]func() error{
		"setsid":            func() error { return pidfd.ConfigSetsid(fd) },
		"pgid":              func() error { return pidfd.ConfigPgid(fd, 0) },
		"ctty":              func() error { return pidfd.ConfigCtty(fd, tty, false) },
		"ctty steal":        func() error { return pidfd.ConfigCtty(fd, tty, true) },
		"ctty other":        func() error { return pidfd.ConfigCtty(fd, other, false) },
		"ctty other wronly": func() error { return pidfd.ConfigCtty(fd, wronly, false) },
		"noctty":            func() error { return pidfd.ConfigNoctty(fd, tty) },
		"foreground":        func() error { return pidfd.ConfigForeground(fd, tty) },
		"uid 4242": func() error {
			if err := pidfd.ConfigGIDs(fd, uidX, uidX, uidX); err != nil {
				return err
			}
			return pidfd.ConfigUIDs(fd, uidX, uidX, uidX)
		},
	}
	for i, name := range arg.Steps {
		step, ok := steps[name]
		if !ok {
			return nil, fmt.Errorf("no step %q", name)
		}
		err := step()
		if i == arg.Failing {
			if err != arg.Errno {
				return nil, fmt.Errorf("step %q: %v, want %s", name, embryo.Name(err), embryo.Name(arg.Errno))
			}
			res.FailedStepErr = embryo.Name(err)
			return res, nil
		}
		if err != nil {
			return nil, fmt.Errorf("step %q: %s", name, embryo.Name(err))
		}
	}
	rep, err := report(fd, arg.Prog)
	if err != nil {
		return nil, err
	}
	res.ChildPid = rep.Pid
	res.ChildSession = rep.Session
	if ids, err := rep.IDs("Uid"); err == nil {
		res.ChildEuid = ids[1]
	}
	// -1: the terminal has no session (its leader exited).
	if res.TermSid, err = unix.IoctlGetInt(master, unix.TIOCGSID); err != nil {
		res.TermSid = -1
	}
	if f, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(f)
		res.HelperHasTTY = true
	}
	return res, nil
}

func TestTTY(t *testing.T) {
	for _, c := range []struct {
		cmd  int
		name string
	}{{pidfd.PIDFD_CONFIG_CTTY, "PIDFD_CONFIG_CTTY"}, {pidfd.PIDFD_CONFIG_NOCTTY, "PIDFD_CONFIG_NOCTTY"},
		{pidfd.PIDFD_CONFIG_FOREGROUND, "PIDFD_CONFIG_FOREGROUND"}} {
		requireCommand(t, c.cmd, c.name)
	}
	suid := suidCopy(t)
	const (
		helperSid = -2 // the helper's session (or group)
		child     = -3 // the child's pid
		none      = -1
	)
	for _, tc := range []struct {
		name    string
		steps   []string
		failing int
		errno   unix.Errno
		prog    string
		// the child's session, group, /dev/tty errno and foreground
		// group, and the terminal's session and group after the run
		sid, pgrp    int
		ttyErrno     unix.Errno
		fg           int
		termSid      int
		helperHasTTY bool
		euid         int
	}{
		{"inherited", nil, -1, 0, childreport.Path,
			helperSid, helperSid, 0, helperSid, helperSid, true, 0},
		{"setsid, ctty", []string{"setsid", "ctty other"}, -1, 0, childreport.Path,
			child, child, 0, child, helperSid, true, 0},
		{"ctty without setsid", []string{"ctty other"}, 0, unix.EPERM, "", 0, 0, 0, 0, 0, true, 0},
		{"setsid, ctty of the helper's terminal", []string{"setsid", "ctty"}, 1, unix.EPERM, "", 0, 0, 0, 0, 0, true, 0},
		{"noctty", []string{"noctty"}, -1, 0, childreport.Path,
			helperSid, helperSid, unix.ENXIO, none, helperSid, true, 0},
		{"noctty twice", []string{"noctty", "noctty"}, 1, unix.ENOTTY, "", 0, 0, 0, 0, 0, true, 0},
		{"pgid, foreground", []string{"pgid", "foreground"}, -1, 0, childreport.Path,
			helperSid, child, 0, child, helperSid, true, 0},
		{"pgid, uid 4242, foreground", []string{"pgid", "uid 4242", "foreground"}, -1, 0, childreport.Path,
			helperSid, child, 0, child, helperSid, true, uidX},
		{"setsid, ctty, uid 4242, set-user-ID root program", []string{"setsid", "ctty other", "uid 4242"}, -1, 0, suid,
			child, child, 0, child, helperSid, true, 0},
		{"setsid, uid 4242, steal the helper's terminal", []string{"setsid", "uid 4242", "ctty steal"}, 2, unix.EPERM, "", 0, 0, 0, 0, 0, true, 0},
		{"setsid, uid 4242, write-only terminal", []string{"setsid", "uid 4242", "ctty other wronly"}, 2, unix.EPERM, "", 0, 0, 0, 0, 0, true, 0},
		// The child led the terminal's session: its exit leaves the
		// terminal with none.
		{"setsid, steal the helper's terminal", []string{"setsid", "ctty steal"}, -1, 0, childreport.Path,
			child, child, 0, child, none, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failing := tc.failing
			h := helper.New(t, "tty", ttyArg{Steps: tc.steps, Failing: failing, Errno: tc.errno, Prog: tc.prog})
			h.Cmd.SysProcAttr.Setsid = true
			var res ttyResult
			h.Result(&res)
			if failing >= 0 {
				if res.FailedStepErr != embryo.Name(tc.errno) {
					t.Errorf("step %d: %q, want %s", failing, res.FailedStepErr, embryo.Name(tc.errno))
				}
				return
			}
			want := func(v int) int {
				switch v {
				case helperSid:
					return res.Sid
				case child:
					return res.ChildPid
				}
				return v
			}
			s := res.ChildSession
			if s.Sid != want(tc.sid) || s.Pgrp != want(tc.pgrp) || s.TTYErrno != tc.ttyErrno || s.Foreground != want(tc.fg) {
				t.Errorf("the child (pid %d) saw session %d, group %d, /dev/tty %s, foreground %d; want %d, %d, %s, %d (the helper's session %d)",
					res.ChildPid, s.Sid, s.Pgrp, embryo.Name(s.TTYErrno), s.Foreground,
					want(tc.sid), want(tc.pgrp), embryo.Name(tc.ttyErrno), want(tc.fg), res.Sid)
			}
			if res.TermSid != want(tc.termSid) {
				t.Errorf("the helper's terminal's session after the run: %d, want %d (the helper's %d)", res.TermSid, want(tc.termSid), res.Sid)
			}
			if res.HelperHasTTY != tc.helperHasTTY {
				t.Errorf("the helper has a controlling terminal: %v, want %v", res.HelperHasTTY, tc.helperHasTTY)
			}
			if res.ChildEuid != tc.euid {
				t.Errorf("the child's euid %d, want %d", res.ChildEuid, tc.euid)
			}
		})
	}
}

// The terminal commands' errors that need no terminal of one's own: a
// descriptor that is none, or is not a terminal, and flags.
func TestTTYErrors(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_CTTY, "PIDFD_CONFIG_CTTY")
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	master, slave, err := openPty(false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(master)
	defer unix.Close(slave)
	path, err := unix.Open("/dev/ptmx", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(path)
	raw := func(cmd int, fd int32, flags uint32) func(int) error {
		return func(e int) error {
			a := pidfd.TTYArg{Fd: fd, Flags: flags}
			return rawConfig(e, cmd, unsafe.Slice((*byte)(unsafe.Pointer(&a)), unsafe.Sizeof(a)))
		}
	}
	for _, tc := range []struct {
		name  string
		call  func(fd int) error
		errno unix.Errno
	}{
		{"CTTY, fd -1", raw(pidfd.PIDFD_CONFIG_CTTY, -1, 0), unix.EBADF},
		{"CTTY, O_PATH", raw(pidfd.PIDFD_CONFIG_CTTY, int32(path), 0), unix.EBADF},
		{"CTTY, /dev/null", raw(pidfd.PIDFD_CONFIG_CTTY, int32(null), 0), unix.ENOTTY},
		{"CTTY, flag 2", raw(pidfd.PIDFD_CONFIG_CTTY, int32(slave), 2), unix.EINVAL},
		{"NOCTTY, STEAL", raw(pidfd.PIDFD_CONFIG_NOCTTY, int32(slave), pidfd.PIDFD_TTY_STEAL), unix.EINVAL},
		{"FOREGROUND, STEAL", raw(pidfd.PIDFD_CONFIG_FOREGROUND, int32(slave), pidfd.PIDFD_TTY_STEAL), unix.EINVAL},
		{"NOCTTY, not its terminal", raw(pidfd.PIDFD_CONFIG_NOCTTY, int32(slave), 0), unix.ENOTTY},
		{"FOREGROUND, not its terminal", raw(pidfd.PIDFD_CONFIG_FOREGROUND, int32(slave), 0), unix.ENOTTY},
		{"CTTY, not a session leader", raw(pidfd.PIDFD_CONFIG_CTTY, int32(slave), 0), unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			embryo.Check(t, tc.name, tc.call(fd), tc.errno)
			// The embryo is untouched: it still runs.
			if _, err := report(fd, childreport.Path); err != nil {
				t.Errorf("after the error: %v", err)
			}
		})
	}
}
