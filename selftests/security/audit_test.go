package security

// v1 finding A14, audit: an embryo's exec is recorded as an execveat() by
// the embryo, as fork+execve's exec is recorded as the child's execve().

import (
	"encoding/binary"
	"errors"
	"os"
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

// linux/audit.h
const (
	auditSet          = 1001
	auditAddRule      = 1011
	auditDelRule      = 1012
	auditSyscall      = 1300
	auditExecve       = 1309
	auditNlgrpReadlog = 1
	auditStatusEnable = 0x1
	auditFilterExit   = 0x04
	auditAlways       = 2
	auditArch         = 11
	auditPpid         = 18
	auditEqual        = 0x40000000
	auditArchX86_64   = 0xc000003e
	auditBitmaskSize  = 64
	auditStatusLen    = 11 * 4
	nrExecve          = 59
	nrExecveat        = 322
)

// auditSocket opens a NETLINK_AUDIT socket with a receive timeout.
func auditSocket(t *testing.T) *netlink.Conn {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_AUDIT)
	if err != nil {
		t.Fatalf("NETLINK_AUDIT socket: %s (the test kernel has CONFIG_AUDIT)", embryo.Name(err))
	}
	t.Cleanup(func() { unix.Close(fd) })
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	return &netlink.Conn{FD: fd}
}

// auditRequest sends an audit request and returns the kernel's errno.
func auditRequest(c *netlink.Conn, typ uint16, payload []byte) error {
	_, err := c.Request(typ, 0, payload)
	return err
}

func auditEnable(c *netlink.Conn, on bool) error {
	st := make([]byte, auditStatusLen)
	binary.NativeEndian.PutUint32(st[0:], auditStatusEnable)
	if on {
		binary.NativeEndian.PutUint32(st[4:], 1)
	}
	return auditRequest(c, auditSet, st)
}

// execRule is an exit-filter rule, "always", for execve and execveat of
// x86-64 tasks whose parent is ppid.
func execRule(ppid int) []byte {
	r := make([]byte, 3*4+4*auditBitmaskSize*4+4)
	ne := binary.NativeEndian
	ne.PutUint32(r[0:], auditFilterExit)
	ne.PutUint32(r[4:], auditAlways)
	ne.PutUint32(r[8:], 2)
	mask := r[12:]
	for _, nr := range []int{nrExecve, nrExecveat} {
		w := mask[nr/32*4:]
		ne.PutUint32(w, ne.Uint32(w)|1<<(nr%32))
	}
	fields := r[12+auditBitmaskSize*4:]
	values := r[12+2*auditBitmaskSize*4:]
	flags := r[12+3*auditBitmaskSize*4:]
	for i, f := range []struct{ field, value uint32 }{{auditArch, auditArchX86_64}, {auditPpid, uint32(ppid)}} {
		ne.PutUint32(fields[4*i:], f.field)
		ne.PutUint32(values[4*i:], f.value)
		ne.PutUint32(flags[4*i:], auditEqual)
	}
	return r
}

// auditRecord is one record read from the AUDIT_NLGRP_READLOG group.
type auditRecord struct {
	Type   uint16
	Serial string            // the event's "audit(time:serial)"
	Fields map[string]string // key=value pairs, quotes kept
}

var auditStamp = regexp.MustCompile(`^audit\(([0-9.]+:[0-9]+)\): `)

func parseAudit(typ uint16, text string) auditRecord {
	r := auditRecord{Type: typ, Fields: map[string]string{}}
	if m := auditStamp.FindStringSubmatch(text); m != nil {
		r.Serial = m[1]
		text = text[len(m[0]):]
	}
	for _, kv := range strings.Fields(text) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			r.Fields[k] = v
		}
	}
	return r
}

func auditRead(c *netlink.Conn, quiet time.Duration, until time.Time) []auditRecord {
	var recs []auditRecord
	buf := make([]byte, 65536)
	last := time.Now()
	for time.Now().Before(until) && time.Since(last) < quiet {
		msgs, err := c.Recv(buf)
		if err != nil && !errors.Is(err, netlink.ErrTruncated) {
			continue
		}
		last = time.Now()
		for _, m := range msgs {
			text := strings.TrimRight(string(m.Data), "\x00\n")
			recs = append(recs, parseAudit(m.Header.Type, text))
		}
	}
	return recs
}

