package creds

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type steps struct {
	Steps  map[string]string
	Status map[string]string
	Fork   map[string]string
}

func newSteps() *steps { return &steps{Steps: map[string]string{}} }

// denySetid installs, on the calling thread only, a seccomp filter that
// fails every set*id() and setgroups() with EPERM (a denylist such as
// systemd's SystemCallFilter=~@setuid).
func denySetid() error {
	nrs := []uint32{unix.SYS_SETUID, unix.SYS_SETGID, unix.SYS_SETREUID, unix.SYS_SETREGID,
		unix.SYS_SETGROUPS, unix.SYS_SETRESUID, unix.SYS_SETRESGID, unix.SYS_SETFSUID, unix.SYS_SETFSGID}
	n := len(nrs)
	f := []unix.SockFilter{{Code: 0x20, K: 0}} // ld [nr]
	for i, nr := range nrs {
		f = append(f, unix.SockFilter{Code: 0x15, Jt: uint8(n - i), Jf: 0, K: nr})
	}
	f = append(f, unix.SockFilter{Code: 0x06, K: 0x7fff0000})                      // allow
	f = append(f, unix.SockFilter{Code: 0x06, K: 0x00050000 | uint32(unix.EPERM)}) // errno
	prog := unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, 1, 0, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if e != 0 {
		return e
	}
	return nil
}

func helperSeccomp(raw json.RawMessage) (any, error) {
	runtime.LockOSThread()
	res := newSteps()
	if err := denySetid(); err != nil {
		return nil, fmt.Errorf("seccomp: %v", err)
	}
	_, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uidX, uidX, uidX)
	res.Steps["direct-setresuid"] = embryo.Name(errOf(e))
	_, _, e = unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0)
	res.Steps["direct-setgroups"] = embryo.Name(errOf(e))
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	res.Steps["groups"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{4, 5}))
	res.Steps["gids"] = embryo.Name(pidfd.ConfigGIDs(fd, uidX, uidX, uidX))
	res.Steps["uids"] = embryo.Name(pidfd.ConfigUIDs(fd, uidX, uidX, uidX))
	rep, err := report(fd, childreport.Path)
	if err != nil {
		res.Steps["run"] = err.Error()
	} else {
		res.Status = statusOf(rep)
	}
	// Go's fork+exec with a Credential, from the same thread: the filter
	// denies its setgroups/setgid/setuid.
	frep, err := forkReport(&syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uidX, Gid: uidX, Groups: []uint32{4, 5}}})
	if err != nil {
		res.Steps["fork"] = err.Error()
	} else {
		res.Fork = statusOf(frep)
	}
	return res, nil
}

func errOf(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// A seccomp filter that denies set*id()/setgroups() must judge the
// embryo's calls as it would judge them in a forked child.
func TestSeccompDeniedSetid(t *testing.T) {
	embryo.Require(t)
	var res steps
	helper.New(t, "seccomp", nil).Result(&res)
	t.Logf("steps %v\nembryo child %v\nforked child %v", res.Steps, res.Status, res.Fork)
	if res.Steps["direct-setresuid"] != "EPERM" {
		t.Fatalf("filter not in effect: %v", res.Steps)
	}
	for _, k := range []string{"groups", "gids", "uids"} {
		if res.Steps[k] != "EPERM" {
			t.Errorf("PIDFD_CONFIG_%s under a filter denying set*id: %s, want EPERM (filter bypass)", k, res.Steps[k])
		}
	}
	if res.Status != nil && res.Status["Uid"] != "0 0 0 0" {
		t.Errorf("SECCOMP BYPASS: the embryo's program runs with Uid %q Gid %q Groups %q while the creator's seccomp filter denies setresuid/setgroups", res.Status["Uid"], res.Status["Gid"], res.Status["Groups"])
	}
}

type capsArg struct{ Mode string }

const capNetBind = 10

func helperCaps(raw json.RawMessage) (any, error) {
	var arg capsArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	res := newSteps()
	switch arg.Mode {
	case "plain":
	case "keepcaps":
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, 1<<4 /*KEEP_CAPS*/, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("securebits: %v", err)
		}
	case "nofixup":
		if err := unix.Prctl(unix.PR_SET_SECUREBITS, 1<<2 /*NO_SETUID_FIXUP*/, 0, 0, 0); err != nil {
			return nil, fmt.Errorf("securebits: %v", err)
		}
	case "ambient", "ambient-keepcaps":
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return nil, err
		}
		data[0].Inheritable |= 1 << capNetBind
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return nil, fmt.Errorf("capset: %v", err)
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, capNetBind, 0, 0); err != nil {
			return nil, fmt.Errorf("ambient: %v", err)
		}
		if arg.Mode == "ambient-keepcaps" {
			if err := unix.Prctl(unix.PR_SET_SECUREBITS, 1<<4, 0, 0, 0); err != nil {
				return nil, err
			}
		}
	case "setuidroot":
		// ruid uidX, euid 0, suid 0 (a set-user-ID-root creator).
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uidX, 0, 0); e != 0 {
			return nil, e
		}
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	res.Steps["groups"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{}))
	res.Steps["gids"] = embryo.Name(pidfd.ConfigGIDs(fd, uidX, uidX, uidX))
	res.Steps["uids"] = embryo.Name(pidfd.ConfigUIDs(fd, uidX, uidX, uidX))
	if rep, err := report(fd, childreport.Path); err != nil {
		res.Steps["run"] = err.Error()
	} else {
		res.Status = statusOf(rep)
	}
	if frep, err := forkReport(&syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uidX, Gid: uidX, Groups: []uint32{}}}); err != nil {
		res.Steps["fork"] = err.Error()
	} else {
		res.Fork = statusOf(frep)
	}
	return res, nil
}

