package creds

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
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

func forkTrue() string {
	pid, err := syscall.ForkExec(childreport.TruePath, []string{"true"}, &syscall.ProcAttr{
		Sys: &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uidX, Gid: uidX, Groups: []uint32{}}}})
	if err != nil {
		return embryo.Name(err)
	}
	var ws unix.WaitStatus
	unix.Wait4(pid, &ws, 0, nil)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fmt.Sprintf("status %#x", ws)
	}
	return "success"
}

func forkTrueWithin(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		r := forkTrue()
		if r == "success" || time.Now().After(deadline) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func helperNproc(raw json.RawMessage) (any, error) {
	res := newSteps()
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &unix.Rlimit{Cur: 2, Max: 2}); err != nil {
		return nil, err
	}
	res.Steps["fork-before"] = forkTrue()
	bad := map[string]int{}
	for i := 0; i < 300; i++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, err
		}
		if err := pidfd.ConfigGroups(fd, []uint32{7}); err != nil {
			bad["groups "+embryo.Name(err)]++
		}
		if err := pidfd.ConfigGIDs(fd, uidX, uidX, uidX); err != nil {
			bad["gids "+embryo.Name(err)]++
		}
		if i%3 == 2 {
			// to uidX and back to root (saved 0), twice moving the count
			if err := pidfd.ConfigUIDs(fd, uidX, uidX, 0); err != nil {
				bad["uids-x-x-0 "+embryo.Name(err)]++
			}
			if err := pidfd.ConfigUIDs(fd, 0, 0, 0); err != nil {
				bad["uids-back "+embryo.Name(err)]++
			}
		}
		if err := pidfd.ConfigUIDs(fd, uidX, uidX, uidX); err != nil {
			bad["uids "+embryo.Name(err)]++
		}
		if i%3 == 1 {
			pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0)
			if _, err := pidfd.SpawnRun(fd, 0); err != nil {
				bad["run "+embryo.Name(err)]++
			} else {
				embryo.WaitExit(fd, 10*time.Second)
			}
		}
		unix.Close(fd)
	}
	res.Steps["loop-unexpected"] = fmt.Sprint(bad)
	res.Steps["fork-after-loop"] = forkTrueWithin(5 * time.Second)
	var held []int
	for i := 0; i < 3; i++ {
		fd, _ := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		held = append(held, fd)
		if err := pidfd.ConfigUIDs(fd, uidX, uidX, uidX); err != nil {
			res.Steps[fmt.Sprint("held-uids-", i)] = embryo.Name(err)
		}
	}
	res.Steps["fork-at-limit"] = forkTrue()
	fd, _ := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	res.Steps["4th-uids"] = embryo.Name(pidfd.ConfigUIDs(fd, uidX, uidX, uidX))
	pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0)
	_, err := pidfd.SpawnRun(fd, 0)
	res.Steps["4th-run"] = embryo.Name(err)
	if err == nil {
		embryo.WaitExit(fd, 10*time.Second)
	}
	unix.Close(fd)
	for _, fd := range held {
		unix.Close(fd)
	}
	res.Steps["fork-final"] = forkTrueWithin(5 * time.Second)
	return res, nil
}

// RLIMIT_NPROC accounting across an embryo's user changes.
func TestNproc(t *testing.T) {
	embryo.Require(t)
	var res steps
	helper.New(t, "nproc", nil).Result(&res)
	t.Logf("%v", res.Steps)
	want := map[string]string{"fork-before": "success", "loop-unexpected": "map[]", "fork-after-loop": "success",
		"fork-at-limit": "EAGAIN", "4th-uids": "success", "4th-run": "EAGAIN", "fork-final": "success"}
	for k, v := range want {
		if res.Steps[k] != v {
			t.Errorf("%s: %s, want %s", k, res.Steps[k], v)
		}
	}
}

type frozenArg struct{ Mode string }

