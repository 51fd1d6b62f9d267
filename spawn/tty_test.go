package spawn_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	registerHelperCommand("ttyinfo", cmdTTYInfo)
}

// cmdTTYInfo prints whether it leads its session and its group, the errno
// of opening /dev/tty (0 if it has a controlling terminal), and whether
// its group is that terminal's foreground group.
func cmdTTYInfo(...string) {
	sid, _ := unix.Getsid(0)
	var ttyErr error = unix.Errno(0)
	fg := false
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err != nil {
		ttyErr = errors.Unwrap(err)
	} else {
		pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
		fg = err == nil && pg == unix.Getpgrp()
		f.Close()
	}
	fmt.Printf("sid %v pgid %v tty %d fg %v\n", sid == os.Getpid(), unix.Getpgrp() == os.Getpid(), ttyErr, fg)
}

// openPTY opens a new pseudo-terminal's master and slave, neither of them
// becoming the caller's controlling terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/ptmx: %v", err)
	}
	master = os.NewFile(uintptr(m), "ptmx")
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// inPTYSession runs t's test again, in a process of its own that leads a
// session whose controlling terminal is a new pseudo-terminal, unless this
// process has a controlling terminal, and reports whether it did: the
// caller then returns. Upstream's terminal tests skip without /dev/tty,
// which the VM's tests and CI have not, so that they would never run.
func inPTYSession(t *testing.T) bool {
	t.Helper()
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		f.Close()
		return false
	}
	if os.Getenv("SPAWN_TEST_PTY_SESSION") != "" {
		t.Fatal("the run in a pseudo-terminal's session has no /dev/tty")
	}
	_, slave := openPTY(t)
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		// TestMain's mark of a helper command run.
		if !strings.HasPrefix(kv, "GO_EXEC_TEST_PID=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SPAWN_TEST_PTY_SESSION=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err := cmd.Run()
	t.Logf("in a session of its own with a pseudo-terminal:\n%s", out.Bytes())
	if err != nil {
		t.Fatalf("the run in a pseudo-terminal's session: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the run in a pseudo-terminal's session did not pass %s", t.Name())
	}
	return true
}

// Setctty (with Setsid) gives the child the terminal that is its Ctty, a
// descriptor of the child; Noctty detaches the child's 0 from the
// controlling terminal it inherits, which the parent keeps. Each fails as
// a forked child's ioctl() does: Setctty without Setsid with EPERM,
// Noctty on a 0 that is no terminal with ENOTTY.
func TestSetcttyNoctty(t *testing.T) {
	// The run in a pseudo-terminal's session uses it, maybe not this one.
	maySkipHelperCommand("ttyinfo")
	if inPTYSession(t) {
		return
	}
	_, pty := openPTY(t)
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	for _, tc := range []struct {
		name  string
		stdin *os.File
		extra []*os.File
		attr  syscall.SysProcAttr
		want  string
		errno syscall.Errno
	}{
		{"inherited", nil, nil, syscall.SysProcAttr{}, "sid false pgid false tty 0 fg true", 0},
		{"Setsid, Setctty on 0", pty, nil, syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}, "sid true pgid true tty 0 fg true", 0},
		{"Setsid, Setctty on 3", nil, []*os.File{pty}, syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}, "sid true pgid true tty 0 fg true", 0},
		{"Setsid alone", pty, nil, syscall.SysProcAttr{Setsid: true}, fmt.Sprintf("sid true pgid true tty %d fg false", unix.ENXIO), 0},
		{"Noctty", tty, nil, syscall.SysProcAttr{Noctty: true}, fmt.Sprintf("sid false pgid false tty %d fg false", unix.ENXIO), 0},
		{"Setctty without Setsid", pty, nil, syscall.SysProcAttr{Setctty: true, Ctty: 0}, "", syscall.EPERM},
		{"Setsid, Setctty on a closed 3", nil, []*os.File{nil}, syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 3}, "", syscall.EBADF},
		{"Noctty, 0 not a terminal", nil, nil, syscall.SysProcAttr{Noctty: true}, "", syscall.ENOTTY},
		{"Setsid, Noctty", tty, nil, syscall.SysProcAttr{Setsid: true, Noctty: true}, "", syscall.ENOTTY},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := helperCommand(t, "ttyinfo")
			if tc.stdin != nil {
				// Not a nil *os.File in the interface.
				cmd.Stdin = tc.stdin
			}
			cmd.ExtraFiles = tc.extra
			attr := tc.attr
			cmd.SysProcAttr = &attr
			out, err := cmd.Output()
			if tc.errno != 0 {
				if !errors.Is(err, tc.errno) {
					t.Fatalf("%v, want %v", err, tc.errno)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("the child: %q, want %q", got, tc.want)
			}
		})
	}
	// The parent keeps its terminal.
	if f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err != nil {
		t.Errorf("the parent lost its terminal: %v", err)
	} else {
		f.Close()
	}
}
