package lifecycle

// pidfd_spawn_run: it starts an embryo once, only an embryo, only with an
// EXEC; an exec that fails, early or late, leaves the embryo unstarted with
// its configuration, so the same fd can try another path.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

func TestRunTwice(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	in, inW := embryo.InputPipe(t)
	out := embryo.Config(t, fd, []string{"read"}, nil)
	if err := pidfd.ConfigFDDup(fd, int(in.Fd()), 0, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.Run(t, fd)
	_, err := pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "second pidfd_spawn_run while the child runs", err, unix.EBUSY)
	embryo.Check(t, "pidfd_config while the child runs", pidfd.ConfigSignals(fd, 0, 0), unix.EBUSY)
	inW.Close()
	embryo.Report(t, out)
	embryo.Wait(t, fd)
	_, err = pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "pidfd_spawn_run after the child was reaped", err, unix.EBUSY)
	embryo.Check(t, "pidfd_config after the child was reaped", pidfd.ConfigSignals(fd, 0, 0), unix.EBUSY)
}

func TestRunOnPlainPidfd(t *testing.T) {
	embryo.Require(t)
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	_, kid, err := embryo.ForkExec(childreport.TruePath, []string{"true-static"}, nil, nil)
	if err != nil {
		t.Fatalf("fork+exec with CLONE_PIDFD: %v", err)
	}
	defer unix.Close(kid)
	for _, tc := range []struct {
		name string
		fd   int
	}{{"pidfd_open(getpid(), 0)", self}, {"CLONE_PIDFD child", kid}} {
		_, err := pidfd.SpawnRun(tc.fd, 0)
		embryo.Check(t, "pidfd_spawn_run on "+tc.name, err, unix.EINVAL)
		embryo.Check(t, "pidfd_config on "+tc.name, pidfd.ConfigExec(tc.fd, unix.AT_FDCWD, childreport.Path, 0), unix.EINVAL)
	}
	if ex := embryo.Wait(t, kid); !ex.Exited(0) {
		t.Errorf("the CLONE_PIDFD child: %v, want exit 0", ex)
	}
}

func TestRunWithoutExec(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	if err := pidfd.ConfigArgv(fd, []string{childreport.Path, "exit", "6"}); err != nil {
		t.Fatal(embryo.Name(err))
	}
	out := embryo.StdoutPipe(t, fd)
	_, err := pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "pidfd_spawn_run without EXEC", err, unix.EINVAL)
	if !embryo.IsEmbryo(t, fd) {
		t.Fatalf("not an unstarted embryo any more after a failed run")
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	embryo.RunToExit(t, fd, out, 6)
}

// TestExecFailureRetry: a failed exec leaves the embryo unstarted with its
// configuration, so the same fd can try another path (posix_spawnp).
func TestExecFailureRetry(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "4"}, []string{"K=v"})
	for _, tc := range []struct {
		path string
		want unix.Errno
	}{
		{"/nonexistent/childreport", unix.ENOENT},
		{"/bin/nonexistent", unix.ENOENT},
		{"/", unix.EACCES},
		{"/proc/version", unix.EACCES},
	} {
		if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, tc.path, 0); err != nil {
			t.Fatalf("EXEC %s: %s", tc.path, embryo.Name(err))
		}
		_, err := pidfd.SpawnRun(fd, 0)
		embryo.Check(t, "pidfd_spawn_run of "+tc.path, err, tc.want)
		if !embryo.IsEmbryo(t, fd) {
			t.Fatalf("after the failed run of %s the fd is no unstarted embryo: %v", tc.path, embryo.Fdinfo(t, fd))
		}
		embryo.Check(t, "pidfd_send_signal(0) after a failed run", unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH)
	}
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
		t.Fatal(embryo.Name(err))
	}
	pid := embryo.Run(t, fd)
	rep := embryo.Report(t, out)
	if ex := embryo.Wait(t, fd); !ex.Exited(4) || ex.Pid != pid {
		t.Errorf("child: %v, want pid %d exit 4", ex, pid)
	}
	if len(rep.Env) != 1 || rep.Env[0] != "K=v" || len(rep.Argv) != 3 {
		t.Errorf("configuration lost across failed runs: argv %q env %q", rep.Argv, rep.Env)
	}
}

// elfExecutable builds a minimal x86-64-style ELF executable for machine with,
// if interp is not "", a PT_INTERP naming interp. The kernel reads the
// program headers and opens the interpreter before anything else of the
// file matters.
func elfExecutable(machine elf.Machine, interp string) []byte {
	const (
		base  = 0x400000
		ehsz  = 64
		phsz  = 56
		nphdr = 2
	)
	interpOff := uint64(ehsz + nphdr*phsz)
	total := interpOff + uint64(len(interp)) + 1
	var buf bytes.Buffer
	hdr := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(machine),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     base + interpOff,
		Phoff:     ehsz,
		Ehsize:    ehsz,
		Phentsize: phsz,
		Phnum:     nphdr,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	binary.Write(&buf, binary.LittleEndian, hdr)
	first := elf.Prog64{Type: uint32(elf.PT_NULL)}
	if interp != "" {
		first = elf.Prog64{
			Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R),
			Off: interpOff, Vaddr: base + interpOff, Paddr: base + interpOff,
			Filesz: uint64(len(interp)) + 1, Memsz: uint64(len(interp)) + 1, Align: 1,
		}
	}
	binary.Write(&buf, binary.LittleEndian, first)
	binary.Write(&buf, binary.LittleEndian, elf.Prog64{
		Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X),
		Off: 0, Vaddr: base, Paddr: base, Filesz: total, Memsz: total, Align: 0x1000,
	})
	buf.WriteString(interp)
	buf.WriteByte(0)
	return buf.Bytes()
}

