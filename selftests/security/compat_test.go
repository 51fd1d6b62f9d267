package security

// v1 findings A12 (the x86 I/O bitmap) and A13 (32-bit callers): fork
// hooks and ABIs an embryo must handle like a forked child.

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// Guest paths of selftests/childreport/compat32.c and probe.c (vmtest
// builds them into the initramfs).
const (
	compat32Path = "/bin/compat32-static"
	probePath    = "/bin/probe-static"
)

func runHelperProgram(t *testing.T, path string, args ...string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v (vmtest builds the C helpers of selftests/childreport into the initramfs)", err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v, output %q", path, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestCompat32 (v1 finding A13): an i386 program spawns through an empty
// pidfd with the i386 system calls. Its ARGV and ENVP (32-bit pointer
// vectors, with an empty string, spaces and UTF-8) arrive intact, and its
// seccomp filters judge the embryo's exec with the i386 audit arch and
// system call numbers: a filter that denies i386 execve (11) or execveat
// (358) denies the run with its errno, one that denies the x86-64 numbers
// (59, 322: other calls on i386) does not, and a filter that kills every
// non-i386 call lets the child run. The same for the commands judged as
// setsid(), umask() and close_range(): v3 refused them (EOPNOTSUPP) to a compat
// embryo under any filter. v1 read the vectors as 64-bit pointers;
// v2 before this change refused compat callers with EOPNOTSUPP.
func TestCompat32(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"argv and envp intact", []string{"spawn"}, "exit 0"},
		{"filter denies ia32 execve", []string{"seccomp", "11", "1"}, "errno 1"},
		{"filter denies ia32 execveat", []string{"seccomp", "358", "18"}, "errno 18"},
		{"filter on x86-64 execve number", []string{"seccomp", "59", "18"}, "exit 0"},
		{"filter on x86-64 execveat number", []string{"seccomp", "322", "18"}, "exit 0"},
		// Commands judged as the calls they stand for, by the ia32
		// numbers (the x86-64 numbers are calls compat32 does not make).
		{"filter denies ia32 setsid", []string{"seccomp", "66", "18"}, "config errno 18"},
		{"filter on x86-64 setsid number", []string{"seccomp", "112", "18"}, "exit 0"},
		{"filter denies ia32 umask", []string{"seccomp", "60", "18"}, "config errno 18"},
		{"filter on x86-64 umask number", []string{"seccomp", "95", "18"}, "exit 0"},
		{"filter denies ia32 close_range", []string{"seccomp", "436", "18"}, "config errno 18"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := runHelperProgram(t, compat32Path, tc.args...); got != tc.want {
				t.Errorf("compat32-static %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
			}
		})
	}
}

// TestIopermCreator (v1: the x86 I/O bitmap fork hook): a thread that has
// ioperm() access to port 0x80 spawns a program that reads the port. As
// after fork+execve, the child has the creator's I/O bitmap and exits 0;
// v1 left the embryo with TIF_IO_BITMAP and no bitmap.
func TestIopermCreator(t *testing.T) {
	embryo.Require(t)
	for _, how := range []string{"fork", "embryo"} {
		t.Run(how, func(t *testing.T) {
			if got := runHelperProgram(t, probePath, "ioperm", how); got != "exit 0" {
				t.Errorf("probe-static ioperm %s: %q, want \"exit 0\" (the child reads port 0x80)", how, got)
			}
		})
	}
}
