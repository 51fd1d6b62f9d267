package lifecycle

// v1 findings A12 and A14: what privileged observers of tasks see of an
// embryo. Tracing and the proc connector see it as a task from its
// creation: a fork then (its pid is allocated), an exec when it execs, an
// exit when it ends. A uretprobe'd creator must not hand its pending
// return instances to an embryo that has no mm.

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/netlink"
)

// probePath is selftests/childreport/probe.c in the guest (vmtest puts it
// there).
const probePath = "/bin/probe-static"

// tracefs returns the tracing directory, mounting tracefs if needed.
func tracefs(t *testing.T) string {
	t.Helper()
	dir := "/sys/kernel/tracing"
	if _, err := os.Stat(filepath.Join(dir, "trace")); err == nil {
		return dir
	}
	if err := unix.Mount("tracefs", dir, "tracefs", 0, ""); err != nil {
		t.Fatalf("mounting tracefs on %s: %s (the test kernel has CONFIG_FTRACE)", dir, name(err))
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func traceWrite(t *testing.T, path, val string) {
	t.Helper()
	if err := writeCtl(path, val); err != nil {
		t.Fatalf("writing %q to %s: %v", val, path, err)
	}
}

// enableEvents clears the trace buffer and enables the events (paths under
// events/) until t ends.
func enableEvents(t *testing.T, dir string, events ...string) {
	t.Helper()
	traceWrite(t, filepath.Join(dir, "trace"), "")
	for _, ev := range events {
		p := filepath.Join(dir, "events", ev, "enable")
		traceWrite(t, p, "1")
		t.Cleanup(func() { writeCtl(p, "0") })
	}
	traceWrite(t, filepath.Join(dir, "tracing_on"), "1")
}

func readTrace(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "trace"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestTraceEventsOrder (v1 finding A14): the sched tracepoints show an
// embryo spawn as a fork and an exec: sched_process_fork (creator to the
// new pid), then sched_process_exec of that pid, then its
// sched_process_exit, in that order, as for fork+execve.
func TestTraceEventsOrder(t *testing.T) {
	embryo.Require(t)
	dir := tracefs(t)
	enableEvents(t, dir, "sched/sched_process_fork", "sched/sched_process_exec", "sched/sched_process_exit")

	fd := embryo.New(t)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
		t.Fatal(name(err))
	}
	pid := embryo.Run(t, fd)
	if ex := embryo.Wait(t, fd); !ex.Exited(0) {
		t.Fatalf("true-static: %v", ex)
	}
	traceWrite(t, filepath.Join(dir, "tracing_on"), "0")
	lines := readTrace(t, dir)

	fork := regexp.MustCompile(`sched_process_fork: comm=.* pid=(\d+) child_comm=.* child_pid=` + strconv.Itoa(pid) + `$`)
	execRe := regexp.MustCompile(`sched_process_exec: filename=` + regexp.QuoteMeta(childreport.TruePath) + ` pid=` + strconv.Itoa(pid) + ` `)
	exit := regexp.MustCompile(`sched_process_exit: comm=.* pid=` + strconv.Itoa(pid) + ` `)
	order := []struct {
		what string
		re   *regexp.Regexp
	}{{"fork", fork}, {"exec", execRe}, {"exit", exit}}
	at := make([]int, len(order))
	for i, o := range order {
		at[i] = -1
		for n, l := range lines {
			if o.re.MatchString(l) {
				at[i] = n
				if i == 0 {
					parent := o.re.FindStringSubmatch(l)[1]
					if parent != strconv.Itoa(unix.Gettid()) && !isThreadOfSelf(parent) {
						t.Errorf("sched_process_fork of %d names parent %s, not a thread of the creator %d: %s", pid, parent, os.Getpid(), l)
					}
				}
				break
			}
		}
		if at[i] < 0 {
			t.Errorf("no sched_process_%s event for the child %d in %d trace lines", o.what, pid, len(lines))
		}
	}
	if at[0] >= 0 && at[1] >= 0 && at[2] >= 0 && !(at[0] < at[1] && at[1] < at[2]) {
		t.Errorf("events for %d at trace lines fork %d, exec %d, exit %d: want fork < exec < exit", pid, at[0], at[1], at[2])
	}
	if t.Failed() {
		for _, l := range lines {
			if strings.Contains(l, strconv.Itoa(pid)) {
				t.Logf("trace: %s", l)
			}
		}
	}
}

func isThreadOfSelf(tid string) bool {
	_, err := os.Stat(filepath.Join("/proc/self/task", tid))
	return err == nil
}

// symbolOffset is the file offset of symbol sym in the ELF file path, as
// uprobe_events wants it.
func symbolOffset(path, sym string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return 0, err
	}
	for _, s := range syms {
		if s.Name != sym {
			continue
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && s.Value >= p.Vaddr && s.Value < p.Vaddr+p.Memsz {
				return s.Value - p.Vaddr + p.Off, nil
			}
		}
		return 0, fmt.Errorf("%s: %s at %#x is in no executable segment", path, sym, s.Value)
	}
	return 0, fmt.Errorf("%s: no symbol %s", path, sym)
}

// TestUretprobeCreator (v1 finding A12): a creator that is inside a
// function with a uretprobe (a return instance pending) creates and runs
// an embryo. uprobe_copy_process() must not hand the return instances and
// the XOL-area work to a child that has no mm (v1: a use-after-free when
// the exec replaced the missing mm). The probe must fire, the child run,
// and the console stay clean (the harness checks it).
func TestUretprobeCreator(t *testing.T) {
	embryo.Require(t)
	if _, err := os.Stat(probePath); err != nil {
		t.Fatalf("%v (vmtest builds selftests/childreport/probe.c into the initramfs)", err)
	}
	off, err := symbolOffset(probePath, "make_embryo")
	if err != nil {
		t.Fatal(err)
	}
	dir := tracefs(t)
	events := filepath.Join(dir, "uprobe_events")
	traceWrite(t, events, fmt.Sprintf("r:emptypidfd/mkret %s:%#x", probePath, off))
	t.Cleanup(func() { writeCtl(events, "-:emptypidfd/mkret") })
	enableEvents(t, dir, "emptypidfd/mkret")

	for i := 0; i < 3; i++ {
		out, err := exec.Command(probePath, "uretprobe").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "exit 0" {
			t.Fatalf("probe-static uretprobe: %v, output %q; want \"exit 0\"", err, out)
		}
	}
	writeCtl(filepath.Join(dir, "events/emptypidfd/mkret/enable"), "0")
	n := 0
	for _, l := range readTrace(t, dir) {
		if strings.Contains(l, "mkret:") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("the uretprobe on make_embryo fired %d times for 3 runs: the test is void unless it fires each time", n)
	}
}

// Proc connector (linux/cn_proc.h, linux/connector.h).
const (
	cnIdxProc          = 1
	cnValProc          = 1
	procCnMcastListen  = 1
	procCnMcastIgnore  = 2
	procEventFork      = 0x00000001
	procEventExec      = 0x00000002
	procEventExit      = 0x80000000
	cnMsgLen           = 20 // struct cn_msg without data
	procEventHeaderLen = 16 // what, cpu, timestamp_ns
)

type procEvent struct {
	What       uint32
	Pid, Tgid  uint32 // FORK: the child; EXEC, EXIT: the process
	ParentTgid uint32 // FORK only
}

func cnProcSocket(t *testing.T) int {
	t.Helper()
	s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		t.Fatalf("netlink connector socket: %s (the test kernel has CONFIG_PROC_EVENTS)", name(err))
	}
	t.Cleanup(func() { unix.Close(s) })
	if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		t.Fatalf("binding to CN_IDX_PROC: %s", name(err))
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	cnProcOp(t, s, procCnMcastListen)
	t.Cleanup(func() { cnProcOp(t, s, procCnMcastIgnore) })
	return s
}

