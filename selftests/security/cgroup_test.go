package security

import (
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// TestCgroupUnderLandlock: PIDFD_CONFIG_CGROUP's open of cgroup.procs is
// the embryo's own, which its Landlock domain (its creator's) judges: a
// creator whose domain lets it write files only beneath /proc cannot move
// its embryo into a cgroup, as it cannot open that cgroup's cgroup.procs
// for writing itself. An unrestricted creator moves the same embryo-to-be.
func TestCgroupUnderLandlock(t *testing.T) {
	embryo.Require(t)
	if !pidfd.HasCommand(pidfd.PIDFD_CONFIG_CGROUP) {
		t.Fatal("the kernel has empty pidfds but no PIDFD_CONFIG_CGROUP: the series is incomplete")
	}
	b := cgroup2.New(t, "cglandlock")
	bfd, err := unix.Open(b, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(bfd)
	type result struct {
		own, move string
		err       error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the restricted thread exits with us.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		// Not /tmp, where the cgroup2 hierarchy may be mounted.
		r.err = landlockAllowOnly(unix.LANDLOCK_ACCESS_FS_WRITE_FILE, "/proc", unix.LANDLOCK_ACCESS_FS_WRITE_FILE)
		if r.err != nil {
			return
		}
		// Only the open: a write would move this whole process.
		f, err := unix.Open(filepath.Join(b, "cgroup.procs"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(f)
		}
		r.own = embryo.Name(err)
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			r.err = err
			return
		}
		r.move = embryo.Name(pidfd.ConfigCgroup(fd, bfd))
		unix.Close(fd)
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.own != "EACCES" || r.move != "EACCES" {
		t.Errorf("under Landlock: own open of cgroup.procs %s, the embryo's move %s; want EACCES for both", r.own, r.move)
	}
	fd := embryo.New(t)
	embryo.Check(t, "the move by an unrestricted creator", pidfd.ConfigCgroup(fd, bfd), 0)
}
