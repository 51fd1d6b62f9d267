package spawn_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

// The guest harness writes what the booted kernel's headers promise here
// (selftests/internal/guest.ExpectFile, which this package, outside
// selftests/, cannot import).
const guestExpectFile = "/etc/emptypidfd/expect"

var want struct {
	once sync.Once
	mech spawn.Mechanism
	why  string
	err  error
}

// wantMechanism is the path every Cmd of these tests must take. In the
// test VM the harness says whether the kernel has the series: if it does,
// the embryo path is required, and a silent fallback fails the test. On
// the host the probe decides (a stock kernel: fork+exec).
func wantMechanism(t testing.TB) (spawn.Mechanism, string) {
	t.Helper()
	want.once.Do(func() {
		probe := pidfd.Probe()
		if os.Getenv("VMTEST_IN_GUEST") == "1" {
			b, err := os.ReadFile(guestExpectFile)
			if err != nil {
				want.err = fmt.Errorf("in the test VM, reading what the harness expects: %v", err)
				return
			}
			if strings.Contains(string(b), "PIDFD_EMPTY=present\n") {
				if probe != nil {
					want.err = fmt.Errorf("the test VM's kernel has PIDFD_EMPTY in its headers, but the probe says %v", probe)
					return
				}
				want.mech, want.why = spawn.Embryo, "the test VM runs the series' kernel"
				return
			}
			want.mech, want.why = spawn.ForkExec, "the test VM runs a stock kernel (harness: PIDFD_EMPTY absent)"
			return
		}
		if probe == nil {
			want.mech, want.why = spawn.Embryo, "the host kernel has empty pidfds"
		} else {
			want.mech, want.why = spawn.ForkExec, "the host kernel: "+probe.Error()
		}
	})
	if want.err != nil {
		t.Fatal(want.err)
	}
	return want.mech, want.why
}

// wantMechanismFor is wantMechanism for a Cmd whose SysProcAttr needs
// the pidfd_config command cmd: fork+exec on a kernel without it.
func wantMechanismFor(t testing.TB, cmd int) (spawn.Mechanism, string) {
	t.Helper()
	mech, why := wantMechanism(t)
	if mech == spawn.Embryo && !pidfd.HasCommand(cmd) {
		return spawn.ForkExec, fmt.Sprintf("the kernel has empty pidfds but not pidfd_config command %d", cmd)
	}
	return mech, why
}

// checkMechanism checks, when t ends, that cmd (if it started) took the
// expected path; a fallback for a SysProcAttr field the kernel cannot do
// is the one expected exception.
func checkMechanism(t testing.TB, cmd *spawn.Cmd) {
	t.Helper()
	mech, why := wantMechanism(t)
	t.Cleanup(func() {
		got := cmd.Mechanism()
		if got == spawn.NotStarted || got == mech {
			return
		}
		if got == spawn.ForkExec && attrFallbackExpected(cmd.FallbackReason()) {
			return
		}
		t.Errorf("%s started by %v (%s), want %v: %s", cmd, got, cmd.FallbackReason(), mech, why)
	})
}

// attrCommands are the SysProcAttr fields that go through the embryo, each
// with the command a kernel needs for it.
var attrCommands = map[string]int{
	"Credential":  pidfd.PIDFD_CONFIG_UIDS,
	"Chroot":      pidfd.PIDFD_CONFIG_ROOT,
	"Setsid":      pidfd.PIDFD_CONFIG_SETSID,
	"Setpgid":     pidfd.PIDFD_CONFIG_PGID,
	"Pdeathsig":   pidfd.PIDFD_CONFIG_PDEATHSIG,
	"UseCgroupFD": pidfd.PIDFD_CONFIG_CGROUP,
	"Setctty":     pidfd.PIDFD_CONFIG_CTTY,
	"Noctty":      pidfd.PIDFD_CONFIG_NOCTTY,
	"Foreground":  pidfd.PIDFD_CONFIG_FOREGROUND,
}

