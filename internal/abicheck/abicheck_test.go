package abicheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// copyHeader is the C copy, relative to this package.
var copyHeader = filepath.Join("..", "..", "selftests", "childreport", "pidfd_abi.h")

func needGCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed (make deps installs it): %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got Items
		wantDiffs []string
	}{
		{"equal", Items{"a": 1, "b": 2}, Items{"b": 2, "a": 1}, nil},
		{"value", Items{"a": 1}, Items{"a": 2}, []string{"a: 2 (kernel: 1)"}},
		{"missing", Items{"a": 1, "b": 2}, Items{"a": 1}, []string{"b: missing (kernel: 2)"}},
		{"extra", Items{"a": 1}, Items{"a": 1, "z": 3}, []string{"z: 3, not in the kernel's list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(tc.want, tc.got); !slices.Equal(got, tc.wantDiffs) {
				t.Errorf("Diff = %q, want %q", got, tc.wantDiffs)
			}
		})
	}
}

// The C copy and the Go copy agree with each other on x86_64; Check
// compares both with the kernel before each VM run.
func TestCopiesAgree(t *testing.T) {
	needGCC(t)
	c, err := Compile(t.TempDir(), 64, "-include", copyHeader)
	if err != nil {
		t.Fatal(err)
	}
	if len(c) < 40 {
		t.Fatalf("only %d items read from the object file: %v", len(c), c)
	}
	if d := Diff(c, GoItems()); len(d) > 0 {
		t.Errorf("package pidfd differs from %s:\n%s", copyHeader, strings.Join(d, "\n"))
	}
}

// A copy that is wrong in one number fails Check: the check can fail.
func TestCheckCatchesAWrongCopy(t *testing.T) {
	needGCC(t)
	good, err := os.ReadFile(copyHeader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A stand-in for the kernel's headers: the C copy as linux/pidfd.h
	// and an asm/unistd.h with the numbers of mainline 7.3.
	for _, f := range []struct{ path, text string }{
		{"linux/pidfd.h", string(good)},
		{"asm/unistd.h", "#define __NR_pidfd_open 434\n#define __NR_pidfd_config 473\n#define __NR_pidfd_spawn_run 474\n"},
	} {
		p := filepath.Join(dir, "include", f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(filepath.Join(dir, "include"), copyHeader); err != nil {
		t.Fatalf("the copy against itself: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, wantDiff string
	}{
		{"struct version size", "#define PIDFD_FD_SIZE_VER0\t48", "#define PIDFD_FD_SIZE_VER0\t56",
			"const PIDFD_FD_SIZE_VER0: 56 (kernel: 48)"},
		{"the 6.12 series' number", "#define __NR_pidfd_config\t473", "#define __NR_pidfd_config\t463",
			"nr pidfd_config: 463 (kernel: 473)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(string(good), tc.old, tc.new, 1)
			if text == string(good) {
				t.Fatalf("%q not found in the copy: update this test", tc.old)
			}
			bad := filepath.Join(t.TempDir(), "bad.h")
			if err := os.WriteFile(bad, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Check(filepath.Join(dir, "include"), bad)
			if err == nil || !strings.Contains(err.Error(), tc.wantDiff) {
				t.Errorf("Check of a copy with %q: %v; want the difference %q named", tc.new, err, tc.wantDiff)
			}
		})
	}
}
