package security

// Tests for the findings of the v1 review that series v2 fixes (DESIGN.md
// section 3, "Exec security" and "Safety in every state"): A1 the point of
// no return, A2 time namespaces, A3 seccomp and the embryo's exec, A4 the
// creator's authority. Each fails on v1.

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// bigdataPath is selftests/childreport/bigdata.c in the guest (put there
// by vmtest/): 1 MiB of initialized data, exit 0.
const bigdataPath = "/bin/bigdata-static"

// dataLimit is the RLIMIT_DATA under which bigdata-static's data segment
// cannot be mapped.
const dataLimit = 64 << 10

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

func requireBigdata(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(bigdataPath); err != nil {
		t.Fatalf("%v (vmtest builds selftests/childreport/bigdata.c into the initramfs)", err)
	}
}

// killedBy says whether ex is a child killed by sig (with or without a
// core dump).
func killedBy(ex pidfd.Exit, sig unix.Signal) bool {
	return (ex.Code == pidfd.CLD_KILLED || ex.Code == pidfd.CLD_DUMPED) && ex.Status == int(sig)
}

// checkPONR checks what the helper saw after running bigdata-static:
// under the limit a started process that dies of SIGSEGV and can no longer
// be configured, without it one that exits 0.
func checkPONR(t *testing.T, res ponrResult, limited bool) {
	t.Helper()
	if res.Run != "success" || res.Pid <= 0 {
		t.Fatalf("pidfd_spawn_run: %s, pid %d; want the child's pid (a failure past the point of no return starts the process)", res.Run, res.Pid)
	}
	if res.Embryo {
		t.Errorf("fdinfo still says Embryo:\\t1 after the run")
	}
	if res.Argv != "EBUSY" {
		t.Errorf("PIDFD_CONFIG_ARGV after the run: %s, want EBUSY", res.Argv)
	}
	if res.FDOpen != "EBUSY" {
		t.Errorf("PIDFD_FD_OPEN of a root-only file after the run: %s, want EBUSY", res.FDOpen)
	}
	if res.Exit.Pid != res.Pid {
		t.Errorf("waitid(P_PIDFD) reports pid %d, pidfd_spawn_run returned %d", res.Exit.Pid, res.Pid)
	}
	if limited && !killedBy(res.Exit, unix.SIGSEGV) {
		t.Errorf("child: %v, want killed by SIGSEGV (its exec failed past the point of no return)", res.Exit)
	}
	if !limited && !res.Exit.Exited(0) {
		t.Errorf("child: %v, want exit 0 (without the limit the program runs)", res.Exit)
	}
}

// TestPointOfNoReturn (v1 finding A1): an exec that fails past its point of
// no return (bigdata-static's data segment exceeds RLIMIT_DATA) leaves a
// started process that dies of SIGSEGV, as after execve: pidfd_spawn_run
// returns its pid, the fd is no longer an embryo and configuration gets
// EBUSY. v1 returned ENOMEM and left it configurable.
func TestPointOfNoReturn(t *testing.T) {
	embryo.Require(t)
	requireBigdata(t)
	secret := writeSecret(t, t.TempDir())
	for _, tc := range []struct {
		name  string
		limit uint64
	}{
		{"RLIMIT_DATA 64KiB", dataLimit},
		{"no limit (control)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res ponrResult
			helper.New(t, "v2-ponr", ponrArg{Prog: bigdataPath, Limit: tc.limit, Secret: secret}).Result(&res)
			checkPONR(t, res, tc.limit != 0)
		})
	}
}