// attrFallbackExpected reports whether a fallback for reason is expected:
// a SysProcAttr field that the embryo cannot do on this kernel.
func attrFallbackExpected(reason string) bool {
	field, ok := strings.CutPrefix(reason, "SysProcAttr.")
	if !ok {
		return false
	}
	field, _, _ = strings.Cut(field, ":")
	cmd, ok := attrCommands[field]
	return !ok || !pidfd.HasCommand(cmd)
}

func init() {
	registerHelperCommand("nofile", cmdNofile)
	registerHelperCommand("sigign", cmdSigign)
	registerHelperCommand("session", cmdSession)
	registerHelperCommand("pdeathsig", cmdPdeathsig)
	registerHelperCommand("stdio", cmdStdio)
}

// cmdPdeathsig prints its parent-death signal; with "wait", it then waits
// for a signal, for a minute at most.
func cmdPdeathsig(args ...string) {
	var sig int32
	_, _, e := unix.RawSyscall(unix.SYS_PRCTL, unix.PR_GET_PDEATHSIG, uintptr(unsafe.Pointer(&sig)), 0)
	if e != 0 {
		fmt.Println(e)
		os.Exit(1)
	}
	fmt.Printf("pdeathsig %d\n", sig)
	if len(args) > 0 && args[0] == "wait" {
		time.Sleep(time.Minute)
	}
}

// cmdNofile prints the soft and hard RLIMIT_NOFILE it started with.
func cmdNofile(...string) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			fmt.Println(strings.Join(strings.Fields(line)[3:5], " "))
		}
	}
}

// cmdSigign prints its SigIgn and SigBlk masks.
func cmdSigign(...string) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "SigIgn:") {
			fmt.Println(line)
		}
	}
}

// cmdSession prints whether it leads its session and its process group.
func cmdSession(...string) {
	sid, err := unix.Getsid(0)
	fmt.Printf("sid %v pgid %v %v\n", sid == os.Getpid(), unix.Getpgrp() == os.Getpid(), err)
}

func TestMechanism(t *testing.T) {
	mech, why := wantMechanism(t)
	cmd := helperCommand(t, "echo", "x")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if cmd.Mechanism() != mech {
		t.Fatalf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
	}
	if (cmd.FallbackReason() == "") != (mech == spawn.Embryo) {
		t.Errorf("FallbackReason %q with mechanism %v", cmd.FallbackReason(), mech)
	}
	t.Logf("mechanism %v: %s", mech, why)
}

// The child's RLIMIT_NOFILE: on the embryo path the caller's current one
// (package doc, "Differences from os/exec"), on the fallback path what
// os/exec gives (Go's startup raise undone).
func TestRlimitNofile(t *testing.T) {
	mech, why := wantMechanism(t)
	exe := testenv.Executable(t)
	ref, err := exec.Command(exe, "nofile").Output()
	if err != nil {
		t.Fatalf("os/exec: %v", err)
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err != nil {
		t.Fatal(err)
	}
	want := string(ref)
	if mech == spawn.Embryo {
		want = fmt.Sprintf("%d %d\n", cur.Cur, cur.Max)
	}
	cmd := helperCommand(t, "nofile")
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if cmd.Mechanism() != mech {
		t.Fatalf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
	}
	if string(got) != want {
		t.Errorf("child's RLIMIT_NOFILE (soft hard) by %v: %q, want %q (ours %d %d, os/exec's child %q)",
			mech, got, want, cur.Cur, cur.Max, ref)
	}
}

// The child ignores what the caller ignores, as after fork and exec.
func TestIgnoredSignalsAsOSExec(t *testing.T) {
	// The child keeps what we ignore, as a forked one would: SIGHUP
	// ignored here (a Go child keeps an inherited SIG_IGN only for
	// SIGHUP and SIGINT), then given back Go's handler by Notify.
	// Left ignored afterwards if the test binary started so.
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Ignore(syscall.SIGHUP)
		defer func() {
			c := make(chan os.Signal, 1)
			signal.Notify(c, syscall.SIGHUP)
			signal.Stop(c)
		}()
	}
	exe := testenv.Executable(t)
	ref, err := exec.Command(exe, "sigign").Output()
	if err != nil {
		t.Fatalf("os/exec: %v", err)
	}
	got, err := helperCommand(t, "sigign").Output()
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	mask, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(string(ref), "SigIgn:")), 16, 64)
	if err != nil {
		t.Fatalf("os/exec's child printed %q: %v", ref, err)
	}
	if mask&(1<<(syscall.SIGHUP-1)) == 0 {
		t.Errorf("os/exec's child does not ignore SIGHUP (%q): the test ignores nothing", ref)
	}
	if string(got) != string(ref) {
		t.Errorf("child's ignored signals: spawn %q, os/exec %q", got, ref)
	}
	// The series' kernel takes them in one call, not 64 queries.
	if mech, why := wantMechanism(t); mech == spawn.Embryo && !spawn.InheritIgnoredTaken() {
		t.Errorf("%s, but the ignored signals went over by rt_sigaction() queries, not PIDFD_SIGNALS_INHERIT_IGNORED", why)
	}
}

