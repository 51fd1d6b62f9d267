package childreport

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const sample = `pid 42
ppid 1
argc 3
argv 0 /bin/childreport
argv 1 sp%20ace
argv 2 
envc 2
env 0 A=b%25c
env 1 N=%0A
fd 0 /dev/null cloexec=0 flags=0x8000
fd 5 pipe:[123] cloexec=1 flags=0x1
cwd /tmp/a%20b
status Umask 0022
status Uid 65534%090%090%090
status Groups 
status SigBlk 0000000000004001
status NoNewPrivs 1
status Seccomp 2
auxv AT_SECURE 1
pdeathsig 10
sched 1 10 -3
cgroup /a%20b/c
session 42 40 6 -1
future stuff
end
`

func TestParse(t *testing.T) {
	rep, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pid != 42 || rep.PPid != 1 {
		t.Errorf("pid %d ppid %d", rep.Pid, rep.PPid)
	}
	if want := []string{"/bin/childreport", "sp ace", ""}; !reflect.DeepEqual(rep.Argv, want) {
		t.Errorf("argv %q, want %q", rep.Argv, want)
	}
	if want := []string{"A=b%c", "N=\n"}; !reflect.DeepEqual(rep.Env, want) {
		t.Errorf("env %q, want %q", rep.Env, want)
	}
	want := []FD{{0, "/dev/null", false, 0x8000}, {5, "pipe:[123]", true, 1}}
	if !reflect.DeepEqual(rep.FDs, want) {
		t.Errorf("fds %+v, want %+v", rep.FDs, want)
	}
	if f, ok := rep.FD(5); !ok || !f.Cloexec {
		t.Errorf("FD(5) = %+v, %v", f, ok)
	}
	if _, ok := rep.FD(1); ok {
		t.Errorf("FD(1) found")
	}
	if rep.Cwd != "/tmp/a b" {
		t.Errorf("cwd %q", rep.Cwd)
	}
	if rep.Pdeathsig != 10 {
		t.Errorf("pdeathsig %d, want 10", rep.Pdeathsig)
	}
	if want := (Sched{Policy: 1, Priority: 10, Nice: -3}); rep.Sched != want {
		t.Errorf("sched %+v, want %+v", rep.Sched, want)
	}
	if rep.Cgroup != "/a b/c" {
		t.Errorf("cgroup %q, want %q", rep.Cgroup, "/a b/c")
	}
	if want := (Session{Sid: 42, Pgrp: 40, TTYErrno: unix.ENXIO, Foreground: -1}); rep.Session != want {
		t.Errorf("session %+v, want %+v", rep.Session, want)
	}
	if ids, err := rep.IDs("Uid"); err != nil || ids != [4]int{65534, 0, 0, 0} {
		t.Errorf("Uid %v %v", ids, err)
	}
	if v, err := rep.Hex("SigBlk"); err != nil || v != 0x4001 {
		t.Errorf("SigBlk %#x %v", v, err)
	}
	if v, err := rep.Int("Seccomp"); err != nil || v != 2 {
		t.Errorf("Seccomp %d %v", v, err)
	}
	if v, err := rep.Octal("Umask"); err != nil || v != 0o22 {
		t.Errorf("Umask %o %v", v, err)
	}
	if _, err := rep.Hex("SigIgn"); err == nil {
		t.Errorf("Hex of a missing field: no error")
	}
	if rep.Status["Groups"] != "" {
		t.Errorf("Groups %q", rep.Status["Groups"])
	}
	if rep.ATSecure != 1 {
		t.Errorf("AT_SECURE %d", rep.ATSecure)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"no end", "pid 1\nargc 0\nenvc 0\n"},
		{"after end", "argc 0\nenvc 0\nend\npid 1\n"},
		{"argc mismatch", "argc 2\nargv 0 a\nenvc 0\nend\n"},
		{"argv out of order", "argc 2\nargv 1 a\nargv 0 b\nenvc 0\nend\n"},
		{"bad escape", "argc 1\nargv 0 a%zz\nenvc 0\nend\n"},
		{"short escape", "argc 1\nargv 0 a%2\nenvc 0\nend\n"},
		{"fds unordered", "argc 0\nenvc 0\nfd 3 x cloexec=0 flags=0x0\nfd 1 y cloexec=0 flags=0x0\nend\n"},
		{"bad cloexec", "argc 0\nenvc 0\nfd 3 x cloexec=2 flags=0x0\nend\n"},
		{"bad pid", "pid x\nargc 0\nenvc 0\nend\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rep, err := Parse(strings.NewReader(tc.in)); err == nil {
				t.Errorf("parsed %q without error: %+v", tc.in, rep)
			}
		})
	}
	if _, err := Parse(strings.NewReader("argc 0\nenvc 0\n")); !errors.Is(err, ErrIncomplete) {
		t.Errorf("truncated report: %v, want ErrIncomplete", err)
	}
}