// What the embryo's program runs with after groups/gids/uids must be what a
// forked child that setgroups/setgid/setuid and execs runs with.
func TestCapsDifferential(t *testing.T) {
	embryo.Require(t)
	for _, mode := range []string{"plain", "keepcaps", "nofixup", "ambient", "ambient-keepcaps", "setuidroot"} {
		t.Run(mode, func(t *testing.T) {
			var res steps
			helper.New(t, "caps", capsArg{mode}).Result(&res)
			t.Logf("steps %v\nembryo %v\nfork   %v", res.Steps, res.Status, res.Fork)
			for k, v := range res.Steps {
				if v != "success" {
					t.Errorf("%s: %s", k, v)
				}
			}
			for _, k := range credKeys {
				if res.Status[k] != res.Fork[k] {
					t.Errorf("%s: embryo %q, forked child %q", k, res.Status[k], res.Fork[k])
				}
			}
		})
	}
}

func helperUserns(raw json.RawMessage) (any, error) {
	runtime.LockOSThread()
	res := newSteps()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	res.Steps["groups-empty(deny)"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{}))
	res.Steps["groups-0(deny)"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{0}))
	res.Steps["groups-unmapped"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{5}))
	res.Steps["uids-unmapped"] = embryo.Name(pidfd.ConfigUIDs(fd, 1, 1, 1))
	res.Steps["uids-overflow65534"] = embryo.Name(pidfd.ConfigUIDs(fd, 65534, 65534, 65534))
	res.Steps["gids-0"] = embryo.Name(pidfd.ConfigGIDs(fd, 0, 0, 0))
	res.Steps["uids-0"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
	if rep, err := report(fd, childreport.Path); err != nil {
		res.Steps["run"] = err.Error()
	} else {
		res.Status = statusOf(rep)
	}
	return res, nil
}

// An unprivileged user's user namespace (0 -> 65534, setgroups denied).
func TestUserns(t *testing.T) {
	embryo.Require(t)
	var res steps
	h := helper.New(t, "userns", nil).AsUser(helper.Nobody, helper.Nobody)
	h.Cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWUSER
	h.Cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
	h.Cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
	h.Cmd.SysProcAttr.GidMappingsEnableSetgroups = false
	h.Result(&res)
	t.Logf("%v\n%v", res.Steps, res.Status)
	want := map[string]string{"groups-empty(deny)": "EPERM", "groups-0(deny)": "EPERM", "groups-unmapped": "EINVAL",
		"uids-unmapped": "EINVAL", "uids-overflow65534": "EINVAL", "gids-0": "success", "uids-0": "success"}
	for k, v := range want {
		if res.Steps[k] != v {
			t.Errorf("%s: %s, want %s", k, res.Steps[k], v)
		}
	}
}