// cmdStdio writes to its fd 3 what its descriptors 0, 1 and 2 are: the
// file and the access mode.
func cmdStdio(...string) {
	out := os.NewFile(3, "report")
	for fd := range 3 {
		target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			target = err.Error()
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			fmt.Fprintf(out, "%d %s %v\n", fd, target, err)
			continue
		}
		fmt.Fprintf(out, "%d %s accmode=%d\n", fd, target, fl&unix.O_ACCMODE)
	}
}

// TestStdioAsOSExec compares the child's 0, 1 and 2 with os/exec's for
// nil and given streams: through an embryo the nil ones are opened by the
// embryo (PIDFD_FD_OPEN), or here with Noctty, as os/exec opens them.
func TestStdioAsOSExec(t *testing.T) {
	exe := testenv.Executable(t)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var buf strings.Builder
	tests := []struct {
		name           string
		stdin          io.Reader
		stdout, stderr io.Writer
		attr           *syscall.SysProcAttr
		wantErr        error
	}{
		{name: "all nil"},
		{name: "stdout a file", stdout: devnull},
		{name: "stdin a file, stderr the same writer as stdout", stdin: devnull, stdout: &buf, stderr: &buf},
		{name: "stdin a reader, stdout nil, stderr a file", stdin: strings.NewReader("x"), stderr: devnull},
		// Noctty's terminal is the child's 0: /dev/null is none.
		{name: "all nil, Noctty", attr: &syscall.SysProcAttr{Noctty: true}, wantErr: syscall.ENOTTY},
	}
	// run starts the helper with a pipe as its fd 3 and returns what it
	// wrote there, or why it did not start.
	run := func(t *testing.T, start func(files []*os.File) error) (string, error) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		err = start([]*os.File{w})
		w.Close()
		if err != nil {
			return "", err
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), nil
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, refErr := run(t, func(files []*os.File) error {
				cmd := exec.Command(exe, "stdio")
				cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr, cmd.ExtraFiles = tt.stdin, tt.stdout, tt.stderr, tt.attr, files
				return cmd.Run()
			})
			got, err := run(t, func(files []*os.File) error {
				cmd := helperCommand(t, "stdio")
				cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.SysProcAttr, cmd.ExtraFiles = tt.stdin, tt.stdout, tt.stderr, tt.attr, files
				return cmd.Run()
			})
			if !errors.Is(err, tt.wantErr) || !errors.Is(refErr, tt.wantErr) {
				t.Fatalf("spawn: %v, os/exec: %v; want %v from both", err, refErr, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			// Pipes differ by inode number: compare their kind.
			norm := func(s string) string {
				for _, k := range []string{"pipe:[", "socket:["} {
					for i := strings.Index(s, k); i >= 0; i = strings.Index(s, k) {
						j := strings.IndexByte(s[i:], ']')
						s = s[:i] + strings.TrimSuffix(k, "[") + s[i+j+1:]
					}
				}
				return s
			}
			if norm(got) != norm(ref) {
				t.Errorf("the child's 0, 1, 2:\nspawn:\n%s\nos/exec:\n%s", got, ref)
			}
			if !strings.Contains(ref, "/dev/null") {
				t.Errorf("os/exec's child has no /dev/null: the row tests nothing of the nil streams:\n%s", ref)
			}
		})
	}
}

