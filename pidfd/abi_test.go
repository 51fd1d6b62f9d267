package pidfd

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The numbers and layouts are checked against the built kernel's headers
// by internal/abicheck before each VM run, and against the C copy by its
// host test; these are the properties no header states.
func TestConstants(t *testing.T) {
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
