package creds

// PIDFD_CONFIG_PDEATHSIG: the parent-death signal as the started child
// reads it back (childreport's PR_GET_PDEATHSIG), cleared as a process's
// is by a later change of the effective ids and by a set-user-ID exec, and
// delivered when the thread that created the embryo exits, before the
// start (taken at the start; SIGKILL destroys the embryo) or after it.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// suidCopy makes a set-user-ID-root copy of childreport that uidX can run.
func suidCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "pdeathsig-suid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prog := dir + "/suidreport"
	helper.CopyFile(t, childreport.Path, prog, 0o755)
	if err := unix.Chmod(prog, 0o4755); err != nil {
		t.Fatal(err)
	}
	return prog
}

func TestPdeathsig(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_PDEATHSIG, "PIDFD_CONFIG_PDEATHSIG")
	pdeath := func(sig unix.Signal) func(int) error {
		return func(fd int) error { return pidfd.ConfigPdeathsig(fd, sig) }
	}
	uids := func(fd int) error { return pidfd.ConfigUIDs(fd, uidX, uidX, uidX) }
	gids := func(fd int) error { return pidfd.ConfigGIDs(fd, uidX, uidX, uidX) }
	suid := suidCopy(t)
	for _, tc := range []struct {
		name  string
		steps []func(fd int) error
		prog  string
		want  int
	}{
		{"none", nil, childreport.Path, 0},
		{"SIGUSR1", []func(int) error{pdeath(unix.SIGUSR1)}, childreport.Path, int(unix.SIGUSR1)},
		{"the last one counts", []func(int) error{pdeath(unix.SIGUSR1), pdeath(unix.SIGKILL)}, childreport.Path, int(unix.SIGKILL)},
		{"0 clears it", []func(int) error{pdeath(unix.SIGUSR1), pdeath(0)}, childreport.Path, 0},
		{"cleared by a later UIDS", []func(int) error{pdeath(unix.SIGUSR1), uids}, childreport.Path, 0},
		{"cleared by a later GIDS", []func(int) error{pdeath(unix.SIGUSR1), gids}, childreport.Path, 0},
		{"kept when set after the ids", []func(int) error{gids, uids, pdeath(unix.SIGUSR1)}, childreport.Path, int(unix.SIGUSR1)},
		{"cleared by a set-user-ID exec", []func(int) error{gids, uids, pdeath(unix.SIGUSR1)}, suid, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			for i, step := range tc.steps {
				if err := step(fd); err != nil {
					t.Fatalf("step %d: %s", i, embryo.Name(err))
				}
			}
			rep, err := report(fd, tc.prog)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Pdeathsig != tc.want {
				t.Errorf("the child's parent-death signal is %d, want %d", rep.Pdeathsig, tc.want)
			}
		})
	}
}

func TestPdeathsigErrors(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_PDEATHSIG, "PIDFD_CONFIG_PDEATHSIG")
	fd := embryo.New(t)
	arg := func(sig, spare uint32) []byte {
		a := pidfd.PdeathsigArg{Signal: sig, Spare: spare}
		return unsafe.Slice((*byte)(unsafe.Pointer(&a)), unsafe.Sizeof(a))
	}
	for _, tc := range []struct {
		name string
		buf  []byte
		want unix.Errno
	}{
		{"signal 65", arg(65, 0), unix.EINVAL},
		{"signal 1<<31", arg(1<<31, 0), unix.EINVAL},
		{"__spare", arg(uint32(unix.SIGUSR1), 1), unix.EINVAL},
		{"size 4", arg(uint32(unix.SIGUSR1), 0)[:4], unix.EINVAL},
		{"signal 64", arg(64, 0), 0},
	} {
		embryo.Check(t, tc.name, rawConfig(fd, pidfd.PIDFD_CONFIG_PDEATHSIG, tc.buf), tc.want)
	}
}

// onExitingThread runs f on a thread of its own that exits afterwards,
// and waits until the thread is gone (reaped: its exit has passed the
// embryo on to another thread of ours).
func onExitingThread(t *testing.T, f func()) {
	t.Helper()
	tid := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with us
		// Deferred: a t.Fatal in f ends the goroutine too.
		defer func() { tid <- unix.Gettid() }()
		f()
	}()
	id := <-tid
	if id == os.Getpid() {
		t.Fatal("the goroutine ran on the main thread, which the runtime parks instead of ending (TestMain keeps it)")
	}
	path := fmt.Sprintf("/proc/self/task/%d", id)
	for deadline := time.Now().Add(embryo.Timeout); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there after %v", path, embryo.Timeout)
		}
	}
}

// configWaiter makes the embryo run childreport "read": it reports on the
// pipe it returns, then waits for its stdin (a pipe we hold) to close.
func configWaiter(t *testing.T, fd int) (report *os.File) {
	t.Helper()
	embryo.Check(t, "exec", pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0), 0)
	embryo.Check(t, "argv", pidfd.ConfigArgv(fd, []string{childreport.Path, "read"}), 0)
	in, stdin := embryo.InputPipe(t) // blocking: the child waits on it
	out, w := embryo.Pipe(t)
	embryo.Check(t, "stdin", pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0), 0)
	embryo.Check(t, "stdout", pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0), 0)
	in.Close()
	w.Close()
	t.Cleanup(func() { stdin.Close() })
	return out
}