func helperThreads(raw json.RawMessage) (any, error) {
	runtime.LockOSThread()
	res := newSteps()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	do := func(name string, f func()) {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with us
			f()
			close(done)
		}()
		<-done
	}
	do("other-thread-euid", func() {
		unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uidX, ^uintptr(0))
		res.Steps["other-thread-euid"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
		res.Steps["other-thread-euid-groups"] = embryo.Name(pidfd.ConfigGroups(fd, []uint32{0}))
	})
	do("other-thread-same-ids", func() {
		unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uidX, ^uintptr(0))
		unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), 0, ^uintptr(0))
		res.Steps["other-thread-same-ids"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
	})
	res.Steps["creator-before"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
	// The creator raises its own caps? It has them. It changes creds and
	// back: the authority lapses.
	unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), uidX, ^uintptr(0))
	unix.RawSyscall(unix.SYS_SETRESGID, ^uintptr(0), 0, ^uintptr(0))
	res.Steps["creator-after-change"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
	res.Steps["creator-after-change-gids"] = embryo.Name(pidfd.ConfigGIDs(fd, 0, 0, 0))
	return res, nil
}

func TestThreadsCreds(t *testing.T) {
	embryo.Require(t)
	var res steps
	helper.New(t, "threads", nil).Result(&res)
	t.Logf("%v", res.Steps)
	want := map[string]string{"other-thread-euid": "EPERM", "other-thread-euid-groups": "EPERM",
		"other-thread-same-ids": "EPERM", "creator-before": "success", "creator-after-change": "EPERM", "creator-after-change-gids": "EPERM"}
	for k, v := range want {
		if res.Steps[k] != v {
			t.Errorf("%s: %s, want %s", k, res.Steps[k], v)
		}
	}
}

// A set-user-ID-root program run by an embryo that dropped to uidX, with
// and without no_new_privs.
func TestSetuidProgram(t *testing.T) {
	embryo.Require(t)
	for _, d := range []string{"/", "/tmp"} {
		if fi, err := os.Stat(d); err == nil {
			os.Chmod(d, fi.Mode()&(os.ModePerm|os.ModeSticky)|0o011)
		}
	}
	dir, err := os.MkdirTemp("/tmp", "h26suid")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	prog := dir + "/suidreport"
	helper.CopyFile(t, childreport.Path, prog, 0o755)
	if err := unix.Chmod(prog, 0o4755); err != nil {
		t.Fatal(err)
	}
	for _, nnp := range []bool{false, true} {
		fd := embryo.New(t)
		if nnp {
			embryo.Check(t, "nnp", pidfd.ConfigNoNewPrivs(fd), 0)
		}
		embryo.Check(t, "groups", pidfd.ConfigGroups(fd, nil), 0)
		embryo.Check(t, "gids", pidfd.ConfigGIDs(fd, uidX, uidX, uidX), 0)
		embryo.Check(t, "uids", pidfd.ConfigUIDs(fd, uidX, uidX, uidX), 0)
		rep, err := report(fd, prog)
		if err != nil {
			t.Fatalf("nnp=%v: %v", nnp, err)
		}
		st := statusOf(rep)
		t.Logf("nnp=%v: %v", nnp, st)
		want := "4242 0 0 0"
		if nnp {
			want = "4242 4242 4242 4242"
		}
		if st["Uid"] != want {
			t.Errorf("nnp=%v: Uid %q, want %q", nnp, st["Uid"], want)
		}
	}
}

