package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

// errRlimitFallback marks the errors after which Start falls back rather
// than fail: the child's RLIMIT_NOFILE could not be made os/exec's.
var errRlimitFallback = errors.New("RLIMIT_NOFILE")

// Go raises its soft RLIMIT_NOFILE at startup, to the hard limit minus
// one, and os/exec gives its children the original soft limit back unless
// the limit has changed since. An embryo copies the caller's limits when
// pidfd_open creates it, and the kernel has no command to set them later,
// so an embryo is created with the soft limit lowered to what os/exec
// would give, under rlimitMu, and raised again at once.
var rlimitMu sync.Mutex

// childNofile caches what os/exec gives a child while our own limit is
// ours.
var childNofile struct {
	sync.Mutex
	ours, child unix.Rlimit
	known       bool
}

// When the kernel has empty pidfds and Go has raised the limit, the value
// os/exec restores is learned at initialization, while the process is
// small (the traced child is a cheap fork) and before the program can
// watch SIGCHLD: learning it at the first Start made that program see a
// child, and its SIGCHLDs, that it never started (os/exec's TestSIGCHLD
// caught it). Only a limit changed later makes Start learn again.
func init() {
	var cur unix.Rlimit
	if getNofile(&cur) != nil || !goRaised(cur) || pidfd.Probe() != nil {
		return
	}
	osExecNofile(cur) // a failure is reported, and falls back, at Start
}

// goRaised says whether l looks like the limit Go's startup sets (soft one
// below hard), which os/exec undoes in its children.
func goRaised(l unix.Rlimit) bool {
	return l.Max != 0 && l.Max != unix.RLIM_INFINITY && l.Cur == l.Max-1
}

// newEmbryo creates an embryo whose RLIMIT_NOFILE is the one os/exec would
// give the child.
func newEmbryo() (int, error) {
	var cur unix.Rlimit
	if err := getNofile(&cur); err != nil {
		return newEmbryoAsIs()
	}
	if !goRaised(cur) {
		// Not the limit Go set at startup: os/exec leaves it alone.
		return newEmbryoAsIs()
	}
	want, err := osExecNofile(cur)
	if err != nil {
		return -1, fmt.Errorf("%w: the child must get the soft limit Go started with, and learning it failed: %v", errRlimitFallback, err)
	}
	if want == cur {
		return newEmbryoAsIs()
	}
	rlimitMu.Lock()
	defer rlimitMu.Unlock()
	// While the soft limit is lowered, an open() in another goroutine
	// fails with EMFILE if every descriptor below the lowered limit is
	// taken. Do not lower it unless room is left below it.
	if low, err := lowestFreeFD(); err != nil || !roomBelow(low, want.Cur) {
		return -1, fmt.Errorf("%w: the lowest free descriptor is %d (%v), too close to the limit %d the child must get: lowering it could fail other goroutines' open() with EMFILE", errRlimitFallback, low, err, want.Cur)
	}
	if err := setNofile(&want); err != nil {
		return -1, fmt.Errorf("%w: lowering the soft limit to %d for the embryo: %v", errRlimitFallback, want.Cur, err)
	}
	fd, openErr := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err := setNofile(&cur); err != nil {
		// Cannot happen (it only raises the soft limit back below the
		// hard one); say so rather than run with the lowered limit.
		panic(fmt.Sprintf("spawn: restoring RLIMIT_NOFILE to %d: %v", cur.Cur, err))
	}
	if errors.Is(openErr, unix.EMFILE) {
		return -1, fmt.Errorf("%w: the caller has %d or more descriptors open, the limit the child must get", errRlimitFallback, want.Cur)
	}
	if openErr != nil {
		return -1, &StepError{Step: "pidfd_open", Arg: "PIDFD_EMPTY", Err: openErr}
	}
	return fd, nil
}

func newEmbryoAsIs() (int, error) {
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return -1, &StepError{Step: "pidfd_open", Arg: "PIDFD_EMPTY", Err: err}
	}
	return fd, nil
}

// rlimitHeadroom is how many descriptors must stay free below the
// lowered limit, for the other goroutines' open()s during the lowering.
const rlimitHeadroom = 64

// roomBelow says whether lowering the soft limit to limit leaves
// rlimitHeadroom free descriptors from the lowest free one, low.
func roomBelow(low int, limit uint64) bool {
	return low >= 0 && uint64(low)+rlimitHeadroom <= limit
}

// lowestFreeFD returns the lowest descriptor number not in use.
func lowestFreeFD() (int, error) {
	fd, err := unix.FcntlInt(0, unix.F_DUPFD_CLOEXEC, 0)
	if errors.Is(err, unix.EBADF) { // no fd 0: it is the lowest free
		return 0, nil
	}
	if err != nil {
		return -1, err
	}
	unix.Close(fd)
	return fd, nil
}

// getNofile and setNofile are prlimit64 on ourselves, raw: syscall's
// Setrlimit would make os/exec stop restoring the limit in its children.
func getNofile(l *unix.Rlimit) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(l)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func setNofile(l *unix.Rlimit) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(l)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// osExecNofile returns the RLIMIT_NOFILE os/exec gives a child while ours
// is cur. Package syscall keeps the value to itself, so it asks os/exec's
// fork: a child of /proc/self/exe with PTRACE_TRACEME stops at its exec,
// before its first instruction, with the limit applied; its
// /proc/<pid>/limits is read and it is killed. The answer is cached while
// our limit stays cur.
func osExecNofile(cur unix.Rlimit) (unix.Rlimit, error) {
	childNofile.Lock()
	defer childNofile.Unlock()
	if childNofile.known && childNofile.ours == cur {
		return childNofile.child, nil
	}
	l, err := askOSExec()
	if err != nil {
		return unix.Rlimit{}, err
	}
	childNofile.ours, childNofile.child, childNofile.known = cur, l, true
	return l, nil
}

func askOSExec() (unix.Rlimit, error) {
	runtime.LockOSThread() // the tracer is this thread
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"spawn-rlimit-probe"}, &syscall.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{Ptrace: true},
	})
	if err != nil {
		return unix.Rlimit{}, fmt.Errorf("starting a traced child: %w", err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		for {
			var ws unix.WaitStatus
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || ws.Exited() || ws.Signaled() {
				return
			}
		}
	}()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		return unix.Rlimit{}, err
	}
	return parseNofile(string(b))
}

// parseNofile reads the "Max open files" line of /proc/<pid>/limits.
func parseNofile(limits string) (unix.Rlimit, error) {
	for _, line := range strings.Split(limits, "\n") {
		rest, ok := strings.CutPrefix(line, "Max open files")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			break
		}
		var l unix.Rlimit
		var err error
		if l.Cur, err = parseLimit(f[0]); err != nil {
			return l, err
		}
		if l.Max, err = parseLimit(f[1]); err != nil {
			return l, err
		}
		return l, nil
	}
	return unix.Rlimit{}, fmt.Errorf("no \"Max open files\" line in %q", limits)
}

func parseLimit(s string) (uint64, error) {
	if s == "unlimited" {
		return unix.RLIM_INFINITY, nil
	}
	return strconv.ParseUint(s, 10, 64)
}
