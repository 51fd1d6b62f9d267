package security

// The helper home: TestMain, the helper processes by name, the helper
// that spawns one program both ways (helperPair), and what several files
// use.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// helpers are the helper processes the tests start (helper.New), by name;
// helper.Main runs them in the re-executed test binary. Each locks its
// goroutine to one OS thread before it creates an embryo and never leaves
// it: sandboxes, capabilities and time_for_children are per thread, and
// the creator's authority is judged on the thread that configures and
// runs.
var helpers = map[string]helper.Func{
	"pair":      helperPair,      // here: security_test.go, binfmt_test.go
	"ponr":      helperPONR,      // pointofnoreturn_test.go
	"timens":    helperTimens,    // timens_test.go
	"seccomp":   helperSeccomp,   // seccomp_test.go
	"authority": helperAuthority, // authority_test.go
	"attrs":     helperAttrs,     // attrs_test.go
}

func TestMain(m *testing.M) { helper.Main(m, helpers) }

// sandbox is what the helper does to itself before spawning.
type sandbox struct {
	NNP      bool   // prctl(PR_SET_NO_NEW_PRIVS)
	Seccomp  bool   // an allow-everything seccomp filter
	Landlock string // if set, a Landlock ruleset that handles EXECUTE and allows it only beneath this directory
}

type pairArg struct {
	Prog      string
	Argv, Env []string
	Sandbox   sandbox
}

// outcome is how one way of spawning went.
type outcome struct {
	Errno  string // of the exec, "success" if it ran
	Exit   string
	Status int // exit status, -1 if killed
	Report *childreport.Report
	Err    string // the report could not be read
}

type pairResult struct {
	NoNewPrivs bool // the helper set no_new_privs
	Fork       outcome
	Embryo     outcome
}

// helperPair sets up its sandbox on its main thread (with no_new_privs
// also when an unprivileged user needs it for seccomp or Landlock), then spawns the same
// program with the same argv, envp and descriptors (fd 1 a pipe, nothing
// else) twice from that thread: by fork+execve and by an embryo.
func helperPair(raw json.RawMessage) (any, error) {
	var arg pairArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	// Sandboxes are per thread: set up, fork and create the embryo on
	// this one, which the helper never leaves.
	runtime.LockOSThread()
	var res pairResult
	sb := arg.Sandbox
	if sb.NNP || (os.Geteuid() != 0 && (sb.Seccomp || sb.Landlock != "")) {
		if err := setNoNewPrivs(); err != nil {
			return nil, err
		}
		res.NoNewPrivs = true
	}
	if sb.Landlock != "" {
		if err := landlockRestrict(sb.Landlock); err != nil {
			return nil, err
		}
	}
	if sb.Seccomp {
		if err := seccompAllowAll(); err != nil {
			return nil, err
		}
	}
	var err error
	if res.Fork, err = viaFork(arg); err != nil {
		return nil, err
	}
	if res.Embryo, err = viaEmbryo(arg); err != nil {
		return nil, err
	}
	return res, nil
}

// finish reads the child's report and reaps it.
func finish(r *os.File, pfd int) outcome {
	var o outcome
	rep, b, rerr := embryo.ParseReport(r)
	ex, err := embryo.WaitExit(pfd, embryo.Timeout)
	o.Errno, o.Exit, o.Status = "success", ex.String(), ex.Status
	if ex.Code != pidfd.CLD_EXITED {
		o.Status = -1
	}
	switch {
	case err != nil:
		o.Err = err.Error()
	case rerr != nil:
		o.Err = fmt.Sprintf("%v: %q", rerr, b)
	default:
		o.Report = rep
	}
	return o
}

func viaFork(arg pairArg) (outcome, error) {
	r, w, err := embryo.NewPipe()
	if err != nil {
		return outcome{}, err
	}
	defer r.Close()
	_, pfd, err := embryo.ForkExec(arg.Prog, arg.Argv, arg.Env, []int{-1, int(w.Fd()), -1})
	w.Close()
	if err != nil {
		return outcome{Errno: embryo.Name(err)}, nil
	}
	defer unix.Close(pfd)
	return finish(r, pfd), nil
}

