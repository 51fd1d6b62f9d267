package lifecycle

// PIDFD_CONFIG_SETSID (pidfd_empty.rst): the embryo leads a new session
// and process group whose id is its pid, and that id is as hidden as the
// pid until the start: kill() of the group, getsid(), getpgid() and
// tcsetpgrp() get ESRCH, setpgid() into it EPERM, /proc shows nothing.
// The embryo's pid comes from a privileged observer, the proc connector.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func TestSessionHiddenBeforeStart(t *testing.T) {
	embryo.Require(t)
	s := cnProcSocket(t)
	fd := embryo.New(t)
	pid := forkEventPid(t, s)
	if err := pidfd.ConfigSetsid(fd); err != nil {
		t.Fatalf("PIDFD_CONFIG_SETSID: %s", name(err))
	}
	ownPgrp := unix.Getpgrp()
	type lookup struct {
		name        string
		do          func() error
		before      unix.Errno
		after       unix.Errno
		afterResult func() (int, error)
	}
	lookups := []lookup{
		{"kill(-pgid, 0)", func() error { return unix.Kill(-pid, 0) }, unix.ESRCH, 0, nil},
		{"getsid(pid)", func() error { _, err := unix.Getsid(pid); return err }, unix.ESRCH, 0, func() (int, error) { return unix.Getsid(pid) }},
		{"getpgid(pid)", func() error { _, err := unix.Getpgid(pid); return err }, unix.ESRCH, 0, func() (int, error) { return unix.Getpgid(pid) }},
		// Into a group that is not found, or, after the start, one
		// of another session: EPERM both times.
		{"setpgid(0, pgid)", func() error { return unix.Setpgid(0, pid) }, unix.EPERM, unix.EPERM, nil},
	}
	for _, l := range lookups {
		embryo.Check(t, fmt.Sprintf("%s on the unstarted embryo's session %d", l.name, pid), l.do(), l.before)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
		t.Errorf("stat /proc/%d before start: %v, want ENOENT", pid, err)
	}
	if got := unix.Getpgrp(); got != ownPgrp {
		t.Fatalf("our process group moved from %d to %d", ownPgrp, got)
	}

	startReading(t, fd, pid)
	for _, l := range lookups {
		embryo.Check(t, fmt.Sprintf("%s on the started child %d (control)", l.name, pid), l.do(), l.after)
		if l.afterResult != nil {
			if v, err := l.afterResult(); err != nil || v != pid {
				t.Errorf("%s after the start: %d, %v; want %d (it leads its session and group)", l.name, v, err, pid)
			}
		}
	}
}

type ttySessionResult struct {
	Before, After string // tcsetpgrp(tty, pid) before and after the start
	Pid           int
}

// helperTTYSession runs as a session leader (its starter sets Setsid)
// with a pseudo-terminal of its own as its controlling terminal, creates
// an embryo that makes its own session, says so, and reads the embryo's
// pid (which its starter learns from the proc connector) from stdin.
func helperTTYSession(raw json.RawMessage) (any, error) {
	runtime.LockOSThread()
	// Closing the pty's master at the end hangs up its terminal, which
	// sends SIGHUP to us, its session leader.
	signal.Ignore(syscall.SIGHUP)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_NEWNS): %s", name(err))
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, fmt.Errorf("making / private: %s", name(err))
	}
	dir, err := os.MkdirTemp("", "emptypidfd-pts-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(dir)
	if err := unix.Mount("devpts", dir, "devpts", 0, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return nil, fmt.Errorf("mounting a devpts instance: %s", name(err))
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	ptmx, err := unix.Open(filepath.Join(dir, "ptmx"), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening ptmx: %s", name(err))
	}
	defer unix.Close(ptmx)
	if err := unix.IoctlSetPointerInt(ptmx, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlockpt: %s", name(err))
	}
	n, err := unix.IoctlGetInt(ptmx, unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("ptsname: %s", name(err))
	}
	// A session leader without a terminal gets this one as its own.
	tty, err := unix.Open(filepath.Join(dir, strconv.Itoa(n)), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the pty: %s", name(err))
	}
	defer unix.Close(tty)
	if pg, err := unix.IoctlGetInt(tty, unix.TIOCGPGRP); err != nil || pg != unix.Getpgrp() {
		return nil, fmt.Errorf("the pty is not our controlling terminal: foreground group %d, %s", pg, name(err))
	}
	fd, err := openEmbryo()
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		return nil, fmt.Errorf("EXEC: %s", name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
		return nil, fmt.Errorf("ARGV: %s", name(err))
	}
	if err := pidfd.ConfigSetsid(fd); err != nil {
		return nil, fmt.Errorf("SETSID: %s", name(err))
	}
	if err := sayReady("ready"); err != nil {
		return nil, err
	}
	var pid int
	if _, err := fmt.Fscan(os.Stdin, &pid); err != nil {
		return nil, fmt.Errorf("reading the embryo's pid: %v", err)
	}
	var res ttySessionResult
	res.Before = name(unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, pid))
	if res.Pid, err = pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("run: %s", name(err))
	}
	// The child is a zombie until waited for: its group still exists.
	res.After = name(unix.IoctlSetPointerInt(tty, unix.TIOCSPGRP, pid))
	if _, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED); err != nil {
		return nil, fmt.Errorf("waitid: %s", name(err))
	}
	return res, nil
}

