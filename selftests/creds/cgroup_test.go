package creds

// PIDFD_CONFIG_CGROUP: the embryo moves itself into a cgroup2 directory,
// as its own write of "0" to that cgroup's cgroup.procs: the cgroup the
// started child sees (childreport's /proc/self/cgroup), hidden from
// cgroup.procs until the start, judged by the embryo's credentials of the
// moment (an embryo that dropped to an ordinary user may not move into a
// cgroup of root's), kept across a set-user-ID exec, and
// CLONE_INTO_CGROUP's errnos for what is not a cgroup2 directory.

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// openPath opens dir O_PATH, closed when t ends.
func openPath(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func TestCgroup(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_CGROUP, "PIDFD_CONFIG_CGROUP")
	root := cgroup2.Root(t)
	own, err := ownCgroup(root)
	if err != nil {
		t.Fatal(err)
	}
	b := cgroup2.New(t, "cgcmd")
	bfd := openPath(t, b)
	rel := func(dir string) string { return "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/") }
	move := func(fd int) error { return pidfd.ConfigCgroup(fd, bfd) }
	gids := func(fd int) error { return pidfd.ConfigGIDs(fd, uidX, uidX, uidX) }
	uids := func(fd int) error { return pidfd.ConfigUIDs(fd, uidX, uidX, uidX) }
	suid := suidCopy(t)
	for _, tc := range []struct {
		name    string
		steps   []func(fd int) error
		failing int        // the step that fails, -1 for none
		errno   unix.Errno // its errno
		prog    string
		cgroup  string // the child's
		euid    int
	}{
		{"not moved", nil, -1, 0, childreport.Path, rel(own), 0},
		{"moved", []func(int) error{move}, -1, 0, childreport.Path, rel(b), 0},
		{"moved, then uid 4242", []func(int) error{move, gids, uids}, -1, 0, childreport.Path, rel(b), uidX},
		{"moved, uid 4242, set-user-ID root program", []func(int) error{move, gids, uids}, -1, 0, suid, rel(b), 0},
		{"uid 4242, then moved: root's cgroup.procs", []func(int) error{gids, uids, move}, 2, unix.EACCES, childreport.Path, rel(own), uidX},
		{"uid 4242, set-user-ID root program, then moved", []func(int) error{gids, uids, move}, 2, unix.EACCES, suid, rel(own), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			for i, step := range tc.steps {
				want := unix.Errno(0)
				if i == tc.failing {
					want = tc.errno
				}
				if !embryo.Check(t, fmt.Sprintf("step %d", i), step(fd), want) {
					return
				}
			}
			rep, err := report(fd, tc.prog)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Cgroup != tc.cgroup {
				t.Errorf("the child's cgroup: %q, want %q", rep.Cgroup, tc.cgroup)
			}
			if ids, err := rep.IDs("Uid"); err != nil || ids[1] != tc.euid {
				t.Errorf("the child's uids: %v %v, want euid %d", ids, err, tc.euid)
			}
		})
	}
}

// Until the start, the destination lists no pid in cgroup.procs but is
// populated; cgroup.kill there destroys the embryo.
func TestCgroupBeforeStart(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_CGROUP, "PIDFD_CONFIG_CGROUP")
	b := cgroup2.New(t, "cghide")
	fd := embryo.New(t)
	embryo.Check(t, "move", pidfd.ConfigCgroup(fd, openPath(t, b)), 0)
	if p := cgroup2.Procs(b); p != "[]" {
		t.Errorf("cgroup.procs lists %s before the start", p)
	}
	if v, ok := cgroup2.WaitEvent(b, "populated", "1", 0); !ok {
		t.Errorf("populated %s, want 1: the embryo is there", v)
	}
	if err := cgroup2.WriteCtl(filepath.Join(b, "cgroup.kill"), "1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := cgroup2.WaitEvent(b, "populated", "0", 10e9); !ok {
		t.Errorf("populated %s after cgroup.kill, want 0", v)
	}
	embryo.Check(t, "exec after cgroup.kill", pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0), unix.ESRCH)
}

func TestCgroupErrors(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_CGROUP, "PIDFD_CONFIG_CGROUP")
	b := cgroup2.New(t, "cgerr")
	gone := cgroup2.New(t, "cggone")
	goneFD := openPath(t, gone)
	cgroup2.Remove(t, gone)
	procs, err := unix.Open(filepath.Join(b, "cgroup.procs"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(procs)
	arg := func(fd int32, spare uint32) []byte {
		a := pidfd.CgroupArg{Fd: fd, Spare: spare}
		return unsafe.Slice((*byte)(unsafe.Pointer(&a)), unsafe.Sizeof(a))
	}
	rows := []struct {
		name string
		buf  []byte
		want unix.Errno
	}{
		{"fd -1", arg(-1, 0), unix.EBADF},
		{"not a cgroup: /tmp", arg(int32(openPath(t, "/tmp")), 0), unix.EBADF},
		{"cgroup.procs itself", arg(int32(procs), 0), unix.EBADF},
		{"removed", arg(int32(goneFD), 0), unix.ENODEV},
		{"__spare", arg(int32(openPath(t, b)), 1), unix.EINVAL},
		{"size 4", arg(int32(openPath(t, b)), 0)[:4], unix.EINVAL},
		{"a cgroup v1 directory", arg(int32(openPath(t, embryo.V1Cgroup(t))), 0), unix.EBADF},
	}
	fd := embryo.New(t)
	for _, row := range rows {
		embryo.Check(t, row.name, rawConfig(fd, pidfd.PIDFD_CONFIG_CGROUP, row.buf), row.want)
	}
	embryo.Check(t, "into B after the errors", rawConfig(fd, pidfd.PIDFD_CONFIG_CGROUP, arg(int32(openPath(t, b)), 0)), 0)
}
