package security

// The Go spawn library under seccomp filters of the kind container
// runtimes install: a deny list (newer calls ENOSYS, a few EPERM), one
// that also denies prctl() outright, one that lets rt_sigaction() and
// rt_sigprocmask() through only with sigsetsize 8, as every real call
// passes it. spawn must start its child through an embryo under each, as
// os/exec starts its: a hostile review of the commands' seccomp judging
// found the library falling back under the prctl filter (its probe took
// the filter's EPERM for a kernel of another version) and failing under
// the sigsetsize one (SIGNALS was judged with sigsetsize 0).

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
	"github.com/emptypidfd/emptypidfd/spawn"
)

func init() { helpers["spawnfilter"] = helperSpawnFilter }

type spawnFilterResult struct {
	Run, Mechanism, Reason, OSExec string
}

func bpfStmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func bpfJump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

const (
	bpfLdAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfRet    = unix.BPF_RET | unix.BPF_K
	retAllow  = unix.SECCOMP_RET_ALLOW
	retKill   = unix.SECCOMP_RET_KILL_PROCESS
	retErrno  = unix.SECCOMP_RET_ERRNO
	offNr     = 0
	offArch   = 4
	offArg3Lo = 16 + 3*8 // little-endian x86-64
)

// spawnFilters builds each mode's filter (x86-64 only: the arch check
// kills anything else).
func spawnFilter(mode string) []unix.SockFilter {
	f := []unix.SockFilter{
		bpfStmt(bpfLdAbs, offArch),
		bpfJump(bpfJeq, unix.AUDIT_ARCH_X86_64, 1, 0),
		bpfStmt(bpfRet, retKill),
		bpfStmt(bpfLdAbs, offNr),
	}
	if mode == "sigsetsize" {
		return append(f,
			bpfJump(bpfJeq, unix.SYS_RT_SIGACTION, 2, 0),
			bpfJump(bpfJeq, unix.SYS_RT_SIGPROCMASK, 1, 0),
			bpfStmt(bpfRet, retAllow),
			bpfStmt(bpfLdAbs, offArg3Lo),
			bpfJump(bpfJeq, 8, 1, 0),
			bpfStmt(bpfRet, retErrno|uint32(unix.EINVAL)),
			bpfStmt(bpfRet, retAllow),
		)
	}
	deny := []struct{ nr, errno uint32 }{
		{unix.SYS_MOUNT, uint32(unix.EPERM)},
		{unix.SYS_PTRACE, uint32(unix.EPERM)},
		{unix.SYS_KEYCTL, uint32(unix.EPERM)},
		{unix.SYS_CLOSE_RANGE, uint32(unix.ENOSYS)},
		{unix.SYS_OPENAT2, uint32(unix.ENOSYS)},
	}
	if mode == "prctl" {
		deny = append(deny, struct{ nr, errno uint32 }{unix.SYS_PRCTL, uint32(unix.EPERM)})
	}
	for _, d := range deny {
		f = append(f, bpfJump(bpfJeq, d.nr, 0, 1), bpfStmt(bpfRet, retErrno|d.errno))
	}
	return append(f, bpfStmt(bpfRet, retAllow))
}

// helperSpawnFilter (as nobody) installs the mode's filter on every
// thread, then runs true-static with spawn (in a new session, in /tmp)
// and with os/exec.
func helperSpawnFilter(raw json.RawMessage) (any, error) {
	var mode string
	if err := helper.DecodeArg(raw, &mode); err != nil {
		return nil, err
	}
	f := spawnFilter(mode)
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("no_new_privs: %w", err)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if e != 0 {
		return nil, fmt.Errorf("seccomp: %w", e)
	}
	c := spawn.Command(childreport.TruePath)
	c.Dir = "/tmp"
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	res := spawnFilterResult{Run: fmt.Sprint(c.Run()), Mechanism: c.Mechanism().String(), Reason: c.FallbackReason()}
	o := exec.Command(childreport.TruePath)
	o.Dir = "/tmp"
	o.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	res.OSExec = fmt.Sprint(o.Run())
	return res, nil
}

func TestSpawnUnderContainerFilters(t *testing.T) {
	embryo.Require(t)
	if runtime.GOARCH != "amd64" {
		t.Skipf("the filters are written for x86-64, not %s", runtime.GOARCH)
	}
	for _, mode := range []string{"deny list", "prctl", "sigsetsize"} {
		t.Run(mode, func(t *testing.T) {
			var res spawnFilterResult
			helper.New(t, "spawnfilter", mode).AsUser(helper.Nobody, helper.Nobody).Result(&res)
			if res.OSExec != "<nil>" {
				t.Fatalf("os/exec under the filter: %s (the filter is wrong, not spawn)", res.OSExec)
			}
			if res.Run != "<nil>" {
				t.Errorf("spawn under the filter: %s, where os/exec starts its child", res.Run)
			}
			if res.Mechanism != spawn.Embryo.String() {
				t.Errorf("spawn started by %s (%s), want the embryo", res.Mechanism, res.Reason)
			}
		})
	}
}
