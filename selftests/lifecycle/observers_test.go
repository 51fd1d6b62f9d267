package lifecycle

// What privileged observers of tasks see of an embryo (v1 findings A12,
// A14, A15): tracing, the proc connector, BSD process accounting and
// taskstats see it as a task from its creation, as they see a forked
// child: a fork then (its pid is allocated), an exec when it execs, an exit
// when it ends; one destroyed unstarted is a child that exited without
// exec (a documented exception to "does not exist before start"). A
// uretprobe'd creator must not hand its pending return instances to an
// embryo that has no mm.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
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
	if err := cgroup2.WriteCtl(path, val); err != nil {
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
		t.Cleanup(func() { cgroup2.WriteCtl(p, "0") })
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
	t.Cleanup(func() { cgroup2.WriteCtl(events, "-:emptypidfd/mkret") })
	enableEvents(t, dir, "emptypidfd/mkret")

	for i := 0; i < 3; i++ {
		out, err := exec.Command(probePath, "uretprobe").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "exit 0" {
			t.Fatalf("probe-static uretprobe: %v, output %q; want \"exit 0\"", err, out)
		}
	}
	cgroup2.WriteCtl(filepath.Join(dir, "events/emptypidfd/mkret/enable"), "0")
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

// destroyedAndStarted makes the two embryos whose exit records the
// accounting and taskstats tests look for: one destroyed unstarted, by
// the close of its pidfd (it exits on its own), and one started, whose
// program (true-static) it runs to its exit; it returns the started
// child's pid.
func destroyedAndStarted(t *testing.T) int {
	t.Helper()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		t.Fatal(name(err))
	}
	unix.Close(fd)
	fd2 := embryo.New(t)
	if err := pidfd.ConfigExec(fd2, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(name(err))
	}
	pid := embryo.Run(t, fd2)
	embryo.Wait(t, fd2)
	return pid
}

// acctV3 is struct acct_v3 (include/uapi/linux/acct.h), 64 bytes.
type acctV3 struct {
	Flag, Version byte
	Tty           uint16
	Exitcode      uint32
	Uid, Gid      uint32
	Pid, Ppid     uint32
	Btime         uint32
	Etime         float32
	Times         [8]uint16 // utime, stime, mem, io, rw, minflt, majflt, swaps
	Comm          [16]byte
}

