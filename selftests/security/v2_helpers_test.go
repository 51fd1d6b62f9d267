package security

// The helper processes of v2_test.go. Each locks its goroutine to one OS
// thread before it creates an embryo and never leaves it: sandboxes,
// capabilities and time_for_children are per thread, and the creator's
// authority is judged on the thread that configures and runs.

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() {
	helpers["v2-ponr"] = helperPONR
	helpers["v2-timens"] = helperTimens
	helpers["v2-seccomp"] = helperSeccomp
	helpers["v2-authority"] = helperAuthority
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

// threadStatus returns a field of /proc/thread-self/status.
func threadStatus(field string) (string, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/thread-self/status has no %s", field)
}

// A1: the point of no return.

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

// A2: time namespaces.

type timensResult struct {
	UidMap   string // /proc/self/uid_map
	Before   string // the thread's time namespace before unshare
	Self     string // ... after unshare(CLONE_NEWTIME)
	Children string // its time_for_children after it
	Run      string
	Pid      int
	Child    string // the started child's time namespace
	Exit     pidfd.Exit
}

// helperTimens gives its thread a new time namespace for its children,
// creates an embryo from that thread, runs sleep 30 in it, records the
// child's time namespace and kills it.
func helperTimens(json.RawMessage) (any, error) {
	runtime.LockOSThread()
	var res timensResult
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return nil, err
	}
	res.UidMap = strings.Join(strings.Fields(string(b)), " ")
	if res.Before, err = os.Readlink("/proc/thread-self/ns/time"); err != nil {
		return nil, err
	}
	// Only this thread's time_for_children changes.
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_NEWTIME) (the test kernel has CONFIG_TIME_NS): %v", err)
	}
	if res.Self, err = os.Readlink("/proc/thread-self/ns/time"); err != nil {
		return nil, err
	}
	if res.Children, err = os.Readlink("/proc/thread-self/ns/time_for_children"); err != nil {
		return nil, err
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY) after unshare(CLONE_NEWTIME): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, "/bin/sleep", []string{"sleep", "30"}); err != nil {
		return nil, err
	}
	res.Pid, err = pidfd.SpawnRun(fd, 0)
	res.Run = embryo.Name(err)
	if err != nil {
		return res, nil
	}
	if res.Child, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/time", res.Pid)); err != nil {
		res.Child = "error: " + err.Error()
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		return nil, fmt.Errorf("pidfd_send_signal(SIGKILL) to the started child: %v", err)
	}
	if res.Exit, err = embryo.WaitExit(fd, embryo.Timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// A3: seccomp judges the embryo's exec.

type seccompArg struct {
	Nr       int    // the system call the filter acts on, -1 for none
	Action   uint32 // SECCOMP_RET_*, with its data
	Listener bool   // SECCOMP_FILTER_FLAG_NEW_LISTENER, the fd kept open and never read
	Fork     bool   // also fork+execve under the filter
}

// spawnOutcome is how one way of spawning true-static went.
type spawnOutcome struct {
	Errno string // of the exec, "success" if the process started
	Pid   int
	Exit  pidfd.Exit
}

type seccompResult struct {
	NoNewPrivs  bool
	Fork        spawnOutcome
	Embryo      spawnOutcome
	EmbryoAfter bool   // fdinfo says Embryo:\t1 after the run
	ConfigAfter string // PIDFD_CONFIG_ARGV after a failed run
}

// seccompFilter returns a filter that returns action for system call nr
// of x86_64 and allows everything else.
func seccompFilter(nr int, action uint32) []unix.SockFilter {
	const (
		offNr   = 0 // offsetof(struct seccomp_data, nr)
		offArch = 4 // offsetof(struct seccomp_data, arch)
	)
	return []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: unix.AUDIT_ARCH_X86_64},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNr},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: uint32(nr)},
		{Code: unix.BPF_RET | unix.BPF_K, K: action},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
}

// seccompInstall installs filter on the calling thread and returns the
// listener fd that SECCOMP_FILTER_FLAG_NEW_LISTENER asks for (else -1).
func seccompInstall(filter []unix.SockFilter, flags uintptr) (int, error) {
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, %#x): %v", flags, errno)
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
		return -1, nil
	}
	return int(r), nil
}

// trueForkExec runs true-static by fork+execve from the calling thread.
func trueForkExec() (spawnOutcome, error) {
	pid, pfd, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
	if err != nil {
		return spawnOutcome{Errno: embryo.Name(err)}, nil
	}
	defer unix.Close(pfd)
	o := spawnOutcome{Errno: "success", Pid: pid}
	if o.Exit, err = embryo.WaitExit(pfd, embryo.Timeout); err != nil {
		return o, fmt.Errorf("fork+execve: %v", err)
	}
	return o, nil
}

// helperSeccomp installs a filter on its thread (after no_new_privs when
// unprivileged), then spawns true-static from that thread by fork+execve
// and by an embryo.
func helperSeccomp(raw json.RawMessage) (any, error) {
	var arg seccompArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	var res seccompResult
	if os.Geteuid() != 0 {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
		}
		res.NoNewPrivs = true
	}
	var flags uintptr
	if arg.Listener {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	listener, err := seccompInstall(seccompFilter(arg.Nr, arg.Action), flags)
	if err != nil {
		return nil, err
	}
	if listener >= 0 {
		defer unix.Close(listener)
	}
	if arg.Fork {
		if res.Fork, err = trueForkExec(); err != nil {
			return nil, err
		}
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, childreport.TruePath, []string{"true-static"}); err != nil {
		return nil, err
	}
	res.Embryo.Pid, err = pidfd.SpawnRun(fd, 0)
	res.Embryo.Errno = embryo.Name(err)
	if res.EmbryoAfter, err = pidfd.IsEmbryo(fd); err != nil {
		return nil, err
	}
	if res.Embryo.Errno != "success" {
		res.ConfigAfter = embryo.Name(pidfd.ConfigArgv(fd, []string{"true-static", "again"}))
		return res, nil
	}
	if res.Embryo.Exit, err = embryo.WaitExit(fd, embryo.Timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// A4: the creator's authority.

type authorityArg struct {
	Change string // what the creator does to itself after creating the embryo
	Secret string // a file only root may read
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
		v, err := threadStatus("Seccomp")
		return "Seccomp: " + v, err
	case "nnp":
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fmt.Errorf("PR_SET_NO_NEW_PRIVS: %v", err)
		}
		v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
		return fmt.Sprintf("no_new_privs: %d", v), err
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
		if res.Changed, err = changeSelf(arg, fd); err != nil {
			return nil, err
		}
	}
	defer unix.Close(fd)
	var err error
	if res.Embryo, err = pidfd.IsEmbryo(fd); err != nil {
		return nil, err
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
