package pidfd

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Go structs must match the uapi ones byte for byte (include/uapi/linux/pidfd.h in kernel/patches/).
func TestStructLayout(t *testing.T) {
	type field struct {
		name      string
		off, size uintptr
		wantOff   uintptr
		wantSize  uintptr
	}
	var (
		e ExecArg
		s StringsArg
		f FDArg
		c CwdArg
		g SignalsArg
	)
	for _, tc := range []struct {
		name     string
		size     uintptr
		wantSize uintptr
		fields   []field
	}{
		{"pidfd_exec", unsafe.Sizeof(e), PIDFD_EXEC_SIZE_VER0, []field{
			{"path", unsafe.Offsetof(e.Path), unsafe.Sizeof(e.Path), 0, 8},
			{"dirfd", unsafe.Offsetof(e.Dirfd), unsafe.Sizeof(e.Dirfd), 8, 4},
			{"flags", unsafe.Offsetof(e.Flags), unsafe.Sizeof(e.Flags), 12, 4},
		}},
		{"pidfd_strings", unsafe.Sizeof(s), PIDFD_STRINGS_SIZE_VER0, []field{
			{"strings", unsafe.Offsetof(s.Strings), unsafe.Sizeof(s.Strings), 0, 8},
		}},
		{"pidfd_fd", unsafe.Sizeof(f), PIDFD_FD_SIZE_VER0, []field{
			{"action", unsafe.Offsetof(f.Action), unsafe.Sizeof(f.Action), 0, 4},
			{"flags", unsafe.Offsetof(f.Flags), unsafe.Sizeof(f.Flags), 4, 4},
			{"src_fd", unsafe.Offsetof(f.SrcFd), unsafe.Sizeof(f.SrcFd), 8, 4},
			{"fd", unsafe.Offsetof(f.Fd), unsafe.Sizeof(f.Fd), 12, 4},
			{"max_fd", unsafe.Offsetof(f.MaxFd), unsafe.Sizeof(f.MaxFd), 16, 4},
			{"__spare", unsafe.Offsetof(f.Spare), unsafe.Sizeof(f.Spare), 20, 4},
			{"path", unsafe.Offsetof(f.Path), unsafe.Sizeof(f.Path), 24, 8},
			{"how", unsafe.Offsetof(f.How), unsafe.Sizeof(f.How), 32, 8},
			{"how_size", unsafe.Offsetof(f.HowSize), unsafe.Sizeof(f.HowSize), 40, 8},
		}},
		{"pidfd_cwd", unsafe.Sizeof(c), PIDFD_CWD_SIZE_VER0, []field{
			{"path", unsafe.Offsetof(c.Path), unsafe.Sizeof(c.Path), 0, 8},
			{"dirfd", unsafe.Offsetof(c.Dirfd), unsafe.Sizeof(c.Dirfd), 8, 4},
			{"flags", unsafe.Offsetof(c.Flags), unsafe.Sizeof(c.Flags), 12, 4},
		}},
		{"pidfd_signals", unsafe.Sizeof(g), PIDFD_SIGNALS_SIZE_VER0, []field{
			{"blocked", unsafe.Offsetof(g.Blocked), unsafe.Sizeof(g.Blocked), 0, 8},
			{"ignored", unsafe.Offsetof(g.Ignored), unsafe.Sizeof(g.Ignored), 8, 8},
		}},
		{"open_how", unsafe.Sizeof(unix.OpenHow{}), 24, nil},
	} {
		if tc.size != tc.wantSize {
			t.Errorf("sizeof(struct %s) = %d, want %d", tc.name, tc.size, tc.wantSize)
		}
		for _, f := range tc.fields {
			if f.off != f.wantOff || f.size != f.wantSize {
				t.Errorf("struct %s.%s at %d size %d, want at %d size %d", tc.name, f.name, f.off, f.size, f.wantOff, f.wantSize)
			}
		}
	}
}

