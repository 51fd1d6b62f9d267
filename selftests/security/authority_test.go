package security

// v1 finding A4: the right to configure and run an embryo lapses when its
// creator drops privileges, enters a sandbox or execs after creating it.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type authorityArg struct {
	Change string // what the creator does to itself after creating the embryo
	Secret string // a file only root may read
	Cgroup string // "cgroup": the cgroup (v2) the creator moves to
}

type authorityResult struct {
	Changed string // what the helper saw of its change
	Embryo  bool   // fdinfo says Embryo:\t1 after the change
	FDOpen  string // PIDFD_FD_OPEN of Secret after the change
	Run     string // pidfd_spawn_run after the change
	Exit    pidfd.Exit
}

// envExeced tells the re-executed creator ("execve") its embryo's fd and
// the pid it had: "fd pid".
const envExeced = "EMPTYPIDFD_V2_CREATOR_EXECED"

// landlockNoRead restricts the calling thread with a ruleset that handles
// executing and reading files and allows only reading beneath /proc (for
// fdinfo).
func landlockNoRead() error {
	return landlockAllowOnly(unix.LANDLOCK_ACCESS_FS_EXECUTE|unix.LANDLOCK_ACCESS_FS_READ_FILE,
		"/proc", unix.LANDLOCK_ACCESS_FS_READ_FILE)
}

// dropDacOverride removes CAP_DAC_OVERRIDE from the calling thread's
// effective set and reports whether it is still there.
func dropDacOverride() (string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return "", fmt.Errorf("capget: %v", err)
	}
	data[0].Effective &^= 1 << unix.CAP_DAC_OVERRIDE
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return "", fmt.Errorf("capset: %v", err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return "", fmt.Errorf("capget: %v", err)
	}
	return fmt.Sprintf("CAP_DAC_OVERRIDE effective: %v", data[0].Effective&(1<<unix.CAP_DAC_OVERRIDE) != 0), nil
}

// changeSelf makes the change arg names to the calling thread (or
// process) and describes its effect.
func changeSelf(arg authorityArg, fd int) (string, error) {
	switch arg.Change {
	case "none":
		return "", nil
	case "setresuid":
		// syscall.Setresuid changes every thread of the process.
		if err := syscall.Setresuid(helper.Nobody, helper.Nobody, helper.Nobody); err != nil {
			return "", fmt.Errorf("setresuid: %v", err)
		}
		r, e, s := unix.Getresuid()
		return fmt.Sprintf("uids %d %d %d", r, e, s), nil
	case "capset":
		return dropDacOverride()
	case "landlock":
		if err := landlockNoRead(); err != nil {
			return "", err
		}
		return "open: " + openRead(arg.Secret), nil
	case "seccomp":
		if err := seccompAllowAll(); err != nil {
			return "", err
		}
		v, err := embryo.StatusField("thread-self", "Seccomp")
		return "Seccomp: " + v, err
	case "nnp":
		if err := setNoNewPrivs(); err != nil {
			return "", err
		}
		v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
		return fmt.Sprintf("no_new_privs: %d", v), err
	case "fsize":
		// As OpenSSH's privilege-separated children lower their limits.
		zero := unix.Rlimit{}
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &zero); err != nil {
			return "", fmt.Errorf("setrlimit(RLIMIT_FSIZE, 0): %v", err)
		}
		var got unix.Rlimit
		err := unix.Getrlimit(unix.RLIMIT_FSIZE, &got)
		return fmt.Sprintf("RLIMIT_FSIZE %d %d", got.Cur, got.Max), err
	case "netns":
		// The locked thread's namespaces: the one that configures.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return "", fmt.Errorf("unshare(CLONE_NEWNET): %v", err)
		}
		return "new net namespace", nil
	case "cgroup":
		if err := os.WriteFile(arg.Cgroup+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			return "", fmt.Errorf("moving to %s: %v", arg.Cgroup, err)
		}
		// The pids hierarchy may be v1 or v2, whichever the guest
		// mounted first (embryo.PidsCgroup): the move is the same.
		b, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			return "", err
		}
		if !strings.Contains(string(b), "/"+filepath.Base(arg.Cgroup)+"\n") {
			return "", fmt.Errorf("/proc/self/cgroup does not name %s: %q", arg.Cgroup, b)
		}
		return "moved to another cgroup", nil
	case "execve":
		// Keep the embryo's fd across the exec and re-execute the
		// test binary, which runs this helper again (the same
		// argument) and finds envExeced.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0); err != nil {
			return "", fmt.Errorf("clearing FD_CLOEXEC: %v", err)
		}
		exe, err := os.Executable()
		if err != nil {
			return "", err
		}
		env := append(os.Environ(), fmt.Sprintf("%s=%d %d", envExeced, fd, os.Getpid()))
		err = syscall.Exec(exe, os.Args, env)
		return "", fmt.Errorf("re-executing %s: %v", exe, err)
	}
	return "", fmt.Errorf("unknown change %q", arg.Change)
}