// A failed step names its command and argument and matches its errno.
func TestStepErrors(t *testing.T) {
	notOpen := os.NewFile(9999, "not open")
	for _, tc := range []struct {
		name   string
		setup  func(*spawn.Cmd)
		errno  syscall.Errno
		prefix string // of the message on the embryo path
	}{
		{"extra file not open", func(c *spawn.Cmd) { c.ExtraFiles = []*os.File{notOpen} }, syscall.EBADF, "spawn: FD DUP 9999→3: EBADF"},
		{"missing program", func(c *spawn.Cmd) { c.Path = "/nonexistent/prog"; c.Args = []string{"prog"} }, syscall.ENOENT, "spawn: RUN /nonexistent/prog: ENOENT"},
		{"directory as program", func(c *spawn.Cmd) { c.Path = "/"; c.Args = []string{"/"} }, syscall.EACCES, "spawn: RUN /: EACCES"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := helperCommand(t, "echo")
			tc.setup(cmd)
			err := cmd.Run()
			if !errors.Is(err, tc.errno) {
				t.Fatalf("Run: %v, want %v", err, unix.ErrnoName(tc.errno))
			}
			mech, _ := wantMechanism(t)
			if mech != spawn.Embryo {
				return
			}
			var se *spawn.StepError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), tc.prefix) {
				t.Errorf("Run: %v (%T), want a *StepError %q", err, err, tc.prefix)
			}
		})
	}
}