// Errnos and what judges commands after a drop.
func TestErrnos(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	chk := func(what string, err error, want unix.Errno) {
		t.Helper()
		if embryo.Errno(err) != want {
			t.Errorf("%s: %s, want %s", what, embryo.Name(err), embryo.ErrnoName(want))
		}
	}
	big := make([]uint32, 65537)
	chk("groups>NGROUPS_MAX", pidfd.ConfigGroups(fd, big), unix.EINVAL)
	chk("groups=NGROUPS_MAX", pidfd.ConfigGroups(fd, big[:65536]), 0)
	chk("groups -1", pidfd.ConfigGroups(fd, []uint32{0xffffffff}), unix.EINVAL)
	g := make([]byte, 16)
	binary.LittleEndian.PutUint64(g, 8)
	binary.LittleEndian.PutUint32(g[8:], 1)
	chk("groups bad list", rawConfig(fd, pidfd.PIDFD_CONFIG_GROUPS, g), unix.EFAULT)
	binary.LittleEndian.PutUint64(g, 0)
	binary.LittleEndian.PutUint32(g[8:], 0)
	binary.LittleEndian.PutUint32(g[12:], 1)
	chk("groups spare", rawConfig(fd, pidfd.PIDFD_CONFIG_GROUPS, g), unix.EINVAL)
	ids := make([]byte, 24)
	for i := 0; i < 12; i += 4 {
		binary.LittleEndian.PutUint32(ids[i:], 0xffffffff)
	}
	chk("uids size 8", rawConfig(fd, pidfd.PIDFD_CONFIG_UIDS, ids[:8]), unix.EINVAL)
	chk("uids keep all", rawConfig(fd, pidfd.PIDFD_CONFIG_UIDS, ids[:16]), 0)
	chk("uids size 24 zero tail", rawConfig(fd, pidfd.PIDFD_CONFIG_UIDS, ids), 0)
	ids[20] = 1
	chk("uids size 24 nonzero tail", rawConfig(fd, pidfd.PIDFD_CONFIG_UIDS, ids), unix.E2BIG)
	ids[20] = 0
	ids[12] = 1
	chk("uids spare", rawConfig(fd, pidfd.PIDFD_CONFIG_UIDS, ids[:16]), unix.EINVAL)
	chk("gids spare", rawConfig(fd, pidfd.PIDFD_CONFIG_GIDS, ids[:16]), unix.EINVAL)
	chk("uids -1 mixed", pidfd.ConfigUIDs(fd, 0xffffffff, 0, 0xffffffff), 0)

	// Root-only file for FD_OPEN after the drop.
	dir := t.TempDir()
	secret := dir + "/secret"
	os.WriteFile(secret, []byte("x"), 0o600)
	os.Chmod(dir, 0o755)

	chk("groups", pidfd.ConfigGroups(fd, []uint32{1, 2}), 0)
	chk("gids", pidfd.ConfigGIDs(fd, uidX, uidX, uidX), 0)
	chk("uids drop", pidfd.ConfigUIDs(fd, uidX, uidX, uidX), 0)
	chk("groups after drop", pidfd.ConfigGroups(fd, nil), unix.EPERM)
	chk("gids after drop", pidfd.ConfigGIDs(fd, 0, 0, 0), unix.EPERM)
	chk("uids back to 0", pidfd.ConfigUIDs(fd, 0, 0, 0), unix.EPERM)
	chk("rlimit raise hard", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 1 << 20, Max: 1 << 20}), unix.EPERM)
	how := unix.OpenHow{Flags: unix.O_RDONLY}
	chk("fd open root-only", pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, secret, &how, 5), unix.EACCES)
	// A failed run, then calls again.
	pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent", 0)
	_, err := pidfd.SpawnRun(fd, 0)
	chk("run nonexistent", err, unix.ENOENT)
	chk("uids after failed run", pidfd.ConfigUIDs(fd, uidX, uidX, uidX), 0)
	rep, err := report(fd, childreport.Path)
	if err != nil {
		t.Fatal(err)
	}
	st := statusOf(rep)
	t.Logf("%v", st)
	if st["Uid"] != "4242 4242 4242 4242" || st["Gid"] != "4242 4242 4242 4242" || st["Groups"] != "1 2" || st["CapEff"] != "0000000000000000" {
		t.Errorf("child creds %v", st)
	}
	chk("uids on started", pidfd.ConfigUIDs(fd, uidX, uidX, uidX), unix.EBUSY)

}

func helperNobody(raw json.RawMessage) (any, error) {
	res := newSteps()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	res.Steps["uids-0"] = embryo.Name(pidfd.ConfigUIDs(fd, 0, 0, 0))
	res.Steps["uids-saved-0"] = embryo.Name(pidfd.ConfigUIDs(fd, 0xffffffff, 0xffffffff, 0))
	res.Steps["gids-0"] = embryo.Name(pidfd.ConfigGIDs(fd, 0, 0, 0))
	res.Steps["groups-empty"] = embryo.Name(pidfd.ConfigGroups(fd, nil))
	res.Steps["uids-self"] = embryo.Name(pidfd.ConfigUIDs(fd, helper.Nobody, helper.Nobody, helper.Nobody))
	res.Steps["bad-list-unpriv"] = embryo.Name(rawConfig(fd, pidfd.PIDFD_CONFIG_GROUPS, []byte{8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}))
	return res, nil
}

func TestNobody(t *testing.T) {
	embryo.Require(t)
	var res steps
	helper.New(t, "nobody", nil).AsUser(helper.Nobody, helper.Nobody).Result(&res)
	t.Logf("%v", res.Steps)
	want := map[string]string{"uids-0": "EPERM", "uids-saved-0": "EPERM", "gids-0": "EPERM", "groups-empty": "EPERM", "uids-self": "success"}
	for k, v := range want {
		if res.Steps[k] != v {
			t.Errorf("%s: %s, want %s", k, res.Steps[k], v)
		}
	}
}

var _ = time.Second
