package config

// The pristine state at creation (DESIGN.md section 3): with only EXEC and
// ENVP configured, the child has no descriptors, an empty signal mask and
// no ignored, caught or pending signals, and the caller's creds, cwd and
// umask. TestDefaultChild changes the creating thread's signal state
// before creation and restores it before run, so it catches a kernel that
// copies that state at creation; TestDefaultChildCallerChangesBeforeRun
// changes it between creation and run, for a kernel that takes it from the
// caller at run.

import (
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// TestDefaultChild: with only EXEC and ENVP configured, the child starts
// pristine, whatever the creating thread's state: no descriptors, empty
// signal mask, no ignored, caught or pending signals; creds, cwd and umask
// are the caller's; argv is empty (the kernel adds "", as for execve).
func TestDefaultChild(t *testing.T) {
	embryo.Require(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	set.Val[0] = bit(unix.SIGUSR1)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		t.Fatal(err)
	}
	signal.Ignore(syscall.SIGUSR2)
	fd := embryo.New(t) // from this thread
	signal.Reset(syscall.SIGUSR2)
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err != nil {
		t.Fatal(err)
	}
	umask := unix.Umask(0o22)
	unix.Umask(umask)

	env, path := reportEnv(t)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if err := pidfd.ConfigEnvp(fd, []string{env}); err != nil {
		t.Fatal(embryo.Name(err))
	}
	rep, ex := runToFile(t, fd, path)
	t.Logf("default child:\n%s", rep)
	if !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	if len(rep.FDs) != 0 {
		t.Errorf("the default child has descriptors %v, want none", rep.FDNums())
	}
	if want := []string{""}; !reflect.DeepEqual(rep.Argv, want) {
		t.Errorf("argv %q, want %q (execve's treatment of an empty argv)", rep.Argv, want)
	}
	if want := []string{env}; !reflect.DeepEqual(rep.Env, want) {
		t.Errorf("env %q, want %q", rep.Env, want)
	}
	for _, k := range []string{"SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"} {
		if v := hex(t, rep, k); v != 0 {
			t.Errorf("%s = %#x, want 0 (the creating thread blocked SIGUSR1 and ignored SIGUSR2)", k, v)
		}
	}
	if wd, _ := os.Getwd(); rep.Cwd != wd {
		t.Errorf("cwd %q, want the caller's %q", rep.Cwd, wd)
	}
	if m, err := rep.Octal("Umask"); err != nil || m != umask {
		t.Errorf("umask %#o (%v), want the caller's %#o", m, err, umask)
	}
	if ids, err := rep.IDs("Uid"); err != nil || ids != [4]int{0, 0, 0, 0} {
		t.Errorf("Uid %v (%v), want the caller's 0 0 0 0", ids, err)
	}
	if rep.PPid != os.Getpid() {
		t.Errorf("ppid %d, want the creator %d", rep.PPid, os.Getpid())
	}
	if rep.ATSecure != 0 {
		t.Errorf("AT_SECURE %d, want 0", rep.ATSecure)
	}
}

// threadStatusHex reads a hexadecimal field (SigBlk, SigPnd, ...) of the
// calling thread's /proc status.
func threadStatusHex(t *testing.T, name string) uint64 {
	t.Helper()
	v, err := embryo.StatusField("thread-self", name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		t.Fatalf("/proc/thread-self/status %s: %v", name, err)
	}
	return n
}

// TestDefaultChildCallerChangesBeforeRun (DESIGN.md section 3: pristine
// state at creation, every disposition default, empty mask, nothing
// pending; only PIDFD_CONFIG_SIGNALS changes it). Between creating the
// embryo and running it, from the same thread, the caller blocks SIGUSR1
// and SIGTERM, makes a SIGUSR1 pending on that thread, ignores SIGUSR2
// and SIGWINCH and catches SIGHUP (the Go runtime catches most signals
// already): its own /proc status shows each change (else the test is
// void). The child must still start with SigBlk, SigIgn, SigCgt, SigPnd
// and ShdPnd all 0: a kernel that fills the embryo's signal state from the
// caller at run, not at creation, fails.
func TestDefaultChildCallerChangesBeforeRun(t *testing.T) {
	embryo.Require(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd := embryo.New(t) // from this thread, with its signal state as it is
	env, path := reportEnv(t)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if err := pidfd.ConfigEnvp(fd, []string{env}); err != nil {
		t.Fatal(embryo.Name(err))
	}

	// Now change the creating thread's signal state.
	usr1 := make(chan os.Signal, 4)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	hup := make(chan os.Signal, 4)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	signal.Ignore(syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Reset(syscall.SIGUSR2, syscall.SIGWINCH)
	var set, old unix.Sigset_t
	set.Val[0] = bit(unix.SIGUSR1, unix.SIGTERM)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		t.Fatal(err)
	}
	unblocked := false
	unblock := func() {
		if unblocked {
			return
		}
		unblocked = true
		if err := unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil); err != nil {
			t.Errorf("restoring the signal mask: %v", err)
		}
		// The pending SIGUSR1 is delivered now, to the Go runtime.
		select {
		case <-usr1:
		case <-time.After(5 * time.Second):
			t.Errorf("the SIGUSR1 pending on the creating thread was not delivered after unblocking")
		}
	}
	defer unblock()
	if err := unix.Tgkill(os.Getpid(), unix.Gettid(), unix.SIGUSR1); err != nil {
		t.Fatalf("tgkill(self, SIGUSR1): %v", err)
	}
	for _, c := range []struct {
		field string
		want  uint64
	}{
		{"SigBlk", bit(unix.SIGUSR1, unix.SIGTERM)},
		{"SigPnd", bit(unix.SIGUSR1)},
		{"SigIgn", bit(unix.SIGUSR2, unix.SIGWINCH)},
		{"SigCgt", bit(unix.SIGHUP)},
	} {
		if got := threadStatusHex(t, c.field); got&c.want != c.want {
			t.Fatalf("the creating thread's %s is %#x after the change, lacks %#x: the test is void", c.field, got, c.want)
		}
	}

	rep, ex := runToFile(t, fd, path)
	unblock()
	t.Logf("child:\n%s", rep)
	if !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	for _, k := range []string{"SigBlk", "SigIgn", "SigCgt", "SigPnd", "ShdPnd"} {
		if v := hex(t, rep, k); v != 0 {
			t.Errorf("the child's %s = %#x, want 0: the caller's state after creation (SIGUSR1, SIGTERM blocked, SIGUSR1 pending, SIGUSR2 and SIGWINCH ignored, SIGHUP caught) leaked into it at run", k, v)
		}
	}
	if len(rep.FDs) != 0 {
		t.Errorf("the child has descriptors %v, want none", rep.FDNums())
	}
}