// TestPointOfNoReturnSetuid (v1 finding A1, the local root): nobody runs a
// set-uid root program in an embryo under a small RLIMIT_DATA. Exec commits
// the root credentials before it fails to map the data segment; v1 then
// returned ENOMEM and let nobody configure the embryo, which now opened
// files as root (PIDFD_FD_OPEN). v2 starts the process, which dies of
// SIGSEGV, and refuses configuration with EBUSY.
func TestPointOfNoReturnSetuid(t *testing.T) {
	embryo.Require(t)
	requireBigdata(t)
	base, err := os.MkdirTemp("/tmp", "emptypidfd-v2-ponr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	// A fresh tmpfs (mode 0755, without nosuid), so that the set-uid bit
	// counts whatever /tmp's options.
	dir := filepath.Join(base, "exec")
	mountTmpfs(t, dir, 0)
	prog := filepath.Join(dir, "bigdata-setuid")
	helper.CopyFile(t, bigdataPath, prog, 0o755)
	if err := os.Chown(prog, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(prog, unix.S_ISUID|0o755); err != nil {
		t.Fatal(err)
	}
	secret := writeSecret(t, dir)
	for _, tc := range []struct {
		name  string
		limit uint64
	}{
		{"RLIMIT_DATA 64KiB", dataLimit},
		{"no limit (control)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res ponrResult
			helper.New(t, "v2-ponr", ponrArg{Prog: prog, Limit: tc.limit, Secret: secret}).
				AsUser(helper.Nobody, helper.Nobody).Result(&res)
			if res.Uid != helper.Nobody || res.Euid != helper.Nobody {
				t.Fatalf("helper ran as uid %d euid %d, want %d", res.Uid, res.Euid, helper.Nobody)
			}
			if res.SecretOpen != "EACCES" {
				t.Fatalf("nobody's own open of %s: %s, want EACCES (the file must be root-only)", secret, res.SecretOpen)
			}
			checkPONR(t, res, tc.limit != 0)
		})
	}
}

// TestTimeNamespace (v1 finding A2): an embryo created by a thread whose
// time namespace for children differs from its own (after
// unshare(CLONE_NEWTIME)) has no mm to join the namespace's vDSO with; v1
// oopsed in vdso_join_timens (the harness fails the run on the console
// report). The started child is in the creating thread's
// time_for_children, as after fork. Unprivileged users reach this through
// a user namespace of their own.
func TestTimeNamespace(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name   string
		userns bool
	}{
		{"root", false},
		{"nobody in a user namespace", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := helper.New(t, "v2-timens", nil)
			if tc.userns {
				// nobody to the rest of the system, root (with every
				// capability) in a user namespace of its own.
				h.AsUser(helper.Nobody, helper.Nobody)
				a := h.Cmd.SysProcAttr
				a.Cloneflags = syscall.CLONE_NEWUSER
				a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
				a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
				a.GidMappingsEnableSetgroups = true // to drop root's supplementary groups
				a.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
			}
			var res timensResult
			h.Result(&res)
			if tc.userns && res.UidMap != "0 65534 1" {
				t.Fatalf("helper's uid_map %q, want \"0 65534 1\"", res.UidMap)
			}
			if res.Self != res.Before || res.Children == res.Self {
				t.Fatalf("after unshare(CLONE_NEWTIME) the thread is in %s (was %s), its children go to %s: want a new namespace for the children only",
					res.Self, res.Before, res.Children)
			}
			if res.Run != "success" || res.Pid <= 0 {
				t.Fatalf("pidfd_spawn_run of sleep 30: %s, pid %d; want success", res.Run, res.Pid)
			}
			if res.Child != res.Children {
				t.Errorf("the child's time namespace is %s, want the creating thread's time_for_children %s", res.Child, res.Children)
			}
			if res.Child == res.Self {
				t.Errorf("the child is in its creator's own time namespace %s, not in time_for_children", res.Self)
			}
			if res.Exit.Pid != res.Pid || !killedBy(res.Exit, unix.SIGKILL) {
				t.Errorf("child: %v, want pid %d killed by SIGKILL (it was still sleeping)", res.Exit, res.Pid)
			}
		})
	}
}

// An end is how spawning true-static under a filter must end: the exec's
// errno, or a started process killed by sig (0: exits 0).
type end struct {
	errno unix.Errno
	sig   unix.Signal
}

func checkEnd(t *testing.T, way string, o spawnOutcome, want end) {
	t.Helper()
	if want.errno != 0 {
		if o.Errno != embryo.ErrnoName(want.errno) {
			t.Errorf("%s: %s, want %s", way, o.Errno, embryo.ErrnoName(want.errno))
		}
		return
	}
	if o.Errno != "success" || o.Pid <= 0 {
		t.Errorf("%s: %s, pid %d; want the child's pid", way, o.Errno, o.Pid)
		return
	}
	if o.Exit.Pid != o.Pid {
		t.Errorf("%s: waitid reports pid %d, want %d", way, o.Exit.Pid, o.Pid)
	}
	if want.sig != 0 && !killedBy(o.Exit, want.sig) {
		t.Errorf("%s: child %v, want killed by %v", way, o.Exit, want.sig)
	}
	if want.sig == 0 && !o.Exit.Exited(0) {
		t.Errorf("%s: child %v, want exit 0", way, o.Exit)
	}
}

