package security

// v1 finding A1: an exec that fails past its point of no return leaves a
// started process, as after execve, not a configurable embryo that may
// now hold the credentials the exec committed.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// dataLimits are the cases of the point of no return tests: bigdata-static
// under dataLimit, and without a limit, the control.
var dataLimits = []struct {
	name  string
	limit uint64
}{
	{"RLIMIT_DATA 64KiB", dataLimit},
	{"no limit (control)", 0},
}

func requireBigdata(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(bigdataPath); err != nil {
		t.Fatalf("%v (vmtest builds selftests/childreport/bigdata.c into the initramfs)", err)
	}
}

type ponrArg struct {
	Prog   string
	Limit  uint64 // the embryo's RLIMIT_DATA soft limit; 0 leaves it alone
	Secret string // a file only root may read
}

type ponrResult struct {
	Uid, Euid  int
	SecretOpen string // open(Secret) by the helper itself
	Run        string // pidfd_spawn_run
	Pid        int
	Embryo     bool   // fdinfo says Embryo:\t1 after the run
	Argv       string // PIDFD_CONFIG_ARGV after the run
	FDOpen     string // PIDFD_FD_OPEN of Secret after the run
	Exit       pidfd.Exit
}

// embryoWithDataLimit creates an embryo whose RLIMIT_DATA soft limit is
// limit (0: the helper's own). Rlimits belong to the process and are
// copied at creation, so the helper lowers its own around pidfd_open
// only: Go's heap could not grow under such a limit. The hard limit stays,
// so that an unprivileged helper can restore its soft limit; exec obeys
// the soft one.
func embryoWithDataLimit(limit uint64) (int, error) {
	if limit == 0 {
		return pidfd.Open(0, pidfd.PIDFD_EMPTY)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_DATA, &old); err != nil {
		return -1, fmt.Errorf("getrlimit(RLIMIT_DATA): %v", err)
	}
	if old.Max < limit {
		return -1, fmt.Errorf("RLIMIT_DATA hard limit %d is below %d", old.Max, limit)
	}
	runtime.GC() // less reason for the heap to grow while the limit holds
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		return -1, fmt.Errorf("setrlimit(RLIMIT_DATA, %d): %v", limit, err)
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if rerr := unix.Setrlimit(unix.RLIMIT_DATA, &old); rerr != nil {
		if err == nil {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("restoring RLIMIT_DATA: %v", rerr)
	}
	return fd, err
}

// helperPONR creates an embryo under a small RLIMIT_DATA, runs Prog (whose
// data segment exceeds it) in it, and records what the fd says and allows
// afterwards, then reaps the child if it started.
func helperPONR(raw json.RawMessage) (any, error) {
	var arg ponrArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	res := ponrResult{Uid: os.Getuid(), Euid: os.Geteuid(), SecretOpen: openRead(arg.Secret)}
	fd, err := embryoWithDataLimit(arg.Limit)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, arg.Prog, []string{arg.Prog}); err != nil {
		return nil, err
	}
	res.Pid, err = pidfd.SpawnRun(fd, 0)
	res.Run = embryo.Name(err)
	if res.Embryo, err = pidfd.IsEmbryo(fd); err != nil {
		return nil, err
	}
	res.Argv = embryo.Name(pidfd.ConfigArgv(fd, []string{"again"}))
	res.FDOpen = fdOpenSecret(fd, arg.Secret)
	if res.Run == "success" {
		if res.Exit, err = embryo.WaitExit(fd, embryo.Timeout); err != nil {
			return nil, err
		}
	}
	return res, nil
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
	for _, tc := range dataLimits {
		t.Run(tc.name, func(t *testing.T) {
			var res ponrResult
			helper.New(t, "ponr", ponrArg{Prog: bigdataPath, Limit: tc.limit, Secret: secret}).Result(&res)
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
	base := sharedTempDir(t, "emptypidfd-v2-ponr-")
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
	for _, tc := range dataLimits {
		t.Run(tc.name, func(t *testing.T) {
			var res ponrResult
			helper.New(t, "ponr", ponrArg{Prog: prog, Limit: tc.limit, Secret: secret}).
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