func helperFrozenCall(raw json.RawMessage) (any, error) {
	var arg frozenArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	in := bufio.NewReader(os.Stdin)
	st := os.NewFile(3, "status")
	readLine := func() string { s, _ := in.ReadString('\n'); return strings.TrimSpace(s) }
	if readLine() != "create" {
		return nil, fmt.Errorf("protocol")
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(st, "created")
	if readLine() != "call" {
		return nil, fmt.Errorf("protocol")
	}
	done := make(chan string, 1)
	go func() {
		fmt.Fprintln(st, "calling")
		var err error
		if strings.Contains(arg.Mode, "groups") {
			err = pidfd.ConfigGroups(fd, make([]uint32, 65536))
		} else {
			err = pidfd.ConfigUIDs(fd, uidX, uidX, uidX)
		}
		fmt.Fprintln(st, "result", embryo.Name(err))
		done <- embryo.Name(err)
	}()
	if arg.Mode == "exitgroup" {
		readLine()
		os.Exit(0)
	}
	r := <-done
	res := newSteps()
	res.Steps["call"] = r
	// After the call: does the embryo still work?
	res.Steps["second"] = embryo.Name(pidfd.ConfigGIDs(fd, pidfd.KeepID, pidfd.KeepID, pidfd.KeepID))
	if r == "success" {
		if rep, err := report(fd, childreport.Path); err != nil {
			res.Steps["run"] = err.Error()
		} else {
			res.Status = statusOf(rep)
		}
	}
	return res, nil
}

// A UIDS/GROUPS call that waits for an embryo frozen in its cgroup, ended
// by a thaw, cgroup.kill, the creator's SIGKILL or exit_group, or while
// the creator's own cgroup freezes.
func TestFrozenCall(t *testing.T) {
	embryo.Require(t)
	for _, mode := range []string{"thaw", "ckill", "ckill-groups", "sigkill", "sigkill-groups", "exitgroup", "freezeD"} {
		t.Run(mode, func(t *testing.T) { frozenCall(t, mode) })
	}
}

func frozenCall(t *testing.T, mode string) {
	C := cgroup2.New(t, "h26c")
	D := cgroup2.New(t, "h26d")
	h := helper.New(t, "frozencall", frozenArg{mode})
	inR, inW, _ := os.Pipe()
	stR, stW, _ := os.Pipe()
	h.Cmd.Stdin = inR
	h.Cmd.ExtraFiles = []*os.File{stW}
	h.Start()
	inR.Close()
	stW.Close()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(what string, d time.Duration) string {
		t.Helper()
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, what) {
				t.Errorf("helper said %q, want %q", l, what)
			}
			return l
		case <-time.After(d):
			t.Errorf("no %q from the helper in %v", what, d)
			return ""
		}
	}
	pid := fmt.Sprint(h.Pid())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cgroup2.WriteCtl(filepath.Join(C, "cgroup.procs"), pid))
	fmt.Fprintln(inW, "create")
	expect("created", 20*time.Second)
	must(cgroup2.WriteCtl(filepath.Join(D, "cgroup.procs"), pid))
	must(cgroup2.WriteCtl(filepath.Join(C, "cgroup.freeze"), "1"))
	if v, ok := cgroup2.WaitEvent(C, "frozen", "1", 10*time.Second); !ok {
		t.Fatalf("embryo's cgroup not frozen: %s", v)
	}
	if v, _ := cgroup2.Event(C, "populated"); v != "1" {
		t.Errorf("C populated %s before the call", v)
	}
	fmt.Fprintln(inW, "call")
	expect("calling", 10*time.Second)
	select {
	case l := <-lines:
		t.Fatalf("the call returned while the embryo is frozen: %q", l)
	case <-time.After(700 * time.Millisecond):
	}
	exited := make(chan error, 1)
	waitExit := func() {
		go func() { exited <- h.Cmd.Wait() }()
		select {
		case err := <-exited:
			t.Logf("helper exited: %v", err)
		case <-time.After(15 * time.Second):
			t.Errorf("HANG: helper did not exit in 15s after %s", mode)
		}
		if v, ok := cgroup2.WaitEvent(C, "populated", "0", 15*time.Second); !ok {
			t.Errorf("the frozen embryo survives its creator (%s): C populated %s procs %s", mode, v, cgroup2.Procs(C))
		}
	}
	switch mode {
	case "thaw":
		must(cgroup2.WriteCtl(filepath.Join(C, "cgroup.freeze"), "0"))
		expect("result success", 15*time.Second)
		inW.Close()
		var res steps
		h.Result(&res)
		t.Logf("%v %v", res.Steps, res.Status)
		if res.Steps["second"] != "success" || res.Status["Uid"] != "4242 4242 4242 4242" {
			t.Errorf("after thaw: %v %v", res.Steps, res.Status)
		}
	case "ckill", "ckill-groups":
		must(cgroup2.WriteCtl(filepath.Join(C, "cgroup.kill"), "1"))
		expect("result ESRCH", 15*time.Second)
		inW.Close()
		var res steps
		h.Result(&res)
		t.Logf("%v", res.Steps)
		if res.Steps["second"] != "ESRCH" {
			t.Errorf("second call after kill: %s", res.Steps["second"])
		}
		if v, ok := cgroup2.WaitEvent(C, "populated", "0", 15*time.Second); !ok {
			t.Errorf("killed frozen embryo still populates C: %s %s", v, cgroup2.Procs(C))
		}
	case "sigkill", "sigkill-groups":
		h.Cmd.Process.Kill()
		waitExit()
	case "exitgroup":
		fmt.Fprintln(inW, "exit")
		waitExit()
	case "freezeD":
		must(cgroup2.WriteCtl(filepath.Join(D, "cgroup.freeze"), "1"))
		if v, ok := cgroup2.WaitEvent(D, "frozen", "1", 10*time.Second); !ok {
			t.Errorf("creator's cgroup does not freeze while its call waits: frozen=%s", v)
		}
		must(cgroup2.WriteCtl(filepath.Join(C, "cgroup.freeze"), "0"))
		select {
		case l := <-lines:
			t.Errorf("frozen creator returned from the call: %q", l)
		case <-time.After(time.Second):
		}
		if v, _ := cgroup2.Event(D, "frozen"); v != "1" {
			t.Errorf("D thawed by the embryo's answer: frozen=%s", v)
		}
		must(cgroup2.WriteCtl(filepath.Join(D, "cgroup.freeze"), "0"))
		expect("result success", 15*time.Second)
		inW.Close()
		var res steps
		h.Result(&res)
		t.Logf("%v %v", res.Steps, res.Status)
	}
}

