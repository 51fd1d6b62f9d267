// Package childreport parses the report of selftests/childreport, the
// program the selftests spawn to see the state a child started with: its
// arguments, environment, file descriptors, working directory, signal
// state, credentials and sandbox state.
package childreport

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths of the helper programs in the guest (put there by vmtest/).
const (
	Path       = "/bin/childreport"
	TruePath   = "/bin/true-static"
	EnvOutFile = "CHILDREPORT_OUT" // if set, the report goes to this file, not fd 1
)

// FD is one open file descriptor of the child.
type FD struct {
	Num     int
	Target  string // readlink of /proc/self/fd/N, or "?errno=N"
	Cloexec bool
	Flags   int // F_GETFL
}

// Report is what the child saw at start.
type Report struct {
	Pid, PPid int
	Argv      []string
	Env       []string
	FDs       []FD // in increasing fd order
	Cwd       string
	// Status holds the /proc/self/status fields childreport reports
	// (SigBlk, SigIgn, SigPnd, ShdPnd, Uid, Gid, CapEff, NoNewPrivs,
	// Seccomp, ...), by name, as the kernel printed them.
	Status map[string]string
	// Rlimits holds the child's resource limits by RLIMIT_* number
	// (RLIM_INFINITY as unix.RLIM_INFINITY).
	Rlimits  map[int]unix.Rlimit
	ATSecure uint64
	// Pdeathsig is the child's parent-death signal (PR_GET_PDEATHSIG),
	// -1 when the report has none.
	Pdeathsig int
	// Sched is the child's scheduling policy, real-time priority and
	// nice value (sched_getattr()); Policy -1 when the report has none.
	Sched Sched
	// Cgroup is the child's cgroup v2 path ("0::" line of
	// /proc/self/cgroup), "" when the report has none.
	Cgroup string
	// Session is the child's session, process group and controlling
	// terminal; Sid -1 when the report has none.
	Session Session
}

// Session is what getsid(), getpgrp() and /dev/tty said.
type Session struct {
	Sid, Pgrp int
	// TTYErrno is the errno of opening /dev/tty: 0 if the child has a
	// controlling terminal, ENXIO if it has none.
	TTYErrno unix.Errno
	// Foreground is tcgetpgrp() of the controlling terminal, -1
	// without one.
	Foreground int
}

// Sched is what sched_getattr() said.
type Sched struct {
	Policy, Priority, Nice int
}

// FD returns the child's descriptor n, if it had one.
func (r *Report) FD(n int) (FD, bool) {
	for _, f := range r.FDs {
		if f.Num == n {
			return f, true
		}
	}
	return FD{}, false
}

// FDNums lists the child's descriptors.
func (r *Report) FDNums() []int {
	nums := make([]int, len(r.FDs))
	for i, f := range r.FDs {
		nums[i] = f.Num
	}
	return nums
}

// Hex returns a hexadecimal status field (SigBlk, SigIgn, CapEff, ...).
func (r *Report) Hex(name string) (uint64, error) {
	v, ok := r.Status[name]
	if !ok {
		return 0, fmt.Errorf("childreport: no status field %s", name)
	}
	n, err := strconv.ParseUint(v, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("childreport: status %s: %w", name, err)
	}
	return n, nil
}

// Int returns a decimal status field (NoNewPrivs, Seccomp).
func (r *Report) Int(name string) (int, error) {
	v, ok := r.Status[name]
	if !ok {
		return 0, fmt.Errorf("childreport: no status field %s", name)
	}
	return strconv.Atoi(v)
}

// Octal returns an octal status field (Umask).
func (r *Report) Octal(name string) (int, error) {
	v, ok := r.Status[name]
	if !ok {
		return 0, fmt.Errorf("childreport: no status field %s", name)
	}
	n, err := strconv.ParseInt(v, 8, 32)
	return int(n), err
}