// The parent is the thread that created the embryo, as after fork(): its
// exit before the start destroys the embryo (SIGKILL) or leaves the signal
// for the start; its exit after the start signals the child; another
// thread's exit (one that only ran the embryo) does not.
func TestPdeathsigCreatorThread(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_PDEATHSIG, "PIDFD_CONFIG_PDEATHSIG")
	killedBy := func(t *testing.T, fd int, sig unix.Signal) {
		t.Helper()
		ex := embryo.Wait(t, fd)
		if ex.Code != pidfd.CLD_KILLED || ex.Status != int(sig) {
			t.Errorf("the child: %v, want killed by %v", ex, sig)
		}
	}
	// The creator thread exits before the start, with the signal of
	// atExit (0: none); then, unless after is -1, the signal is set
	// again for the new parent, which lives.
	for _, tc := range []struct {
		name        string
		atExit      unix.Signal
		after       int
		killedFirst unix.Signal // at the start; 0: the child reports and lives
		esrch       bool        // the run finds the embryo destroyed
	}{
		{"SIGUSR1", unix.SIGUSR1, -1, unix.SIGUSR1, false},
		{"SIGKILL", unix.SIGKILL, -1, 0, true},
		{"none, SIGUSR1 given after", 0, int(unix.SIGUSR1), 0, false},
		{"SIGUSR1, SIGUSR2 given after", unix.SIGUSR1, int(unix.SIGUSR2), 0, false},
		{"SIGUSR1, 0 given after", unix.SIGUSR1, 0, 0, false},
	} {
		t.Run("exits before the start, "+tc.name, func(t *testing.T) {
			var fd int
			var out *os.File
			onExitingThread(t, func() {
				fd = embryo.New(t)
				out = configWaiter(t, fd)
				embryo.Check(t, "pdeathsig", pidfd.ConfigPdeathsig(fd, tc.atExit), 0)
			})
			if tc.after >= 0 {
				embryo.Check(t, "pdeathsig after", pidfd.ConfigPdeathsig(fd, unix.Signal(tc.after)), 0)
			}
			_, err := pidfd.SpawnRun(fd, 0)
			if tc.esrch {
				embryo.Check(t, "run after the creator thread's exit", err, unix.ESRCH)
				return
			}
			if err != nil {
				t.Fatalf("run: %s", embryo.Name(err))
			}
			if tc.killedFirst != 0 {
				killedBy(t, fd, tc.killedFirst)
				if rep, raw, err := embryo.ParseReport(out); err == nil || len(raw) > 0 {
					t.Errorf("the child ran before its signal: %v %q", rep, raw)
				}
				return
			}
			reportsThenTerm(t, fd, out, tc.after)
		})
	}
	t.Run("exits after the start", func(t *testing.T) {
		var fd int
		var out *os.File
		onExitingThread(t, func() {
			fd = embryo.New(t)
			out = configWaiter(t, fd)
			embryo.Check(t, "pdeathsig", pidfd.ConfigPdeathsig(fd, unix.SIGUSR1), 0)
			if _, err := pidfd.SpawnRun(fd, 0); err != nil {
				t.Errorf("run: %s", embryo.Name(err))
			}
		})
		killedBy(t, fd, unix.SIGUSR1)
		out.Close()
	})
	t.Run("another thread runs it and exits", func(t *testing.T) {
		// Our thread creates it and lives on: the goroutine below
		// must not lock (and end) the creator's thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fd := embryo.New(t)
		out := configWaiter(t, fd)
		embryo.Check(t, "pdeathsig", pidfd.ConfigPdeathsig(fd, unix.SIGUSR1), 0)
		onExitingThread(t, func() {
			if _, err := pidfd.SpawnRun(fd, 0); err != nil {
				t.Errorf("run: %s", embryo.Name(err))
			}
		})
		reportsThenTerm(t, fd, out, int(unix.SIGUSR1))
	})
}

// reportsThenTerm checks that the child of fd reports the parent-death
// signal want and lives on, until our SIGTERM: a lower-numbered pending
// signal (SIGUSR1, SIGUSR2) would be taken before it.
func reportsThenTerm(t *testing.T, fd int, out *os.File, want int) {
	t.Helper()
	rep, raw, err := embryo.ParseReport(out)
	if err != nil {
		t.Fatalf("report: %v %q", err, raw)
	}
	if rep.Pdeathsig != want {
		t.Errorf("pdeathsig %d, want %d", rep.Pdeathsig, want)
	}
	unix.Kill(rep.Pid, unix.SIGTERM)
	if ex := embryo.Wait(t, fd); ex.Code != pidfd.CLD_KILLED || ex.Status != int(unix.SIGTERM) {
		t.Errorf("the child: %v, want killed by our SIGTERM", ex)
	}
}
