package security

// v2 review finding 6: copy_thread() copied the creator's user registers
// into the embryo (orig_ax was the creator's pidfd_open), so a child whose
// exec failed past its point of no return dumped core with its creator's
// registers. An embryo's user registers are its own: zero until exec sets
// them.

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type ponrCoreArg struct {
	Dir string // the embryo's cwd, where its core lands
}

// helperPONRCore spawns bigdata-static under a small RLIMIT_DATA, with
// core dumps allowed and its cwd in arg.Dir, and reaps it.
func helperPONRCore(raw json.RawMessage) (any, error) {
	var arg ponrCoreArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &inf); err != nil {
		return nil, fmt.Errorf("setrlimit(RLIMIT_CORE): %v", err)
	}
	fd, err := embryoWithDataLimit(dataLimit)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, bigdataPath, []string{bigdataPath}); err != nil {
		return nil, err
	}
	if err := pidfd.ConfigCwd(fd, unix.AT_FDCWD, arg.Dir, 0); err != nil {
		return nil, fmt.Errorf("PIDFD_CONFIG_CWD: %s", embryo.Name(err))
	}
	if _, err := pidfd.SpawnRun(fd, 0); err != nil {
		return nil, fmt.Errorf("pidfd_spawn_run: %s", embryo.Name(err))
	}
	return embryo.WaitExit(fd, embryo.Timeout)
}

// x86-64's struct user_regs_struct, as NT_PRSTATUS carries it.
var x86Regs = []string{
	"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
	"rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
	"rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
}

// prstatusRegsOffset is where pr_reg starts in x86-64's struct
// elf_prstatus: after elf_siginfo (12), pr_cursig (2, padded to 16),
// pr_sigpend and pr_sighold (16), pid, ppid, pgrp and sid (16), and four
// struct timevals (64).
const prstatusRegsOffset = 112

// coreRegisters reads the registers of the first NT_PRSTATUS note of an
// x86-64 core file.
func coreRegisters(path string) (map[string]uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes := make([]byte, p.Filesz)
		if _, err := p.ReadAt(notes, 0); err != nil {
			return nil, fmt.Errorf("reading the notes: %v", err)
		}
		for len(notes) >= 12 {
			namesz := binary.LittleEndian.Uint32(notes[0:])
			descsz := binary.LittleEndian.Uint32(notes[4:])
			typ := binary.LittleEndian.Uint32(notes[8:])
			off := 12 + int(namesz+3)&^3
			end := off + int(descsz+3)&^3
			if end > len(notes) {
				break
			}
			if typ == uint32(elf.NT_PRSTATUS) {
				desc := notes[off : off+int(descsz)]
				if len(desc) < prstatusRegsOffset+8*len(x86Regs) {
					return nil, fmt.Errorf("NT_PRSTATUS of %d bytes", len(desc))
				}
				regs := map[string]uint64{}
				r := bytes.NewReader(desc[prstatusRegsOffset:])
				for _, name := range x86Regs {
					var v uint64
					binary.Read(r, binary.LittleEndian, &v)
					regs[name] = v
				}
				return regs, nil
			}
			notes = notes[end:]
		}
	}
	return nil, fmt.Errorf("no NT_PRSTATUS note in %s", path)
}

// TestPONRCoreHasNoCreatorRegisters: a child whose exec fails past its
// point of no return dumps core with registers that are all zero, the
// state no exec has set yet; none of them is its creator's (the creator's
// orig_rax was pidfd_open, 434, its rip an address in the creator).
func TestPONRCoreHasNoCreatorRegisters(t *testing.T) {
	embryo.Require(t)
	requireBigdata(t)
	if runtime.GOARCH != "amd64" {
		t.Fatalf("the register layout is x86-64's; this test runs on x86-64 only")
	}
	const patternFile = "/proc/sys/kernel/core_pattern"
	old, err := os.ReadFile(patternFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(patternFile, []byte("core"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(patternFile, bytes.TrimSpace(old), 0) })
	dir := sharedTempDir(t, "emptypidfd-core-")

	var ex pidfd.Exit
	helper.New(t, "ponrcore", ponrCoreArg{Dir: dir}).Result(&ex)
	if ex.Code != pidfd.CLD_DUMPED || ex.Status != int(unix.SIGSEGV) {
		t.Fatalf("child: %v, want killed by SIGSEGV with a core dump", ex)
	}
	regs, err := coreRegisters(filepath.Join(dir, "core"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range x86Regs {
		if v := regs[name]; v != 0 {
			t.Errorf("%s = %#x in the core, want 0 (nothing has set it: it can only be the creator's)", name, v)
		}
	}
}