// IDs returns the real, effective, saved and filesystem ids of the status
// field "Uid" or "Gid".
func (r *Report) IDs(name string) ([4]int, error) {
	var ids [4]int
	v, ok := r.Status[name]
	if !ok {
		return ids, fmt.Errorf("childreport: no status field %s", name)
	}
	f := strings.Fields(v)
	if len(f) != 4 {
		return ids, fmt.Errorf("childreport: status %s = %q: want 4 ids", name, v)
	}
	for i := range f {
		n, err := strconv.Atoi(f[i])
		if err != nil {
			return ids, fmt.Errorf("childreport: status %s: %w", name, err)
		}
		ids[i] = n
	}
	return ids, nil
}

// Unescape undoes childreport's %XX escaping of one field.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("childreport: truncated escape in %q", s)
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("childreport: bad escape in %q", s)
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

// ErrIncomplete is returned for a report without its final "end" line.
var ErrIncomplete = errors.New("childreport: report has no end line (child died or wrote elsewhere?)")

// Parse reads a report.
func Parse(r io.Reader) (*Report, error) {
	rep := &Report{Status: map[string]string{}, Rlimits: map[int]unix.Rlimit{}, Pid: -1, PPid: -1, Pdeathsig: -1, Sched: Sched{Policy: -1}, Session: Session{Sid: -1, Foreground: -1}}
	argc, envc := -1, -1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 8<<20)
	ended := false
	for n := 1; sc.Scan(); n++ {
		if ended {
			return nil, fmt.Errorf("childreport: line %d after end", n)
		}
		raw := strings.Split(sc.Text(), " ")
		f := make([]string, len(raw))
		for i, s := range raw {
			u, err := Unescape(s)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			f[i] = u
		}
		if err := rep.parseLine(f, &argc, &envc); err != nil {
			return nil, fmt.Errorf("childreport: line %d %q: %w", n, sc.Text(), err)
		}
		ended = f[0] == "end"
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("childreport: reading: %w", err)
	}
	if !ended {
		return nil, ErrIncomplete
	}
	if argc != len(rep.Argv) {
		return nil, fmt.Errorf("childreport: argc %d but %d argv lines", argc, len(rep.Argv))
	}
	if envc != len(rep.Env) {
		return nil, fmt.Errorf("childreport: envc %d but %d env lines", envc, len(rep.Env))
	}
	return rep, nil
}

func nargs(f []string, n int) error {
	if len(f) != n {
		return fmt.Errorf("%d fields, want %d", len(f), n)
	}
	return nil
}

// index parses the index of an argv/env line, which must come in order.
func index(s string, next int) error {
	i, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if i != next {
		return fmt.Errorf("index %d, want %d", i, next)
	}
	return nil
}