// A PATH candidate that LookPath accepts (its mode bits say executable)
// but the kernel refuses with EACCES (here a FIFO with x bits: exec takes
// regular files only) does not end the search: the next $PATH entry runs,
// on the same embryo.
func TestPathSearchGoesOnAfterEACCES(t *testing.T) {
	noexec, good := t.TempDir(), t.TempDir()
	if err := unix.Mkfifo(filepath.Join(noexec, "spawn-prog"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(noexec, "spawn-prog"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(testenv.Executable(t), filepath.Join(good, "spawn-prog")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", noexec+string(filepath.ListSeparator)+good)
	cmd := spawn.Command("spawn-prog", "echo", "found")
	checkMechanism(t, cmd)
	if want := filepath.Join(noexec, "spawn-prog"); cmd.Path != want {
		t.Fatalf("Command resolved %q, want %q (LookPath's choice)", cmd.Path, want)
	}
	ref := exec.Command("spawn-prog", "echo", "found")
	if err := ref.Run(); !errors.Is(err, syscall.EACCES) {
		t.Errorf("os/exec on the noexec candidate: %v, want EACCES (the difference this test shows)", err)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	if string(out) != "found\n" || cmd.Path != filepath.Join(good, "spawn-prog") {
		t.Errorf("spawn ran %q, output %q; want the second PATH entry's program, \"found\\n\"", cmd.Path, out)
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// SysProcAttr.PidFD gets a pidfd of its own on both paths; Setsid,
// Setpgid and Pdeathsig go through the embryo where the kernel has
// PIDFD_CONFIG_SETSID, PGID and PDEATHSIG; a field no pidfd_config command
// does (Cloneflags) falls back, works, and says so.
func TestSysProcAttr(t *testing.T) {
	t.Run("PidFD", func(t *testing.T) {
		pfd := -1
		cmd := helperCommand(t, "echo", "x")
		cmd.SysProcAttr = &syscall.SysProcAttr{PidFD: &pfd}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if pfd < 0 || pfd == cmd.PidFD() {
			t.Errorf("SysProcAttr.PidFD = %d, the Cmd's pidfd %d: want a descriptor of its own", pfd, cmd.PidFD())
		}
		m, err := pidfd.Fdinfo(pfd)
		if err != nil || m["Pid"] != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("fdinfo of SysProcAttr.PidFD: %v, %v; want Pid %d", m, err, cmd.Process.Pid)
		}
		if err := cmd.Wait(); err != nil {
			t.Error(err)
		}
		unix.Close(pfd)
	})
	t.Run("Setsid", func(t *testing.T) {
		cmd := helperCommand(t, "session")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "sid true pgid true <nil>\n" {
			t.Errorf("child: %q, want a session and group leader", out)
		}
		mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_SETSID)
		if cmd.Mechanism() != mech {
			t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
		}
	})
	t.Run("Setpgid", func(t *testing.T) {
		cmd := helperCommand(t, "session")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "sid false pgid true <nil>\n" {
			t.Errorf("child: %q, want a group leader in our session", out)
		}
		mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_PGID)
		if cmd.Mechanism() != mech {
			t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
		}
	})
	t.Run("Setpgid into a group of another session", func(t *testing.T) {
		// setpgid()'s EPERM, from the embryo's own call as from a
		// forked child's: the group of a session leader.
		leader := helperCommand(t, "cat")
		leader.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		stdin, err := leader.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := leader.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			stdin.Close()
			leader.Wait()
		}()
		cmd := helperCommand(t, "session")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: leader.Process.Pid}
		if err := cmd.Run(); !errors.Is(err, syscall.EPERM) {
			t.Errorf("Run: %v, want EPERM", err)
		}
	})
	t.Run("Pdeathsig", func(t *testing.T) {
		cmd := helperCommand(t, "pdeathsig")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGUSR1}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("pdeathsig %d\n", syscall.SIGUSR1); string(out) != want {
			t.Errorf("child: %q, want %q", out, want)
		}
		mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_PDEATHSIG)
		if cmd.Mechanism() != mech {
			t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
		}
	})
	t.Run("Pdeathsig with Credential", func(t *testing.T) {
		// Set after the ids, which would clear it, as os/exec's
		// child sets it.
		if os.Getuid() != 0 {
			t.Skip("we need root to change the child's ids")
		}
		cmd := spawn.Command(otherUsersExecutable(t), "pdeathsig")
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Pdeathsig:  syscall.SIGUSR1,
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true},
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("pdeathsig %d\n", syscall.SIGUSR1); string(out) != want {
			t.Errorf("child: %q, want %q", out, want)
		}
		checkMechanism(t, cmd)
	})
	t.Run("Pdeathsig when the starting thread exits", func(t *testing.T) {
		// The child's parent is the thread that started it, as
		// after fork: a goroutine that locks its thread and ends
		// without unlocking it ends the thread too. SIGTERM: a Go
		// child kills itself with it at any point of its start,
		// where a SIGUSR1 that arrives once its runtime has caught
		// the signals is ignored (no Notify) and the child would
		// sleep out its minute.
		out := make(chan error, 1)
		var cmd *spawn.Cmd
		var stdout strings.Builder
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with us
			cmd = helperCommand(t, "pdeathsig", "wait")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
			cmd.Stdout = &stdout
			out <- cmd.Start()
		}()
		if err := <-out; err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("Wait: %v (output %q), want killed by SIGTERM", err, stdout.String())
		}
		if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("Wait: %v, want killed by SIGTERM", err)
		}
		mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_PDEATHSIG)
		if cmd.Mechanism() != mech {
			t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
		}
	})
	t.Run("Cloneflags falls back", func(t *testing.T) {
		// In a user namespace without mappings the child is the
		// overflow uid: it runs a copy that other users may run.
		cmd := spawn.Command(otherUsersExecutable(t), "session")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != "sid false pgid false <nil>\n" {
			t.Errorf("child: %q, want our session and group", out)
		}
		mech, _ := wantMechanism(t)
		if cmd.Mechanism() != spawn.ForkExec || mech == spawn.Embryo && !strings.Contains(cmd.FallbackReason(), "SysProcAttr.Cloneflags") {
			t.Errorf("mechanism %v, reason %q; want fork+exec for SysProcAttr.Cloneflags", cmd.Mechanism(), cmd.FallbackReason())
		}
	})
}