// TestExecLateFailureRetry (DESIGN.md section 3: on failure run returns
// the exec's errno and the embryo stays unstarted and configurable). The
// failures TestExecFailureRetry covers are found while resolving the path;
// these come later, from the binary handlers, after exec has opened the
// file and built its argument pages, and for a #! script after it has
// rewritten them: ENOEXEC for garbage, for an ELF of another machine and
// for a script whose interpreter is garbage; ENOENT for an ELF whose
// PT_INTERP names a missing file; ELOOP for a symlink loop and for #!
// scripts nested deeper than exec follows. fork+execve of each fixture is
// the reference that it fails that way. Each failure is tried twice on the
// same embryo, which must then still be an embryo and run childreport with
// its configured argv, envp and descriptors intact.
func TestExecLateFailureRetry(t *testing.T) {
	embryo.Require(t)
	dir := tmpfsDir(t)
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbage := write("garbage", []byte("garbage\x00\x01\x02\x03 no executable format\n"))
	loopA, loopB := filepath.Join(dir, "loop-a"), filepath.Join(dir, "loop-b")
	for _, l := range [][2]string{{loopB, loopA}, {loopA, loopB}} {
		if err := os.Symlink(l[0], l[1]); err != nil {
			t.Fatal(err)
		}
	}
	// exec follows a #! interpreter 5 times (exec_binprm's depth limit):
	// nest1 -> ... -> nest6 -> childreport is one too many.
	nested := childreport.Path
	for i := 6; i >= 1; i-- {
		nested = write(fmt.Sprintf("nest%d", i), []byte("#!"+nested+"\n"))
	}
	argv := []string{childreport.Path, "exit", "7"}
	env := []string{"K=v"}
	for _, tc := range []struct {
		name, path string
		want       unix.Errno
	}{
		{"garbage", garbage, unix.ENOEXEC},
		{"ELF for another machine", write("other-machine", elfExecutable(elf.EM_AARCH64, "")), unix.ENOEXEC},
		{"#! interpreter is garbage", write("script-garbage", []byte("#!"+garbage+"\n")), unix.ENOEXEC},
		{"ELF with a missing interpreter", write("missing-interp", elfExecutable(elf.EM_X86_64, "/nonexistent/ld-emptypidfd.so.1")), unix.ENOENT},
		{"symlink loop", loopA, unix.ELOOP},
		{"#! nested too deep", nested, unix.ELOOP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := embryo.ForkExec(tc.path, argv, env, nil); embryo.Errno(err) != tc.want {
				t.Fatalf("fork+execve of %s: %s, want %s: the fixture does not fail as the case needs", tc.path, embryo.Name(err), embryo.ErrnoName(tc.want))
			}
			fd := embryo.New(t)
			out := embryo.Config(t, fd, argv[1:], env)
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, tc.path, 0); err != nil {
				t.Fatalf("EXEC %s: %s", tc.path, embryo.Name(err))
			}
			for i := 1; i <= 2; i++ {
				_, err := pidfd.SpawnRun(fd, 0)
				embryo.Check(t, fmt.Sprintf("pidfd_spawn_run #%d of %s", i, tc.path), err, tc.want)
				if !embryo.IsEmbryo(t, fd) {
					t.Fatalf("after failed run #%d the fd is no unstarted embryo: %v", i, embryo.Fdinfo(t, fd))
				}
				embryo.Check(t, "pidfd_send_signal(0) after a failed run", unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH)
			}
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.Path, 0); err != nil {
				t.Fatalf("EXEC %s after the failures: %s", childreport.Path, embryo.Name(err))
			}
			pid := embryo.Run(t, fd)
			rep := embryo.Report(t, out)
			if ex := embryo.Wait(t, fd); !ex.Exited(7) || ex.Pid != pid {
				t.Errorf("the child after the failed runs: %v, want pid %d exit 7", ex, pid)
			}
			if !reflect.DeepEqual(rep.Argv, argv) || !reflect.DeepEqual(rep.Env, env) {
				t.Errorf("after the failed runs the child has argv %q env %q, want %q %q (a failed exec changed the configuration)", rep.Argv, rep.Env, argv, env)
			}
			if nums := rep.FDNums(); !reflect.DeepEqual(nums, []int{1}) {
				t.Errorf("after the failed runs the child has descriptors %v, want [1]", nums)
			}
		})
	}
}