func (rep *Report) parseLine(f []string, argc, envc *int) error {
	var err error
	switch f[0] {
	case "pid", "ppid", "argc", "envc", "pdeathsig":
		if err := nargs(f, 2); err != nil {
			return err
		}
		dst := map[string]*int{"pid": &rep.Pid, "ppid": &rep.PPid, "argc": argc, "envc": envc, "pdeathsig": &rep.Pdeathsig}[f[0]]
		*dst, err = strconv.Atoi(f[1])
		return err
	case "argv":
		if err := nargs(f, 3); err != nil {
			return err
		}
		if err := index(f[1], len(rep.Argv)); err != nil {
			return err
		}
		rep.Argv = append(rep.Argv, f[2])
	case "env":
		if err := nargs(f, 3); err != nil {
			return err
		}
		if err := index(f[1], len(rep.Env)); err != nil {
			return err
		}
		rep.Env = append(rep.Env, f[2])
	case "fd":
		if err := nargs(f, 5); err != nil {
			return err
		}
		var fd FD
		if fd.Num, err = strconv.Atoi(f[1]); err != nil {
			return err
		}
		if k := len(rep.FDs); k > 0 && rep.FDs[k-1].Num >= fd.Num {
			return fmt.Errorf("fd %d after fd %d", fd.Num, rep.FDs[k-1].Num)
		}
		fd.Target = f[2]
		switch f[3] {
		case "cloexec=0":
		case "cloexec=1":
			fd.Cloexec = true
		default:
			return fmt.Errorf("bad cloexec field %q", f[3])
		}
		v, ok := strings.CutPrefix(f[4], "flags=0x")
		if !ok {
			return fmt.Errorf("bad flags field %q", f[4])
		}
		fl, err := strconv.ParseInt(v, 16, 64)
		if err != nil {
			return err
		}
		fd.Flags = int(fl)
		rep.FDs = append(rep.FDs, fd)
	case "cwd":
		if err := nargs(f, 2); err != nil {
			return err
		}
		rep.Cwd = f[1]
	case "cgroup":
		if err := nargs(f, 2); err != nil {
			return err
		}
		rep.Cgroup = f[1]
	case "status":
		if err := nargs(f, 3); err != nil {
			return err
		}
		rep.Status[f[1]] = f[2]
	case "rlimit":
		if err := nargs(f, 4); err != nil {
			return err
		}
		r, err := strconv.Atoi(f[1])
		if err != nil {
			return err
		}
		var l unix.Rlimit
		if l.Cur, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			return err
		}
		if l.Max, err = strconv.ParseUint(f[3], 10, 64); err != nil {
			return err
		}
		rep.Rlimits[r] = l
	case "sched":
		if err := nargs(f, 4); err != nil {
			return err
		}
		for i, dst := range []*int{&rep.Sched.Policy, &rep.Sched.Priority, &rep.Sched.Nice} {
			if *dst, err = strconv.Atoi(f[i+1]); err != nil {
				return err
			}
		}
	case "session":
		if err := nargs(f, 5); err != nil {
			return err
		}
		var errno int
		for i, dst := range []*int{&rep.Session.Sid, &rep.Session.Pgrp, &errno, &rep.Session.Foreground} {
			if *dst, err = strconv.Atoi(f[i+1]); err != nil {
				return err
			}
		}
		rep.Session.TTYErrno = unix.Errno(errno)
	case "auxv":
		if err := nargs(f, 3); err != nil {
			return err
		}
		if f[1] != "AT_SECURE" {
			return nil // another auxv entry: not ours to know
		}
		rep.ATSecure, err = strconv.ParseUint(f[2], 10, 64)
		return err
	case "end":
		return nargs(f, 1)
	default:
		// A newer childreport may report more; older parsers skip it.
	}
	return nil
}

// String renders the report for a test log, one field per line.
func (rep *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d ppid %d\n", rep.Pid, rep.PPid)
	for i, a := range rep.Argv {
		fmt.Fprintf(&b, "argv[%d] %q\n", i, a)
	}
	for i, e := range rep.Env {
		fmt.Fprintf(&b, "env[%d] %q\n", i, e)
	}
	for _, f := range rep.FDs {
		fmt.Fprintf(&b, "fd %d -> %s cloexec=%v flags=%#x\n", f.Num, f.Target, f.Cloexec, f.Flags)
	}
	fmt.Fprintf(&b, "cwd %q\n", rep.Cwd)
	for _, k := range []string{"Uid", "Gid", "CapEff", "SigBlk", "SigIgn", "SigPnd", "ShdPnd", "NoNewPrivs", "Seccomp", "Umask"} {
		if v, ok := rep.Status[k]; ok {
			fmt.Fprintf(&b, "%s %q\n", k, v)
		}
	}
	fmt.Fprintf(&b, "AT_SECURE %d\n", rep.ATSecure)
	fmt.Fprintf(&b, "pdeathsig %d\n", rep.Pdeathsig)
	fmt.Fprintf(&b, "sched %+v\n", rep.Sched)
	fmt.Fprintf(&b, "cgroup %q\n", rep.Cgroup)
	fmt.Fprintf(&b, "session %+v\n", rep.Session)
	return b.String()
}