// Process.Signal reaches the child (through pidfd_send_signal), and the
// pidfd polls readable at its exit.
func TestSignalThroughProcess(t *testing.T) {
	cmd := helperCommand(t, "pipetest")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	fds := []unix.PollFd{{Fd: int32(cmd.PidFD()), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 60_000)
		if err != unix.EINTR {
			break
		}
	}
	if fds[0].Revents&unix.POLLIN == 0 {
		t.Errorf("pidfd not readable after the child was killed")
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Wait: %v, want *exec.ExitError", err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("Wait: %v, want killed by SIGTERM", err)
	}
}

// A Dir that cannot be used fails Start as it fails os/exec's: with a
// "chdir" *PathError where os.StartProcess stats Dir first (no
// SysProcAttr), else with the errno of the child's chdir.
func TestDirErrorsAsOSExec(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(tmp, "missing")
	// Above MAX_ARG_STRLEN: the kernel refuses it (E2BIG) when the
	// embryo is given it, os/exec's child at its execve.
	huge := []string{"HUGE=" + strings.Repeat("x", 1<<20)}
	for _, tc := range []struct {
		name    string
		dir     string
		attr    bool     // a (zero) SysProcAttr
		env     []string // nil: the caller's
		program string   // "": the helper
		errno   syscall.Errno
	}{
		{name: "missing", dir: missing, errno: syscall.ENOENT},
		{name: "a file", dir: file, errno: syscall.ENOTDIR},
		{name: "below a file", dir: filepath.Join(file, "x"), errno: syscall.ENOTDIR},
		{name: "missing, with SysProcAttr", dir: missing, attr: true, errno: syscall.ENOENT},
		// os/exec's stat of Dir comes before everything else.
		{name: "missing, and an environment too large", dir: missing, env: huge, errno: syscall.ENOENT},
		{name: "missing, and no program", dir: missing, program: filepath.Join(tmp, "no-program"), errno: syscall.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exe := testenv.Executable(t)
			ours := helperCommand(t, "echo", "x")
			theirs := exec.Command(exe, "echo", "x")
			if tc.program != "" {
				ours.Path, theirs.Path = tc.program, tc.program
			}
			ours.Dir, theirs.Dir = tc.dir, tc.dir
			ours.Env, theirs.Env = tc.env, tc.env
			if tc.attr {
				ours.SysProcAttr, theirs.SysProcAttr = &syscall.SysProcAttr{}, &syscall.SysProcAttr{}
			}
			errOurs, errTheirs := ours.Run(), theirs.Run()
			if !errors.Is(errTheirs, tc.errno) {
				t.Fatalf("os/exec: %v, want %v (the test's premise)", errTheirs, unix.ErrnoName(tc.errno))
			}
			if !errors.Is(errOurs, tc.errno) {
				t.Fatalf("spawn: %v, want %v", errOurs, unix.ErrnoName(tc.errno))
			}
			chdir := func(err error) string {
				var pe *os.PathError
				if errors.As(err, &pe) && pe.Op == "chdir" {
					return pe.Path
				}
				return ""
			}
			if a, b := chdir(errOurs), chdir(errTheirs); a != b {
				t.Errorf("spawn: %v (%T), os/exec: %v (%T): chdir *PathError for %q and %q", errOurs, errOurs, errTheirs, errTheirs, a, b)
			}
		})
	}
}

// A Start that fails for its Dir leaves the caller's files as os/exec's
// does: os/exec stats Dir before it asks a file for its descriptor, which
// would make a non-blocking one (a pipe) blocking and its deadlines void.
func TestBadDirLeavesFilesNonBlocking(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cmd := helperCommand(t, "echo", "x")
	cmd.Dir = filepath.Join(t.TempDir(), "missing")
	cmd.Stdin = r
	var pe *os.PathError
	if err := cmd.Run(); !errors.As(err, &pe) || pe.Op != "chdir" {
		t.Fatalf("Run: %v, want a chdir *PathError", err)
	}
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatalf("SetReadDeadline: %v (the pipe was made blocking)", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read: %v, want the deadline's error", err)
		}
	case <-time.After(10 * time.Second):
		w.Write([]byte{0})
		<-done
		t.Errorf("Read ignored its deadline: the failed Start made the pipe blocking")
	}
}