type hammerArg struct {
	C, D   string
	Rounds int
}

func helperHammer(raw json.RawMessage) (any, error) {
	var arg hammerArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	pid := fmt.Sprint(os.Getpid())
	res := newSteps()
	var mu sync.Mutex
	counts := map[string]int{}
	note := func(k string) { mu.Lock(); counts[k]++; mu.Unlock() }
	big := make([]uint32, 65536)
	for round := 0; round < arg.Rounds; round++ {
		if err := cgroup2.WriteCtl(filepath.Join(arg.C, "cgroup.procs"), pid); err != nil {
			return nil, err
		}
		var fds []int
		for i := 0; i < 4; i++ {
			fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
			if err != nil {
				return nil, err
			}
			fds = append(fds, fd)
		}
		if err := cgroup2.WriteCtl(filepath.Join(arg.D, "cgroup.procs"), pid); err != nil {
			return nil, err
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i, fd := range fds {
			for j := 0; j < 2; j++ {
				wg.Add(1)
				go func(fd int, seed int64) {
					defer wg.Done()
					r := rand.New(rand.NewSource(seed))
					for !stop.Load() {
						var err error
						op := r.Intn(7)
						switch op {
						case 0:
							err = pidfd.ConfigUIDs(fd, 0, 0, 0)
						case 1:
							err = pidfd.ConfigGIDs(fd, 0, uint32(r.Intn(3)), 0)
						case 2:
							err = pidfd.ConfigGroups(fd, big[:r.Intn(50)])
						case 3:
							err = pidfd.ConfigUIDs(fd, uidX, uidX, uidX)
						case 4:
							pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0)
							_, err = pidfd.SpawnRun(fd, 0)
						case 5:
							err = pidfd.ConfigGroups(fd, big)
						case 6:
							err = pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 64, Max: 1024})
						}
						switch err {
						case nil, unix.EBUSY, unix.ESRCH, unix.EPERM, unix.EINTR:
						default:
							note(fmt.Sprintf("op%d %s", op, embryo.Name(err)))
						}
					}
				}(fd, int64(round*100+i*10+j))
			}
		}
		time.Sleep(time.Duration(rand.Intn(15)) * time.Millisecond)
		if round%3 == 1 {
			for k := 0; k < 10; k++ {
				cgroup2.WriteCtl(filepath.Join(arg.C, "cgroup.freeze"), "1")
				time.Sleep(time.Duration(1+rand.Intn(3)) * time.Millisecond)
				cgroup2.WriteCtl(filepath.Join(arg.C, "cgroup.freeze"), "0")
			}
		}
		cgroup2.WriteCtl(filepath.Join(arg.C, "cgroup.kill"), "1")
		time.Sleep(30 * time.Millisecond)
		stop.Store(true)
		wgDone := make(chan struct{})
		go func() { wg.Wait(); close(wgDone) }()
		select {
		case <-wgDone:
		case <-time.After(20 * time.Second):
			return nil, fmt.Errorf("round %d: callers hang after cgroup.kill", round)
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		for {
			var ws unix.WaitStatus
			p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if p <= 0 || err != nil {
				break
			}
		}
	}
	res.Steps["unexpected"] = fmt.Sprint(counts)
	return res, nil
}

// Calls, runs, freezes and cgroup.kill racing.
func TestHammerKill(t *testing.T) {
	embryo.Require(t)
	C := cgroup2.New(t, "h26hc")
	D := cgroup2.New(t, "h26hd")
	var res steps
	helper.New(t, "hammer", hammerArg{C: C, D: D, Rounds: 60}).Result(&res)
	t.Logf("%v", res.Steps)
	if res.Steps["unexpected"] != "map[]" {
		t.Errorf("unexpected errnos: %s", res.Steps["unexpected"])
	}
	if v, ok := cgroup2.WaitEvent(C, "populated", "0", 15*time.Second); !ok {
		t.Errorf("C still populated: %s %s", v, cgroup2.Procs(C))
	}
}