// TestProgram builds childreport.c as vmtest does and checks that its report
// parses and says what this process gave it.
func TestProgram(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("no gcc on this host (%v): the C reporter is checked where it is built, in vmtest", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "childreport")
	if out, err := exec.Command(gcc, "-static", "-O2", "-Wall", "-Werror", "-o", bin, "../../childreport/childreport.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	outFile := filepath.Join(dir, "report")

	cmd := exec.Command(bin, "a b", "%", "exit", "3")
	cmd.Env = []string{EnvOutFile + "=" + outFile, "X=1"}
	cmd.Dir = dir
	cmd.Stdin = devnull
	cmd.ExtraFiles = []*os.File{nil, nil, devnull} // fd 5
	err = cmd.Run()
	if err != nil {
		t.Fatalf("childreport: %v", err)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if want := []string{bin, "a b", "%", "exit", "3"}; !reflect.DeepEqual(rep.Argv, want) {
		t.Errorf("argv %q, want %q", rep.Argv, want)
	}
	if want := cmd.Env; !reflect.DeepEqual(rep.Env, want) {
		t.Errorf("env %q, want %q", rep.Env, want)
	}
	if rep.Cwd != dir {
		t.Errorf("cwd %q, want %q", rep.Cwd, dir)
	}
	if rep.PPid != os.Getpid() {
		t.Errorf("ppid %d, want %d", rep.PPid, os.Getpid())
	}
	// The output file is opened after the fd scan: it is not listed.
	for _, f := range rep.FDs {
		if f.Target == outFile {
			t.Errorf("the report lists its own output file: %+v", f)
		}
	}
	for _, n := range []int{0, 5} {
		if f, ok := rep.FD(n); !ok || f.Target != os.DevNull || f.Cloexec {
			t.Errorf("fd %d: %+v %v, want %s without cloexec", n, f, ok, os.DevNull)
		}
	}
	// Every limit, as getrlimit gives it to the Go program that started
	// it: os/exec gives the child the soft RLIMIT_NOFILE Go started with,
	// so that one is only compared for its hard limit.
	for r := 0; r < 16; r++ {
		var want unix.Rlimit
		if err := unix.Getrlimit(r, &want); err != nil {
			t.Fatal(err)
		}
		got, ok := rep.Rlimits[r]
		if r == unix.RLIMIT_NOFILE {
			want.Cur = got.Cur
		}
		if !ok || got != want {
			t.Errorf("rlimit %d: %+v (reported %v), want %+v", r, got, ok, want)
		}
	}
	for _, k := range []string{"SigBlk", "SigIgn", "SigPnd", "ShdPnd", "CapEff"} {
		if _, err := rep.Hex(k); err != nil {
			t.Error(err)
		}
	}
	for _, k := range []string{"NoNewPrivs", "Seccomp"} {
		if _, err := rep.Int(k); err != nil {
			t.Error(err)
		}
	}
	if ids, err := rep.IDs("Uid"); err != nil || ids[0] != os.Getuid() {
		t.Errorf("Uid %v %v, want real uid %d", ids, err, os.Getuid())
	}

	// "exit N" and no CHILDREPORT_OUT: the report goes to stdout.
	cmd = exec.Command(bin, "exit", "7")
	cmd.Env = []string{}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("childreport exit 7: %v", err)
	}
	if rep, err := Parse(&stdout); err != nil {
		t.Errorf("report on stdout: %v", err)
	} else if len(rep.Env) != 0 {
		t.Errorf("env %q, want none", rep.Env)
	}

	// "read N": the report ends (stdout closes) while the child waits
	// for its stdin to close, then it exits N.
	cmd = exec.Command(bin, "read", "9")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Parse(out)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("report in read mode: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("read mode: stdout still open after the report")
	}
	stdin.Close()
	err = cmd.Wait()
	if !errors.As(err, &ee) || ee.ExitCode() != 9 {
		t.Errorf("childreport read 9: %v, want exit status 9", err)
	}
}
