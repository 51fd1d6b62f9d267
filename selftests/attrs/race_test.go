package attrs

// The new commands racing the embryo's destruction (close of its pidfd,
// the creator's exit, pid namespace teardown, cgroup.kill) and its run.

import (
	"math/rand"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// hammer runs n threads of random new-command calls on fd until stop.
func hammer(fd, n int, stop *atomic.Bool, seed int64) (*sync.WaitGroup, *atomic.Int64) {
	var wg sync.WaitGroup
	var calls atomic.Int64
	for j := 0; j < n; j++ {
		wg.Add(1)
		go func(s int64) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			r := rand.New(rand.NewSource(s))
			for !stop.Load() {
				hammerOnce(fd, r)
				calls.Add(1)
			}
		}(seed + int64(j))
	}
	return &wg, &calls
}

// TestRaceClose: the calls racing the last close of the pidfd.
func TestRaceClose(t *testing.T) {
	embryo.Require(t)
	r := rand.New(rand.NewSource(1))
	var total int64
	for i := 0; i < 150; i++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			t.Fatal(embryo.Name(err))
		}
		var stop atomic.Bool
		wg, calls := hammer(fd, 3, &stop, int64(i*10))
		time.Sleep(time.Duration(r.Intn(3000)) * time.Microsecond)
		unix.Close(fd)
		time.Sleep(time.Duration(r.Intn(500)) * time.Microsecond)
		stop.Store(true)
		wg.Wait()
		total += calls.Load()
	}
	t.Logf("%d calls", total)
	if total == 0 {
		t.Errorf("no call was made: nothing raced the close")
	}
}

// TestRaceRun: the calls racing pidfd_spawn_run.
func TestRaceRun(t *testing.T) {
	embryo.Require(t)
	results := map[string]int{}
	for i := 0; i < 40; i++ {
		fd := embryo.NewUnmanaged(t, 0)
		embryo.ConfigProgram(t, fd, childreport.TruePath, []string{"true"}, nil)
		var stop atomic.Bool
		wg, _ := hammer(fd, 2, &stop, int64(i))
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		_, err := runWithin(t, fd, time.Minute)
		results[embryo.Name(err)]++
		if err == nil {
			if ex, werr := embryo.WaitExit(fd, time.Minute); werr != nil {
				t.Errorf("child %v: %v", ex, werr)
			}
		}
		stop.Store(true)
		wg.Wait()
		unix.Close(fd)
	}
	t.Logf("runs: %v", results)
	// Config calls fail with EBUSY while a run waits and cannot make it
	// fail; only the SIGXCPU of a soft RLIMIT_CPU of 0 the hammer may
	// set can interrupt an exec (EINTR, documented).
	for r, n := range results {
		if r != "success" && r != "EINTR" {
			t.Errorf("%d runs: %s, want success (or EINTR)", n, r)
		}
	}
	if results["success"] == 0 {
		t.Errorf("runs: %v: no run started its child", results)
	}
}

// TestRaceCreatorExit: exit_group() of a creator whose threads
// are in the new commands.
func TestRaceCreatorExit(t *testing.T) {
	embryo.Require(t)
	for i := 0; i < 12; i++ {
		h := helper.New(t, "hammer", hammerArg{Embryos: 2, Threads: 3, ExitMs: 50 + 30*i})
		h.Start()
		done := make(chan error, 1)
		go func() { done <- h.Cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("helper %d: %v; stderr %s", i, err, h.Stderr())
			}
		case <-time.After(time.Minute):
			t.Fatalf("helper %d did not exit: stuck in a config call?", i)
		}
	}
}

// TestRacePidnsTeardown: the creator is the init of a pid
// namespace, killed while its threads are in the new commands.
func TestRacePidnsTeardown(t *testing.T) {
	embryo.Require(t)
	for i := 0; i < 6; i++ {
		h := helper.New(t, "hammer", hammerArg{Embryos: 2, Threads: 3, Forever: true})
		h.Cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWPID
		h.Start()
		time.Sleep(time.Duration(200+100*i) * time.Millisecond)
		h.Cmd.Process.Signal(unix.SIGKILL)
		done := make(chan error, 1)
		go func() { done <- h.Cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("pid namespace init %d did not die", i)
		}
	}
}

// TestRaceCgroupKill: cgroup.kill of a cgroup holding the creator
// and its embryos while the creator's threads are in the new commands.
func TestRaceCgroupKill(t *testing.T) {
	embryo.Require(t)
	for i := 0; i < 5; i++ {
		cg := cgroup2.New(t, "attrs")
		cgfd, err := unix.Open(cg, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		h := helper.New(t, "hammer", hammerArg{Embryos: 2, Threads: 3, Forever: true})
		h.Cmd.SysProcAttr.UseCgroupFD = true
		h.Cmd.SysProcAttr.CgroupFD = cgfd
		h.Start()
		unix.Close(cgfd)
		time.Sleep(time.Duration(200+100*i) * time.Millisecond)
		embryo.Check(t, "cgroup.kill", cgroup2.WriteCtl(filepath.Join(cg, "cgroup.kill"), "1"), 0)
		done := make(chan error, 1)
		go func() { done <- h.Cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Fatalf("helper in %s did not die of cgroup.kill", cg)
		}
		if v, ok := cgroup2.WaitEvent(cg, "populated", "0", 30*time.Second); !ok {
			t.Errorf("%s still populated (%s) after cgroup.kill: procs %q", cg, v, cgroup2.Procs(cg))
		}
	}
}