// helperAuthority creates an embryo that would run true-static, changes
// itself as asked, and then tries to have the embryo open a root-only file
// and to start it. For "execve" the second half runs in the re-executed
// binary.
func helperAuthority(raw json.RawMessage) (any, error) {
	var arg authorityArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	var res authorityResult
	var fd int
	if v, ok := os.LookupEnv(envExeced); ok {
		var pid int
		if _, err := fmt.Sscanf(v, "%d %d", &fd, &pid); err != nil {
			return nil, fmt.Errorf("%s=%q: %v", envExeced, v, err)
		}
		res.Changed = "re-executed, pid " + strconv.Itoa(pid)
		if pid != os.Getpid() {
			res.Changed = fmt.Sprintf("re-executed as pid %d, was %d", os.Getpid(), pid)
		}
	} else {
		var err error
		if fd, err = pidfd.Open(0, pidfd.PIDFD_EMPTY); err != nil {
			return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
		}
		if err := configProgram(fd, childreport.TruePath, []string{"true-static"}); err != nil {
			return nil, err
		}
		// Opened now, read after the change: a process that drops
		// root may no longer open its own /proc files (the open is
		// what is checked), and the row is about the embryo.
		info, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
		if err != nil {
			return nil, err
		}
		defer info.Close()
		if res.Changed, err = changeSelf(arg, fd); err != nil {
			return nil, err
		}
		b, err := io.ReadAll(info)
		if err != nil {
			return nil, fmt.Errorf("fdinfo after the change: %v", err)
		}
		res.Embryo = strings.Contains(string(b), "Embryo:\t1\n")
	}
	defer unix.Close(fd)
	var err error
	if _, reexec := os.LookupEnv(envExeced); reexec {
		if res.Embryo, err = pidfd.IsEmbryo(fd); err != nil {
			return nil, err
		}
	}
	res.FDOpen = fdOpenSecret(fd, arg.Secret)
	_, err = pidfd.SpawnRun(fd, 0)
	res.Run = embryo.Name(err)
	if err == nil {
		if res.Exit, err = embryo.WaitExit(fd, embryo.Timeout); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// TestAuthorityDropped (v1 finding A4, v2 review finding 3): the right to
// configure and run an embryo lapses when its creator drops privileges or
// enters a sandbox after creating it (setresuid, capset, Landlock,
// seccomp, no_new_privs; a lowered hard resource limit, a new namespace)
// or execs: both PIDFD_FD_OPEN of a root-only file and pidfd_spawn_run
// get EPERM. v1 let the creator go on with the authority it had at
// creation; v2 did so after rlimit and namespace changes. The control row
// changes nothing, and a move to another cgroup (its manager's choice, not
// a sandbox: the embryo stays where it was made, as a forked child would)
// changes nothing either; both must succeed.
func TestAuthorityDropped(t *testing.T) {
	embryo.Require(t)
	secret := writeSecret(t, t.TempDir())
	cg := embryo.PidsCgroup(t)
	for _, tc := range []struct {
		change  string
		changed string // what the helper must see of its change
		allowed bool   // the creator keeps its right
	}{
		{"none", "", true},
		{"setresuid", "uids 65534 65534 65534", false},
		{"capset", "CAP_DAC_OVERRIDE effective: false", false},
		{"landlock", "open: EACCES", false},
		{"seccomp", "Seccomp: 2", false},
		{"nnp", "no_new_privs: 1", false},
		{"execve", "re-executed, pid ", false},
		{"fsize", "RLIMIT_FSIZE 0 0", false},
		{"netns", "new net namespace", false},
		{"cgroup", "moved to another cgroup", true},
	} {
		t.Run(tc.change, func(t *testing.T) {
			var res authorityResult
			helper.New(t, "authority", authorityArg{Change: tc.change, Secret: secret, Cgroup: cg}).Result(&res)
			if !strings.HasPrefix(res.Changed, tc.changed) || (tc.changed == "") != (res.Changed == "") {
				t.Fatalf("after the change the helper saw %q, want %q", res.Changed, tc.changed)
			}
			if !res.Embryo {
				t.Fatalf("fdinfo lacks Embryo:\\t1 after the change: the embryo did not survive it")
			}
			if tc.allowed {
				if res.FDOpen != "success" {
					t.Errorf("PIDFD_FD_OPEN of a root-only file by its root creator after %s: %s, want success", tc.change, res.FDOpen)
				}
				if res.Run != "success" {
					t.Errorf("pidfd_spawn_run by its creator after %s: %s, want success", tc.change, res.Run)
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