// tcsetpgrp() naming the embryo's hidden group fails as for a group that
// does not exist (ESRCH); after the start, as for a group of another
// session (EPERM).
func TestSessionTcsetpgrpBeforeStart(t *testing.T) {
	embryo.Require(t)
	s := cnProcSocket(t)
	r, w := embryo.Pipe(t)
	h := helper.New(t, "ttysession", nil)
	h.Cmd.SysProcAttr.Setsid = true
	h.Cmd.ExtraFiles = []*os.File{w}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	w.Close()
	if b, err := embryo.ReadAll(r, embryo.Timeout); err != nil || string(b) != "ready" {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("the helper did not say it was ready: %q, %v", b, err)
	}
	// The first new process the helper made is its embryo; the second
	// is package pidfd's probe, an embryo made and destroyed at the
	// first pidfd_config() call.
	var forks []int
	for _, e := range cnProcDrain(s, time.Now().Add(5*time.Second)) {
		if e.What == procEventFork && int(e.ParentTgid) == h.Pid() && e.Pid == e.Tgid {
			forks = append(forks, int(e.Tgid))
		}
	}
	t.Logf("FORK events of the helper %d: %v; the first is its embryo", h.Pid(), forks)
	pid := 0
	if len(forks) > 0 {
		pid = forks[0]
	}
	if pid == 0 {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("no FORK event of the helper %d's embryo", h.Pid())
	}
	fmt.Fprintf(stdin, "%d\n", pid)
	stdin.Close()
	var res ttySessionResult
	h.Result(&res)
	if res.Pid != pid {
		t.Fatalf("the embryo started as %d, the FORK event named %d", res.Pid, pid)
	}
	if res.Before != "ESRCH" {
		t.Errorf("tcsetpgrp(tty, %d) before the start: %s, want ESRCH (no such group)", pid, res.Before)
	}
	if res.After != "EPERM" {
		t.Errorf("tcsetpgrp(tty, %d) after the start: %s, want EPERM (a group of another session)", pid, res.After)
	}
}

// PIDFD_CONFIG_PGID with pgid 0: the embryo leads a new process group in
// our session, whose id is its pid, as hidden as the pid until the start
// (kill() of the group, getpgid(), getsid() get ESRCH; setpgid() into it
// EPERM; /proc shows nothing). After the start the group is there, in
// our session, and our own group has not moved.
func TestProcessGroupHiddenBeforeStart(t *testing.T) {
	embryo.Require(t)
	if !pidfd.HasCommand(pidfd.PIDFD_CONFIG_PGID) {
		t.Fatal("the kernel has empty pidfds but no PIDFD_CONFIG_PGID: the series is incomplete")
	}
	s := cnProcSocket(t)
	fd := embryo.New(t)
	pid := forkEventPid(t, s)
	if err := pidfd.ConfigPgid(fd, 0); err != nil {
		t.Fatalf("PIDFD_CONFIG_PGID 0: %s", name(err))
	}
	ownPgrp := unix.Getpgrp()
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		name string
		err  error
		want unix.Errno
	}{
		{"kill(-pgid, 0)", unix.Kill(-pid, 0), unix.ESRCH},
		{"getpgid(pid)", func() error { _, err := unix.Getpgid(pid); return err }(), unix.ESRCH},
		{"getsid(pid)", func() error { _, err := unix.Getsid(pid); return err }(), unix.ESRCH},
		// Not found: EPERM, as setpgid() into a group that does not
		// exist. (After the start it would move us: not made then.)
		{"setpgid(0, pgid)", unix.Setpgid(0, pid), unix.EPERM},
	} {
		embryo.Check(t, fmt.Sprintf("%s on the unstarted embryo's group %d", l.name, pid), l.err, l.want)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !os.IsNotExist(err) {
		t.Errorf("stat /proc/%d before start: %v, want ENOENT", pid, err)
	}

	startReading(t, fd, pid)
	if err := unix.Kill(-pid, 0); err != nil {
		t.Errorf("kill(-%d, 0) after the start: %s, want the group found", pid, name(err))
	}
	if g, err := unix.Getpgid(pid); err != nil || g != pid {
		t.Errorf("getpgid(%d) after the start: %d, %v; want %d (it leads its group)", pid, g, err, pid)
	}
	if got, err := unix.Getsid(pid); err != nil || got != sid {
		t.Errorf("getsid(%d) after the start: %d, %v; want our session %d", pid, got, err, sid)
	}
	if got := unix.Getpgrp(); got != ownPgrp {
		t.Errorf("our process group moved from %d to %d", ownPgrp, got)
	}
}
