// Package creds holds the reproducers of a hostile review of the
// credential commands (patch 26: PIDFD_CONFIG_UIDS, _GIDS, _GROUPS, which
// the embryo makes itself through pidfd_embryo_call()): privilege against
// fork+exec (capabilities, securebits, ambient caps, a set-user-ID-root
// creator, user namespaces, other threads' credentials, set-user-ID
// programs), the creator's seccomp filter (its one finding, fixed: the
// embryo's set*id calls are judged by it), the call mechanism's lifetimes
// under the freezer, cgroup.kill and the creator's death, RLIMIT_NPROC
// accounting across user changes, and errnos.
package creds

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"testing"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

const uidX = 4242

var helpers = map[string]helper.Func{
	"seccomp":    helperSeccomp,
	"caps":       helperCaps,
	"userns":     helperUserns,
	"threads":    helperThreads,
	"nproc":      helperNproc,
	"frozencall": helperFrozenCall,
	"nobody":     helperNobody,
	"hammer":     helperHammer,
	"procsmove":  helperProcsMove,
}

// The main thread is the one a locked goroutine's exit does not end (the
// runtime parks it instead): keep it for the main goroutine, so that the
// tests' exiting threads (onExitingThread) are others. Locked during
// initialization, which the runtime runs on the main thread, locked: a
// lock taken later, in TestMain, pins whatever thread the main goroutine
// has moved to by then, and leaves the main thread free to run a test's
// goroutine (seen once: "the goroutine ran on the main thread").
func init() {
	runtime.LockOSThread()
}

func TestMain(m *testing.M) {
	// The guest's initramfs leaves "/" (and maybe /bin, /tmp) closed to
	// other users: let uid 4242 reach /bin/childreport.
	if os.Getuid() == 0 {
		for _, d := range []string{"/", "/bin", "/tmp"} {
			var st unix.Stat_t
			if unix.Stat(d, &st) == nil {
				unix.Chmod(d, (st.Mode&0o7777)|0o011)
			}
		}
	}
	helper.Main(m, helpers)
}

// requireCommand fails t unless the kernel has empty pidfds and the
// pidfd_config command cmd (named name), which the series has.
func requireCommand(t *testing.T, cmd int, name string) {
	t.Helper()
	embryo.Require(t)
	if !pidfd.HasCommand(cmd) {
		t.Fatalf("the kernel has empty pidfds but no %s: the series is incomplete", name)
	}
}

// report runs path (childreport) in embryo fd and returns its report.
func report(fd int, path string, extra ...string) (*childreport.Report, error) {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, path, 0); err != nil {
		return nil, fmt.Errorf("exec: %s", embryo.Name(err))
	}
	if err := pidfd.ConfigArgv(fd, append([]string{path}, extra...)); err != nil {
		return nil, fmt.Errorf("argv: %s", embryo.Name(err))
	}
	if err := pidfd.ConfigEnvp(fd, []string{"X=1"}); err != nil {
		return nil, fmt.Errorf("envp: %s", embryo.Name(err))
	}
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	err = pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0)
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("fd dup: %s", embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	rep, raw, err := embryo.ParseReport(r)
	embryo.WaitExit(fd, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("report: %v %q", err, raw)
	}
	return rep, nil
}

// forkReport runs childreport with Go's fork+exec and Credential.
func forkReport(sys *syscall.SysProcAttr) (*childreport.Report, error) {
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pid, err := syscall.ForkExec(childreport.Path, []string{childreport.Path}, &syscall.ProcAttr{
		Env: []string{"X=1"}, Files: []uintptr{0, w.Fd(), 2}, Sys: sys})
	w.Close()
	if err != nil {
		return nil, err
	}
	rep, raw, err := embryo.ParseReport(r)
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("report: %v %q", err, raw)
	}
	return rep, nil
}

var credKeys = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"}

func statusOf(rep *childreport.Report) map[string]string {
	m := map[string]string{}
	for _, k := range credKeys {
		m[k] = strings.Join(strings.Fields(rep.Status[k]), " ")
	}
	return m
}

// ownCgroup is the test process's cgroup v2 directory under root.
func ownCgroup(root string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return filepath.Join(root, p), nil
		}
	}
	return "", fmt.Errorf("no v2 line in /proc/self/cgroup")
}

// rawIDs calls pidfd_config with a raw struct pidfd_ids of size bytes.
func rawConfig(fd, cmd int, buf []byte) error {
	var p uintptr
	if len(buf) > 0 {
		p = uintptr(unsafe.Pointer(&buf[0]))
	}
	return pidfd.Config(fd, cmd, p, len(buf))
}
