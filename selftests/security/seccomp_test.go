package security

// v1 finding A3: the seccomp filters an embryo inherits judge its exec as
// they would an execve or execveat it made.

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

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
		if err := setNoNewPrivs(); err != nil {
			return nil, err
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
				h := helper.New(t, "seccomp", arg)
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