func readAcct(path string) ([]acctV3, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs := make([]acctV3, len(b)/64)
	if err := binary.Read(bytes.NewReader(b[:len(recs)*64]), binary.LittleEndian, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// creatorComm is this test binary's comm, which an embryo it creates
// carries until it execs: the executable's name, cut to 15 bytes.
func creatorComm() string {
	exe, _ := os.Executable()
	c := filepath.Base(exe)
	return c[:min(len(c), 15)]
}

func comm(r acctV3) string {
	c, _, _ := bytes.Cut(r.Comm[:], []byte{0})
	return string(c)
}

// TestAcctRecords: with process accounting on, an embryo destroyed before
// it started leaves one record (the creator's comm, its pid as ppid, exit
// code 0), and one that started leaves the record of the program it ran,
// as fork's children do. The test counts the creator's children's records.
func TestAcctRecords(t *testing.T) {
	embryo.Require(t)
	file := filepath.Join(t.TempDir(), "acct")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Acct(file); err != nil {
		t.Fatalf("acct(%s): %s (the test kernel has BSD_PROCESS_ACCT)", file, name(err))
	}
	on := true
	off := func() {
		if on {
			unix.Acct("")
			on = false
		}
	}
	t.Cleanup(off)

	pid := destroyedAndStarted(t)

	self := uint32(os.Getpid())
	var recs []acctV3
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := readAcct(file)
		if err != nil {
			t.Fatal(err)
		}
		recs = recs[:0]
		for _, r := range all {
			if r.Ppid == self {
				recs = append(recs, r)
			}
		}
		if len(recs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	off()
	for _, r := range recs {
		t.Logf("record: pid %d ppid %d comm %q exit %d version %d", r.Pid, r.Ppid, comm(r), r.Exitcode, r.Version&0x0f)
	}
	if len(recs) != 2 {
		t.Fatalf("%d accounting records with ppid %d, want 2 (the destroyed embryo, the started child)", len(recs), self)
	}
	creator := creatorComm()
	var destroyed, started bool
	for _, r := range recs {
		switch {
		case r.Pid == uint32(pid) && comm(r) == "true-static" && r.Exitcode == 0:
			started = true
		case r.Pid != uint32(pid) && comm(r) == creator && r.Exitcode == 0:
			destroyed = true
		}
	}
	if !destroyed {
		t.Errorf("no record of the destroyed embryo (comm %q, exit 0)", creator)
	}
	if !started {
		t.Errorf("no record of the started child %d (comm true-static, exit 0)", pid)
	}
}

// genlRequest sends a generic netlink command with attributes and returns
// the payloads (after the genl header) of the replies, failing on a
// netlink error.
func genlRequest(c *netlink.Conn, family uint16, cmd uint8, attrs ...[]byte) ([][]byte, error) {
	hdr := []byte{cmd, 1, 0, 0} // struct genlmsghdr: cmd, version 1
	replies, err := c.Request(family, 0, append([][]byte{hdr}, attrs...)...)
	var payloads [][]byte
	for _, r := range replies {
		if len(r) >= unix.GENL_HDRLEN {
			payloads = append(payloads, r[unix.GENL_HDRLEN:])
		}
	}
	return payloads, err
}

// taskstatsListener registers a NETLINK_GENERIC socket for the taskstats
// exit records of every CPU and returns it with the family's id.
func taskstatsListener(t *testing.T) (*netlink.Conn, uint16) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		t.Fatalf("NETLINK_GENERIC socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	c := &netlink.Conn{FD: fd}
	replies, err := genlRequest(c, unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY,
		netlink.Attr(unix.CTRL_ATTR_FAMILY_NAME, []byte(unix.TASKSTATS_GENL_NAME+"\x00")))
	if err != nil || len(replies) == 0 {
		t.Fatalf("generic netlink family %s: %d replies, %v (the test kernel has CONFIG_TASKSTATS)", unix.TASKSTATS_GENL_NAME, len(replies), err)
	}
	id, ok := netlink.Attrs(replies[0])[unix.CTRL_ATTR_FAMILY_ID]
	if !ok || len(id) < 2 {
		t.Fatalf("no family id in the reply for %s", unix.TASKSTATS_GENL_NAME)
	}
	family := binary.NativeEndian.Uint16(id)
	cpus := fmt.Sprintf("0-%d\x00", runtime.NumCPU()-1)
	if _, err := genlRequest(c, family, unix.TASKSTATS_CMD_GET, netlink.Attr(unix.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, []byte(cpus))); err != nil {
		t.Fatalf("registering for the taskstats exit records of CPUs %s: %v", cpus[:len(cpus)-1], err)
	}
	return c, family
}

// taskstatsExits reads exit records until quiet passes without one or
// until, and returns their per-pid statistics.
func taskstatsExits(c *netlink.Conn, family uint16, quiet time.Duration, until time.Time) ([]unix.Taskstats, error) {
	var out []unix.Taskstats
	buf := make([]byte, 1<<16)
	for time.Now().Before(until) {
		ev, err := embryo.PollIn(c.FD, quiet)
		if err != nil {
			return out, err
		}
		if ev == 0 {
			return out, nil
		}
		msgs, err := c.Recv(buf)
		if err != nil {
			return out, err
		}
		for _, m := range msgs {
			if m.Header.Type != family || len(m.Data) < unix.GENL_HDRLEN {
				continue
			}
			aggr, ok := netlink.Attrs(m.Data[unix.GENL_HDRLEN:])[unix.TASKSTATS_TYPE_AGGR_PID]
			if !ok {
				continue // a thread group's aggregate (AGGR_TGID)
			}
			raw, ok := netlink.Attrs(aggr)[unix.TASKSTATS_TYPE_STATS]
			if !ok {
				return out, errors.New("a taskstats record without statistics")
			}
			var ts unix.Taskstats
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), raw)
			out = append(out, ts)
		}
	}
	return out, nil
}

func taskComm(ts unix.Taskstats) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ts.Ac_comm[0])), len(ts.Ac_comm))
	c, _, _ := bytes.Cut(b, []byte{0})
	return string(c)
}

// TestTaskstatsRecords: with a taskstats listener registered, an embryo
// destroyed before it started is reported on exit as the creator's child
// with the creator's comm and exit code 0, and one that started as the
// program it ran, as fork's children are (pidfd_empty.rst, "Observers").
func TestTaskstatsRecords(t *testing.T) {
	embryo.Require(t)
	c, family := taskstatsListener(t)

	pid := destroyedAndStarted(t)

	self := uint32(os.Getpid())
	creator := creatorComm()
	var destroyed, started bool
	deadline := time.Now().Add(10 * time.Second)
	for !(destroyed && started) && time.Now().Before(deadline) {
		recs, err := taskstatsExits(c, family, time.Second, deadline)
		if err != nil {
			t.Fatalf("reading taskstats records: %v", err)
		}
		for _, r := range recs {
			if r.Ac_ppid != self {
				continue
			}
			t.Logf("record: pid %d ppid %d comm %q exit %d", r.Ac_pid, r.Ac_ppid, taskComm(r), r.Ac_exitcode)
			switch {
			case r.Ac_pid == uint32(pid) && taskComm(r) == "true-static" && r.Ac_exitcode == 0:
				started = true
			case r.Ac_pid != uint32(pid) && taskComm(r) == creator && r.Ac_exitcode == 0:
				destroyed = true
			}
		}
	}
	if !destroyed {
		t.Errorf("no taskstats record of the destroyed embryo (ppid %d, comm %q, exit 0)", self, creator)
	}
	if !started {
		t.Errorf("no taskstats record of the started child %d (comm true-static, exit 0)", pid)
	}
}