func viaEmbryo(arg pairArg) (outcome, error) {
	r, w, err := embryo.NewPipe()
	if err != nil {
		return outcome{}, err
	}
	defer r.Close()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		w.Close()
		return outcome{}, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	for _, c := range []struct {
		what string
		err  error
	}{
		{"EXEC", pidfd.ConfigExec(fd, unix.AT_FDCWD, arg.Prog, 0)},
		{"ARGV", pidfd.ConfigArgv(fd, arg.Argv)},
		{"ENVP", pidfd.ConfigEnvp(fd, arg.Env)},
		{"DUP", pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0)},
	} {
		if c.err != nil {
			w.Close()
			return outcome{}, fmt.Errorf("PIDFD_CONFIG %s: %s", c.what, embryo.Name(c.err))
		}
	}
	w.Close()
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return outcome{Errno: embryo.Name(err)}, nil
	}
	return finish(r, fd), nil
}

// landlockRestrict restricts the calling thread with a ruleset that handles
// LANDLOCK_ACCESS_FS_EXECUTE and allows it beneath dir only.
func landlockRestrict(dir string) error {
	return landlockAllowOnly(unix.LANDLOCK_ACCESS_FS_EXECUTE, dir, unix.LANDLOCK_ACCESS_FS_EXECUTE)
}

// landlockAllowOnly restricts the calling thread with a ruleset that
// handles the file system accesses in handled and allows, of them, only
// those in allowed, beneath dir.
func landlockAllowOnly(handled uint64, dir string, allowed uint64) error {
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); errno != 0 {
		return fmt.Errorf("landlock is not available (the test kernel enables it): %v", errno)
	}
	// Only handled_access_fs: every Landlock ABI knows that much.
	attr := unix.LandlockRulesetAttr{Handled_access_fs: handled}
	rfd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), 8, 0)
	if errno != 0 {
		return fmt.Errorf("landlock_create_ruleset: %v", errno)
	}
	defer unix.Close(int(rfd))
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("landlock rule for %s: %w", dir, err)
	}
	defer unix.Close(dfd)
	rule := unix.LandlockPathBeneathAttr{Allowed_access: allowed, Parent_fd: int32(dfd)}
	if _, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, rfd, unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_add_rule: %v", errno)
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, rfd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock_restrict_self: %v", errno)
	}
	return nil
}

// seccompAllowAll installs a filter that allows every system call on the
// calling thread: it changes nothing but Seccomp: 2 in /proc/<pid>/status.
func seccompAllowAll() error {
	filter := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %v", errno)
	}
	runtime.KeepAlive(filter)
	return nil
}

// openRead is open(path, O_RDONLY) by the caller itself, by errno name.
func openRead(path string) string {
	f, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(f)
	}
	return embryo.Name(err)
}

// fdOpenSecret is PIDFD_FD_OPEN of path, read-only, at the embryo's fd 3,
// by errno name.
func fdOpenSecret(fd int, path string) string {
	return embryo.Name(pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, path, &unix.OpenHow{Flags: unix.O_RDONLY}, 3))
}

// configProgram sets the embryo's program and argv.
func configProgram(fd int, prog string, argv []string) error {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, prog, 0); err != nil {
		return fmt.Errorf("PIDFD_CONFIG_EXEC %s: %s", prog, embryo.Name(err))
	}
	if err := pidfd.ConfigArgv(fd, argv); err != nil {
		return fmt.Errorf("PIDFD_CONFIG_ARGV %q: %s", argv, embryo.Name(err))
	}
	return nil
}

// setNoNewPrivs is prctl(PR_SET_NO_NEW_PRIVS, 1), which an unprivileged
// thread needs before it may install a seccomp filter or a Landlock
// ruleset.
func setNoNewPrivs() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
	}
	return nil
}

// sharedTempDir creates a directory under /tmp that every user may
// enter, removed when t ends.
func sharedTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeSecret creates a file only root may read (root:root, 0600) in dir.
func writeSecret(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "secret")
	if err := os.WriteFile(path, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// killedBy says whether ex is a child killed by sig (with or without a
// core dump).
func killedBy(ex pidfd.Exit, sig unix.Signal) bool {
	return (ex.Code == pidfd.CLD_KILLED || ex.Code == pidfd.CLD_DUMPED) && ex.Status == int(sig)
}