// TestAuditExec (v1 finding A14): with a rule that records execve and
// execveat of the test's children, an embryo's exec attempts are recorded
// as execveat() calls by the embryo (its pid, the creator as ppid): a
// failed attempt with success=no and its errno, the one that starts it
// with success=yes, the new exe and an EXECVE record of its argv. fork +
// execve, the control, is recorded as the child's execve(). v1 produced no
// record for the embryo.
func TestAuditExec(t *testing.T) {
	embryo.Require(t)
	ctl := auditSocket(t)
	if err := auditEnable(ctl, true); err != nil {
		t.Fatalf("enabling audit: %s", embryo.Name(err))
	}
	t.Cleanup(func() { auditEnable(ctl, false) })
	rule := execRule(os.Getpid())
	if err := auditRequest(ctl, auditAddRule, rule); err != nil {
		t.Fatalf("adding the exec rule: %s", embryo.Name(err))
	}
	t.Cleanup(func() { auditRequest(ctl, auditDelRule, rule) })
	logs := auditSocket(t)
	if err := unix.Bind(logs.FD, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (auditNlgrpReadlog - 1)}); err != nil {
		t.Fatalf("joining AUDIT_NLGRP_READLOG: %s", embryo.Name(err))
	}

	// The embryo is created with audit on: tasks get their audit
	// context at creation, as forked children do.
	fd := embryo.New(t)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent/emptypidfd-audit", 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != unix.ENOENT {
		t.Fatalf("run of a missing program: %s, want ENOENT", embryo.Name(err))
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	if err := pidfd.ConfigArgv(fd, []string{"true-static", "audit-embryo"}); err != nil {
		t.Fatal(embryo.Name(err))
	}
	pid := embryo.Run(t, fd)
	embryo.Wait(t, fd)

	cpid, cfd, err := embryo.ForkExec(childreport.TruePath, []string{"true-static", "audit-fork"}, nil, nil)
	if err != nil {
		t.Fatalf("fork+execve: %v", err)
	}
	defer unix.Close(cfd)
	embryo.Wait(t, cfd)

	recs := auditRead(logs, 2*time.Second, time.Now().Add(20*time.Second))
	execve := map[string]auditRecord{}
	for _, r := range recs {
		if r.Type == auditExecve {
			execve[r.Serial] = r
		}
	}
	var embryoRecs, forkRecs []auditRecord
	for _, r := range recs {
		if r.Type != auditSyscall {
			continue
		}
		switch r.Fields["pid"] {
		case strconv.Itoa(pid):
			embryoRecs = append(embryoRecs, r)
		case strconv.Itoa(cpid):
			forkRecs = append(forkRecs, r)
		}
	}
	t.Logf("%d records; embryo %d: %v; fork+execve %d: %v", len(recs), pid, embryoRecs, cpid, forkRecs)

	self := strconv.Itoa(os.Getpid())
	if len(forkRecs) != 1 || forkRecs[0].Fields["syscall"] != strconv.Itoa(nrExecve) || forkRecs[0].Fields["success"] != "yes" {
		t.Fatalf("fork+execve control: SYSCALL records %v, want one execve with success=yes: the rule or the reader is broken, the test is void", forkRecs)
	}
	if len(embryoRecs) != 2 {
		t.Fatalf("embryo %d: %d SYSCALL records, want 2 (the failed attempt, then the one that started it)", pid, len(embryoRecs))
	}
	for i, want := range []struct{ success, exit string }{{"no", "-2"}, {"yes", "0"}} {
		r := embryoRecs[i]
		if r.Fields["syscall"] != strconv.Itoa(nrExecveat) || r.Fields["success"] != want.success ||
			r.Fields["exit"] != want.exit || r.Fields["ppid"] != self {
			t.Errorf("embryo record %d: syscall=%s success=%s exit=%s ppid=%s; want syscall=%d success=%s exit=%s ppid=%s",
				i, r.Fields["syscall"], r.Fields["success"], r.Fields["exit"], r.Fields["ppid"], nrExecveat, want.success, want.exit, self)
		}
	}
	last := embryoRecs[1]
	if last.Fields["exe"] != strconv.Quote(childreport.TruePath) {
		t.Errorf("embryo record: exe=%s, want %q", last.Fields["exe"], childreport.TruePath)
	}
	ev, ok := execve[last.Serial]
	if !ok {
		t.Errorf("no EXECVE record in the embryo's event %s", last.Serial)
	} else if ev.Fields["argc"] != "2" || ev.Fields["a1"] != strconv.Quote("audit-embryo") {
		t.Errorf("EXECVE record of the embryo: %v, want argc=2 a1=\"audit-embryo\"", ev.Fields)
	}
}