func cnProcOp(t *testing.T, s int, op uint32) {
	t.Helper()
	cn := make([]byte, cnMsgLen+4) // struct cn_msg, then the op
	ne := binary.NativeEndian
	ne.PutUint32(cn[0:], cnIdxProc)
	ne.PutUint32(cn[4:], cnValProc)
	ne.PutUint16(cn[16:], 4)
	ne.PutUint32(cn[cnMsgLen:], op)
	msg := netlink.Encode(unix.NLMSG_DONE, 0, 0, uint32(os.Getpid()), cn)
	if err := unix.Sendto(s, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatalf("proc connector op %d: %s", op, name(err))
	}
}

// cnProcDrain reads events until the socket has been quiet for its receive
// timeout, or until until.
func cnProcDrain(s int, until time.Time) []procEvent {
	var evs []procEvent
	c := netlink.Conn{FD: s}
	buf := make([]byte, 8192)
	ne := binary.NativeEndian
	quiet := 0
	for time.Now().Before(until) && quiet < 5 {
		msgs, err := c.Recv(buf)
		if err != nil && !errors.Is(err, netlink.ErrTruncated) {
			quiet++
			continue
		}
		quiet = 0
		for _, m := range msgs {
			if len(m.Data) < cnMsgLen {
				continue
			}
			ev := m.Data[cnMsgLen:]
			if len(ev) >= procEventHeaderLen+16 {
				d := ev[procEventHeaderLen:]
				e := procEvent{What: ne.Uint32(ev)}
				switch e.What {
				case procEventFork:
					e.ParentTgid = ne.Uint32(d[4:])
					e.Pid, e.Tgid = ne.Uint32(d[8:]), ne.Uint32(d[12:])
				case procEventExec, procEventExit:
					e.Pid, e.Tgid = ne.Uint32(d[0:]), ne.Uint32(d[4:])
				}
				evs = append(evs, e)
			}
		}
	}
	return evs
}

// TestProcConnectorOrder (v1 finding A14): the proc connector reports an
// embryo spawn as FORK (creator to child), EXEC, EXIT of the child, in
// that order, as for fork+execve.
func TestProcConnectorOrder(t *testing.T) {
	embryo.Require(t)
	s := cnProcSocket(t)

	fd := embryo.New(t)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(name(err))
	}
	pid := embryo.Run(t, fd)
	if ex := embryo.Wait(t, fd); !ex.Exited(0) {
		t.Fatalf("true-static: %v", ex)
	}
	evs := cnProcDrain(s, time.Now().Add(10*time.Second))

	var got []string
	for _, e := range evs {
		if int(e.Tgid) != pid {
			continue
		}
		switch e.What {
		case procEventFork:
			if int(e.ParentTgid) != os.Getpid() {
				t.Errorf("FORK of %d names parent tgid %d, want the creator %d", pid, e.ParentTgid, os.Getpid())
			}
			got = append(got, "fork")
		case procEventExec:
			got = append(got, "exec")
		case procEventExit:
			got = append(got, "exit")
		}
	}
	if strings.Join(got, ",") != "fork,exec,exit" {
		t.Errorf("proc connector events of the child %d: %v, want [fork exec exit] (%d events read)", pid, got, len(evs))
	}
}
