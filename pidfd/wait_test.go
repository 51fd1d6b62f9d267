package pidfd

import (
	"os"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// startChild starts /proc/self/exe -test.run=^$ (a test binary with no
// test to run exits 0 at once) or, with sleep, one that waits for a
// signal, and returns a pidfd for it (CLONE_PIDFD).
func startChild(t *testing.T, args ...string) (pid, fd int) {
	t.Helper()
	pfd := -1
	pid, err := syscall.ForkExec("/proc/self/exe", append([]string{"child"}, args...), &syscall.ProcAttr{
		Env:   append(os.Environ(), "PIDFD_TEST_CHILD=1"),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{PidFD: &pfd},
	})
	if err != nil {
		t.Fatalf("starting a child: %v", err)
	}
	t.Cleanup(func() { unix.Close(pfd) })
	return pid, pfd
}

func TestMain(m *testing.M) {
	if os.Getenv("PIDFD_TEST_CHILD") == "1" {
		switch os.Args[1] {
		case "exit":
			os.Exit(7)
		case "hang":
			select {}
		}
	}
	os.Exit(m.Run())
}

func TestWaitidDecodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill bool
		want func(Exit) bool
	}{
		{"exit 7", false, func(e Exit) bool { return e.Exited(7) && e.Code == CLD_EXITED && e.Status == 7 }},
		{"SIGKILL", true, func(e Exit) bool { return e.Signaled(unix.SIGKILL) && !e.Exited(0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arg := "exit"
			if tc.kill {
				arg = "hang"
			}
			pid, fd := startChild(t, arg)
			ex, err := Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG)
			for err == unix.EINTR {
				ex, err = Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG)
			}
			if err != nil {
				t.Fatalf("waitid WNOHANG: %v", err)
			}
			if tc.kill {
				if ex != (Exit{}) {
					t.Fatalf("WNOHANG on a running child: %v, want no child reported", ex)
				}
				if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
					t.Fatal(err)
				}
			}
			// A child that has exited already was reaped by the
			// WNOHANG call: what it reported is what to check.
			if ex == (Exit{}) {
				for {
					ex, err = Waitid(unix.P_PIDFD, fd, unix.WEXITED)
					if err != unix.EINTR {
						break
					}
				}
				if err != nil {
					t.Fatalf("waitid: %v", err)
				}
			}
			if ex.Pid != pid || !tc.want(ex) {
				t.Errorf("waitid: %v (code %d status %d), want pid %d, %s", ex, ex.Code, ex.Status, pid, tc.name)
			}
		})
	}
}

func TestFdinfo(t *testing.T) {
	if m := ParseFdinfo("pos:\t0\nPid:\t42\nNSpid:\t42\t1\nEmbryo:\t1\n"); m["Pid"] != "42" || m["NSpid"] != "42\t1" || m["Embryo"] != "1" {
		t.Errorf("ParseFdinfo: %q", m)
	}
	pid, fd := startChild(t, "exit")
	m, err := Fdinfo(fd)
	if err != nil {
		t.Fatal(err)
	}
	if m["Pid"] != strconv.Itoa(pid) && m["Pid"] != "-1" { // -1 once reaped
		t.Errorf("fdinfo Pid %q, want %d", m["Pid"], pid)
	}
	if e, err := IsEmbryo(fd); err != nil || e {
		t.Errorf("IsEmbryo of a CLONE_PIDFD pidfd = %v, %v; want false", e, err)
	}
	if Probe() != nil {
		return
	}
	efd, err := Open(0, PIDFD_EMPTY)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if e, err := IsEmbryo(efd); err != nil || !e {
		t.Errorf("IsEmbryo of a new embryo = %v, %v; want true", e, err)
	}
}