func TestConstants(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"SYS_PIDFD_CONFIG", SYS_PIDFD_CONFIG, 463},
		{"SYS_PIDFD_SPAWN_RUN", SYS_PIDFD_SPAWN_RUN, 464},
		{"PIDFD_EMPTY", PIDFD_EMPTY, 0o100},
		{"PIDFD_THREAD", PIDFD_THREAD, 0o200},
		{"PIDFD_NONBLOCK", PIDFD_NONBLOCK, 0o4000},
		{"PIDFD_CONFIG_EXEC", PIDFD_CONFIG_EXEC, 1},
		{"PIDFD_CONFIG_ARGV", PIDFD_CONFIG_ARGV, 2},
		{"PIDFD_CONFIG_ENVP", PIDFD_CONFIG_ENVP, 3},
		{"PIDFD_CONFIG_FD", PIDFD_CONFIG_FD, 4},
		{"PIDFD_CONFIG_CWD", PIDFD_CONFIG_CWD, 5},
		{"PIDFD_CONFIG_SIGNALS", PIDFD_CONFIG_SIGNALS, 6},
		{"PIDFD_FD_DUP", PIDFD_FD_DUP, 1},
		{"PIDFD_FD_CLOSE", PIDFD_FD_CLOSE, 2},
		{"PIDFD_FD_CLOSE_RANGE", PIDFD_FD_CLOSE_RANGE, 3},
		{"PIDFD_FD_OPEN", PIDFD_FD_OPEN, 4},
		{"PIDFD_FD_INHERIT", PIDFD_FD_INHERIT, 5},
		{"PIDFD_FD_CLOEXEC", PIDFD_FD_CLOEXEC, 1},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
	// PIDFD_EMPTY must collide with no other pidfd_open flag, here or in
	// mainline (PIDFD_AUTOKILL is O_TRUNC there).
	for _, other := range []int{PIDFD_NONBLOCK, PIDFD_THREAD, unix.O_TRUNC} {
		if PIDFD_EMPTY&other != 0 {
			t.Errorf("PIDFD_EMPTY %#x overlaps %#x", PIDFD_EMPTY, other)
		}
	}
	if got := SigBit(unix.SIGKILL); got != 1<<8 {
		t.Errorf("SigBit(SIGKILL) = %#x, want bit 8", got)
	}
	if got := SigBit(unix.SIGHUP); got != 1 {
		t.Errorf("SigBit(SIGHUP) = %#x, want 1", got)
	}
}

func TestCvector(t *testing.T) {
	v, err := cvector(nil)
	if err != nil || v != nil {
		t.Errorf("cvector(nil) = %v, %v; want nil (the empty vector)", v, err)
	}
	v, err = cvector([]string{})
	if err != nil || len(v) != 1 || v[0] != nil {
		t.Errorf("cvector({}) = %v, %v; want [NULL]", v, err)
	}
	v, err = cvector([]string{"ab", ""})
	if err != nil || len(v) != 3 || v[2] != nil {
		t.Fatalf("cvector: %v, %v", v, err)
	}
	if got := unix.BytePtrToString(v[0]); got != "ab" {
		t.Errorf("v[0] = %q", got)
	}
	if got := unix.BytePtrToString(v[1]); got != "" {
		t.Errorf("v[1] = %q", got)
	}
	if _, err := cvector([]string{"a\x00b"}); err != unix.EINVAL {
		t.Errorf("string with NUL: %v, want EINVAL", err)
	}
}

// The typed helpers reject what cannot be a C string before any system call.
func TestHelpersRejectNUL(t *testing.T) {
	for name, err := range map[string]error{
		"ConfigExec": ConfigExec(-1, unix.AT_FDCWD, "a\x00", 0),
		"ConfigArgv": ConfigArgv(-1, []string{"a\x00"}),
		"ConfigEnvp": ConfigEnvp(-1, []string{"a\x00"}),
		"FDOpen":     FDOpen(-1, unix.AT_FDCWD, "a\x00", &unix.OpenHow{}, 0),
		"Cwd":        Cwd(-1, unix.AT_FDCWD, "a\x00", 0),
	} {
		if err != unix.EINVAL {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
}