// TestSeccompJudgesExec (v1 finding A3): the seccomp filters an embryo
// inherits judge its exec as they would an execve or execveat it made: an
// errno fails the run and leaves the embryo configurable, KILL and TRAP
// start a process that dies of SIGSYS (handlers are default in an embryo),
// TRACE and USER_NOTIF give ENOSYS (an embryo is never traced nor waits
// for a supervisor). fork+execve from the same thread is the reference
// where it applies. v1 ran the program in every case.
func TestSeccompJudgesExec(t *testing.T) {
	embryo.Require(t)
	if runtime.GOARCH != "amd64" {
		t.Skipf("the filters name x86_64 system calls; this is %s", runtime.GOARCH)
	}
	const (
		nrExecve   = 59
		nrExecveat = 322
	)
	ok := &end{}
	for _, tc := range []struct {
		name     string
		nr       int
		action   uint32
		listener bool
		embryo   end
		fork     *end // nil: not compared
	}{
		{name: "ERRNO(EMLINK) on execve", nr: nrExecve, action: unix.SECCOMP_RET_ERRNO | uint32(unix.EMLINK),
			embryo: end{errno: unix.EMLINK}, fork: &end{errno: unix.EMLINK}},
		// Go's fork+execve uses execve, which this filter allows.
		{name: "ERRNO(ETOOMANYREFS) on execveat", nr: nrExecveat, action: unix.SECCOMP_RET_ERRNO | uint32(unix.ETOOMANYREFS),
			embryo: end{errno: unix.ETOOMANYREFS}, fork: ok},
		{name: "KILL_PROCESS on execve", nr: nrExecve, action: unix.SECCOMP_RET_KILL_PROCESS,
			embryo: end{sig: unix.SIGSYS}, fork: &end{sig: unix.SIGSYS}},
		{name: "TRAP on execve", nr: nrExecve, action: unix.SECCOMP_RET_TRAP,
			embryo: end{sig: unix.SIGSYS}, fork: &end{sig: unix.SIGSYS}},
		{name: "TRACE on execve", nr: nrExecve, action: unix.SECCOMP_RET_TRACE,
			embryo: end{errno: unix.ENOSYS}, fork: &end{errno: unix.ENOSYS}},
		// A forked child would wait for the listener forever.
		{name: "USER_NOTIF on execve", nr: nrExecve, action: unix.SECCOMP_RET_USER_NOTIF, listener: true,
			embryo: end{errno: unix.ENOSYS}},
		{name: "LOG on execve", nr: nrExecve, action: unix.SECCOMP_RET_LOG, embryo: end{}, fork: ok},
		{name: "allow all", nr: -1, action: unix.SECCOMP_RET_ALLOW, embryo: end{}, fork: ok},
	} {
		for _, u := range both {
			t.Run(tc.name+"/"+u.name, func(t *testing.T) {
				arg := seccompArg{Nr: tc.nr, Action: tc.action, Listener: tc.listener, Fork: tc.fork != nil}
				h := helper.New(t, "v2-seccomp", arg)
				if u.uid != 0 {
					h.AsUser(u.uid, u.gid)
				}
				var res seccompResult
				h.Result(&res)
				checkEnd(t, "embryo", res.Embryo, tc.embryo)
				if tc.embryo.errno != 0 {
					if !res.EmbryoAfter {
						t.Errorf("fdinfo lacks Embryo:\\t1 after the failed run")
					}
					if res.ConfigAfter != "success" {
						t.Errorf("PIDFD_CONFIG_ARGV after the failed run: %s, want success (still configurable)", res.ConfigAfter)
					}
				} else if res.EmbryoAfter {
					t.Errorf("fdinfo still says Embryo:\\t1 after the process started")
				}
				if tc.fork != nil {
					checkEnd(t, "fork+execve", res.Fork, *tc.fork)
				}
			})
		}
	}
}

// TestAuthorityDropped (v1 finding A4): the right to configure and run an
// embryo lapses when its creator drops privileges or enters a sandbox
// after creating it (setresuid, capset, Landlock, seccomp, no_new_privs)
// or execs: both PIDFD_FD_OPEN of a root-only file and pidfd_spawn_run get
// EPERM. v1 let the creator go on with the authority it had at creation.
// The control row changes nothing and must succeed.
func TestAuthorityDropped(t *testing.T) {
	embryo.Require(t)
	secret := writeSecret(t, t.TempDir())
	for _, tc := range []struct {
		change  string
		changed string // what the helper must see of its change
	}{
		{"none", ""},
		{"setresuid", "uids 65534 65534 65534"},
		{"capset", "CAP_DAC_OVERRIDE effective: false"},
		{"landlock", "open: EACCES"},
		{"seccomp", "Seccomp: 2"},
		{"nnp", "no_new_privs: 1"},
		{"execve", "re-executed, pid "},
	} {
		t.Run(tc.change, func(t *testing.T) {
			var res authorityResult
			helper.New(t, "v2-authority", authorityArg{Change: tc.change, Secret: secret}).Result(&res)
			if !strings.HasPrefix(res.Changed, tc.changed) || (tc.changed == "") != (res.Changed == "") {
				t.Fatalf("after the change the helper saw %q, want %q", res.Changed, tc.changed)
			}
			if !res.Embryo {
				t.Fatalf("fdinfo lacks Embryo:\\t1 after the change: the embryo did not survive it")
			}
			if tc.change == "none" {
				if res.FDOpen != "success" {
					t.Errorf("PIDFD_FD_OPEN of a root-only file by its unchanged root creator: %s, want success", res.FDOpen)
				}
				if res.Run != "success" {
					t.Errorf("pidfd_spawn_run by its unchanged creator: %s, want success", res.Run)
				} else if !res.Exit.Exited(0) {
					t.Errorf("child: %v, want exit 0", res.Exit)
				}
				return
			}
			if res.FDOpen != "EPERM" {
				t.Errorf("PIDFD_FD_OPEN of a root-only file after %s: %s, want EPERM", tc.change, res.FDOpen)
			}
			if res.Run != "EPERM" {
				t.Errorf("pidfd_spawn_run after %s: %s, want EPERM (child: %v)", tc.change, res.Run, res.Exit)
			}
		})
	}
}
