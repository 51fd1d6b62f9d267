package lifecycle

// An embryo destroyed while a config call is under way exits without
// waiting for the call, which may block for as long as userspace wants:
// here PIDFD_FD_OPEN of a FIFO with no writer.

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() {
	helpers["dying"] = helperDying
}

type dyingArg struct {
	Fifo   string // PIDFD_FD_OPEN of it blocks until a writer comes
	MoveTo string // the cgroup the helper moves to, leaving the embryo
}

type dyingResult struct {
	FDOpen string // what the blocked config call returned in the end
}

// helperDying creates an embryo in the cgroup it started in, moves itself
// to arg.MoveTo, starts PIDFD_FD_OPEN of the FIFO (which blocks, holding
// the embryo's config lock), and says "ready <fd>" on fd 3. It returns
// when the open has returned and stdin is closed.
func helperDying(raw json.RawMessage) (any, error) {
	var arg dyingArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", name(err))
	}
	defer unix.Close(fd)
	if err := os.WriteFile(filepath.Join(arg.MoveTo, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return nil, fmt.Errorf("moving to %s: %v", arg.MoveTo, err)
	}
	done := make(chan error, 1)
	go func() {
		how := unix.OpenHow{Flags: unix.O_RDONLY}
		done <- pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, arg.Fifo, &how, 0)
	}()
	// The open has had time to block in the FIFO.
	time.Sleep(500 * time.Millisecond)
	ready := os.NewFile(3, "ready")
	if _, err := fmt.Fprintf(ready, "ready %d", fd); err != nil {
		return nil, fmt.Errorf("saying ready: %v", err)
	}
	ready.Close()
	var res dyingResult
	select {
	case err := <-done:
		res.FDOpen = name(err)
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("PIDFD_FD_OPEN of the FIFO did not return after a writer came")
	}
	io.Copy(io.Discard, os.Stdin)
	return res, nil
}

// TestDyingEmbryoDoesNotWaitForConfig: an embryo killed (cgroup.kill)
// while its creator's PIDFD_FD_OPEN blocks on a FIFO exits at once: its
// cgroup empties while the call still blocks (pidfd_empty.rst promises
// that cgroup.kill empties a cgroup). The call holds references to what
// it edits (the embryo's task, descriptor table and fs_struct), so the
// embryo need not wait for it; review of 2026-11-29 found v2 waiting, so
// that a creator outside the cgroup could keep it populated without
// bound. The dead embryo's pidfd never shows a pid, and the creator has no
// child. Once a writer opens the FIFO, the call returns ESRCH: the embryo
// it configured is gone.
func TestDyingEmbryoDoesNotWaitForConfig(t *testing.T) {
	embryo.Require(t)
	cgA, cgB := newCgroup2(t), newCgroup2(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	h, stdin, said := startReady(t, "dying", dyingArg{Fifo: fifo, MoveTo: cgB}, cgA)
	fdStr, ok := strings.CutPrefix(said, "ready ")
	if !ok {
		t.Fatalf("the helper said %q, not ready <fd>", said)
	}
	release := fifoWriter(t, fifo)
	defer release()
	helper := strconv.Itoa(h.Pid())

	if v, _ := cgroupEvent(cgA, "populated"); v != "1" {
		t.Fatalf("cgroup A populated %q before the kill: the embryo is not there, the test is void", v)
	}
	t.Logf("helper %d wchans with the config call blocked: %s", h.Pid(), taskWchans(h.Pid()))
	if err := writeCtl(filepath.Join(cgA, "cgroup.kill"), "1"); err != nil {
		t.Fatal(err)
	}
	if v, ok := waitCgroupEvent(cgA, "populated", "0", killWithin); !ok {
		t.Errorf("cgroup A populated=%s %v after cgroup.kill, with the creator's config call blocked: the dying embryo waits for the call", v, killWithin)
	}
	info, err := os.ReadFile("/proc/" + helper + "/fdinfo/" + fdStr)
	if err != nil {
		t.Fatal(err)
	}
	m := pidfd.ParseFdinfo(string(info))
	if n, err := strconv.Atoi(m["Pid"]); err != nil || n > 0 {
		t.Errorf("fdinfo of the dead, never started embryo: Pid %q; want 0 or -1", m["Pid"])
	}
	tasks, _ := os.ReadDir("/proc/" + helper + "/task")
	for _, task := range tasks {
		kids, _ := os.ReadFile("/proc/" + helper + "/task/" + task.Name() + "/children")
		if strings.TrimSpace(string(kids)) != "" {
			t.Errorf("children of the helper's thread %s: %q, want none (the embryo never started)", task.Name(), kids)
		}
	}

	release()
	stdin.Close()
	var res dyingResult
	h.Result(&res)
	if res.FDOpen != "ESRCH" {
		t.Errorf("the PIDFD_FD_OPEN that blocked while its embryo died returned %s; want ESRCH", res.FDOpen)
	}
	if v, _ := cgroupEvent(cgA, "populated"); v != "0" {
		t.Errorf("cgroup A populated=%s after the config call returned", v)
	}
}
