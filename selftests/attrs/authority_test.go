package attrs

// Who may change an embryo's limits, umask and no_new_privs: only its
// creator, with the authority it had at creation; a raised hard limit
// needs CAP_SYS_RESOURCE.

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type authArg struct{ Mode string }

type authResult struct {
	Steps map[string]string
}

func capDropEffective(capNum uint) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %v", err)
	}
	data[capNum/32].Effective &^= 1 << (capNum % 32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %v", err)
	}
	return nil
}

func helperAuthority(raw json.RawMessage) (any, error) {
	var arg authArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	res := authResult{Steps: map[string]string{}}
	all := func(prefix string, fd int) {
		res.Steps[prefix+"rlimit-lower"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_CORE, unix.Rlimit{Cur: 0, Max: 0}))
		res.Steps[prefix+"umask"] = embryo.Name(pidfd.ConfigUmask(fd, 0o077))
		res.Steps[prefix+"nnp"] = embryo.Name(pidfd.ConfigNoNewPrivs(fd))
	}
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil {
		return nil, err
	}
	switch arg.Mode {
	case "received":
		// fd 3: an embryo of the test process, not ours.
		all("", 3)
		return res, nil
	case "nobody-raise":
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		res.Steps["raise-above-own"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: own.Cur, Max: own.Max + 1}))
		res.Steps["lower"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 10, Max: 20}))
		res.Steps["raise-back"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 10, Max: 21}))
		res.Steps["cpu-infinite"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_CPU, unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}))
		// After all that, the creator is still the same.
		all("after-", fd)
		return res, nil
	case "capdrop":
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		res.Steps["lower"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 10, Max: 20}))
		if err := capDropEffective(unix.CAP_SYS_RESOURCE); err != nil {
			return nil, err
		}
		res.Steps["raise-after-capdrop"] = embryo.Name(pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 10, Max: 200}))
		all("after-capdrop-", fd)
		return res, nil
	case "selflower":
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		lower := own
		lower.Max--
		if lower.Cur > lower.Max {
			lower.Cur = lower.Max
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lower); err != nil {
			return nil, fmt.Errorf("setrlimit: %v", err)
		}
		all("after-selflower-", fd)
		return res, nil
	case "setresuid":
		// Root creates, then drops to nobody on all threads.
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, err
		}
		defer unix.Close(fd)
		if err := unix.Setresuid(65534, 65534, 65534); err != nil {
			return nil, err
		}
		all("after-setresuid-", fd)
		return res, nil
	}
	return nil, fmt.Errorf("unknown mode %q", arg.Mode)
}

func runAuth(t *testing.T, mode string, asNobody bool, extra *os.File) authResult {
	t.Helper()
	h := helper.New(t, "authority", authArg{Mode: mode})
	if asNobody {
		h.AsUser(helper.Nobody, helper.Nobody)
	}
	if extra != nil {
		h.Cmd.ExtraFiles = []*os.File{extra}
	}
	var res authResult
	h.Result(&res)
	t.Logf("%s: %v", mode, res.Steps)
	return res
}

func wantSteps(t *testing.T, res authResult, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if res.Steps[k] != v {
			t.Errorf("%s: %s, want %s", k, res.Steps[k], v)
		}
	}
}

// TestAuthority: a process that received the pidfd, a creator
// that dropped CAP_SYS_RESOURCE, lowered its own hard limit or changed
// uid, and an unprivileged creator raising a hard limit.
func TestAuthority(t *testing.T) {
	embryo.Require(t)
	t.Run("received", func(t *testing.T) {
		fd := embryo.New(t)
		dup, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(dup), "embryo")
		defer f.Close()
		// The file is the test's; the helper gets a dup of it.
		res := runAuth(t, "received", false, f)
		wantSteps(t, res, map[string]string{"rlimit-lower": "EPERM", "umask": "EPERM", "nnp": "EPERM"})
		// Still ours to configure.
		embryo.Check(t, "umask by the creator", pidfd.ConfigUmask(fd, 0o022), 0)
	})
	t.Run("nobody-raise", func(t *testing.T) {
		res := runAuth(t, "nobody-raise", true, nil)
		wantSteps(t, res, map[string]string{
			"raise-above-own": "EPERM", "lower": "success", "raise-back": "EPERM",
			"after-rlimit-lower": "success", "after-umask": "success", "after-nnp": "success",
		})
	})
	t.Run("capdrop", func(t *testing.T) {
		res := runAuth(t, "capdrop", false, nil)
		wantSteps(t, res, map[string]string{
			"lower": "success", "raise-after-capdrop": "EPERM",
			"after-capdrop-rlimit-lower": "EPERM", "after-capdrop-umask": "EPERM", "after-capdrop-nnp": "EPERM",
		})
	})
	t.Run("selflower", func(t *testing.T) {
		res := runAuth(t, "selflower", false, nil)
		wantSteps(t, res, map[string]string{
			"after-selflower-rlimit-lower": "EPERM", "after-selflower-umask": "EPERM", "after-selflower-nnp": "EPERM",
		})
	})
	t.Run("setresuid", func(t *testing.T) {
		res := runAuth(t, "setresuid", false, nil)
		wantSteps(t, res, map[string]string{
			"after-setresuid-rlimit-lower": "EPERM", "after-setresuid-umask": "EPERM", "after-setresuid-nnp": "EPERM",
		})
	})
}

var _ = unsafe.Pointer(nil)
