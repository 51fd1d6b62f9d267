package embryo

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
)

// Timeout bounds each wait for a child: generous, the guest runs under TCG
// with a debug kernel.
const Timeout = 60 * time.Second

// Pipe returns a pipe for a child's output: its read end honours read
// deadlines; its write end is blocking, so the child's writes wait when the
// pipe is full (O_NONBLOCK belongs to each end's open file). Both are
// close-on-exec in the caller and closed when t ends.
func Pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := NewPipe()
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// NewPipe is Pipe without a test (for helper processes).
func NewPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	if err := unix.SetNonblock(p[0], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, nil, err
	}
	return os.NewFile(uintptr(p[0]), "pipe-r"), os.NewFile(uintptr(p[1]), "pipe-w"), nil
}

// InputPipe returns a pipe for a child's input, both ends blocking (the
// child reads its end), close-on-exec in the caller and closed when t ends.
func InputPipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatalf("pipe: %v", err)
	}
	r, w = os.NewFile(uintptr(p[0]), "in-r"), os.NewFile(uintptr(p[1]), "in-w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// ReadAll reads r to EOF, failing after timeout.
func ReadAll(r *os.File, timeout time.Duration) ([]byte, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// ParseReport reads a childreport report from r (up to Timeout).
func ParseReport(r *os.File) (*childreport.Report, []byte, error) {
	b, err := ReadAll(r, Timeout)
	if err != nil {
		return nil, b, fmt.Errorf("reading the child's report: %w", err)
	}
	rep, err := childreport.Parse(bytes.NewReader(b))
	return rep, b, err
}

// Report reads the report on r, failing t if there is none.
func Report(t testing.TB, r *os.File) *childreport.Report {
	t.Helper()
	rep, raw, err := ParseReport(r)
	if err != nil {
		t.Fatalf("%v\nraw report:\n%s", err, raw)
	}
	return rep
}

// Config configures embryo fd to run childreport with the given arguments
// (after argv[0], which is childreport.Path) and environment, its stdout a
// new pipe whose read end it returns. Nothing else is configured: the child
// has fd 1 only.
func Config(t testing.TB, fd int, args, env []string) *os.File {
	t.Helper()
	ConfigProgram(t, fd, childreport.Path, append([]string{childreport.Path}, args...), env)
	return StdoutPipe(t, fd)
}

// ConfigProgram sets the embryo's program, argv and envp.
func ConfigProgram(t testing.TB, fd int, path string, argv, env []string) {
	t.Helper()
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, path, 0); err != nil {
		t.Fatalf("PIDFD_CONFIG_EXEC %s: %s", path, Name(err))
	}
	if err := pidfd.ConfigArgv(fd, argv); err != nil {
		t.Fatalf("PIDFD_CONFIG_ARGV %q: %s", argv, Name(err))
	}
	if err := pidfd.ConfigEnvp(fd, env); err != nil {
		t.Fatalf("PIDFD_CONFIG_ENVP %q: %s", env, Name(err))
	}
}

// StdoutPipe makes a new pipe the embryo's fd 1 and returns its read end;
// the caller's copy of the write end is closed at once, so the read end
// sees EOF when the child (or the embryo's table) lets go of it.
func StdoutPipe(t testing.TB, fd int) *os.File {
	t.Helper()
	r, w := Pipe(t)
	err := pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0)
	w.Close()
	if err != nil {
		t.Fatalf("PIDFD_FD_DUP of a pipe to fd 1: %s", Name(err))
	}
	return r
}

// Run starts the embryo, failing t on error.
func Run(t testing.TB, fd int) int {
	t.Helper()
	pid, err := pidfd.SpawnRun(fd, 0)
	if err != nil {
		t.Fatalf("pidfd_spawn_run: %s", Name(err))
	}
	if pid <= 0 {
		t.Fatalf("pidfd_spawn_run returned pid %d", pid)
	}
	return pid
}

// RunToExit starts the configured embryo fd, reads childreport's report from
// out and waits for the child, which must exit with code.
func RunToExit(t testing.TB, fd int, out *os.File, code int) *childreport.Report {
	t.Helper()
	Run(t, fd)
	rep := Report(t, out)
	if ex := Wait(t, fd); !ex.Exited(code) {
		t.Errorf("child: %v, want exit %d", ex, code)
	}
	return rep
}

// Spawn configures fd to run childreport (as Config), starts it, reads its
// report and reaps it.
func Spawn(t testing.TB, fd int, args, env []string) (*childreport.Report, pidfd.Exit) {
	t.Helper()
	out := Config(t, fd, args, env)
	pid := Run(t, fd)
	rep := Report(t, out)
	ex := Wait(t, fd)
	if ex.Pid != pid {
		t.Errorf("waitid reports pid %d, pidfd_spawn_run returned %d", ex.Pid, pid)
	}
	if rep.Pid != pid {
		t.Errorf("the child reports pid %d, pidfd_spawn_run returned %d", rep.Pid, pid)
	}
	return rep, ex
}

// PollIn polls pidfd for POLLIN for up to timeout and returns the events.
func PollIn(fd int, timeout time.Duration) (int16, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return 0, err
		}
		return fds[0].Revents, nil
	}
}

// Wait waits (up to Timeout) for the child of pidfd fd to exit and reaps it.
func Wait(t testing.TB, fd int) pidfd.Exit {
	t.Helper()
	ex, err := WaitExit(fd, Timeout)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// WaitExit is Wait without a test.
func WaitExit(fd int, timeout time.Duration) (pidfd.Exit, error) {
	ev, err := PollIn(fd, timeout)
	if err != nil {
		return pidfd.Exit{}, fmt.Errorf("poll on pidfd: %v", err)
	}
	if ev == 0 {
		return pidfd.Exit{}, fmt.Errorf("child did not exit within %v", timeout)
	}
	for {
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return ex, fmt.Errorf("waitid(P_PIDFD): %v", Name(err))
		}
		return ex, nil
	}
}
