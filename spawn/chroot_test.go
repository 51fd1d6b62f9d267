package spawn_test

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

// newRoot makes a directory that holds a copy of the test binary at
// /spawn.test and, for a dynamically linked one (a cgo build on the
// host), its ELF interpreter and libraries at their own paths.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	exe := testenv.Executable(t)
	copyTo := func(src, rel string) {
		t.Helper()
		dst := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyTo(exe, "spawn.test")
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		interp := strings.TrimRight(string(b), "\x00")
		copyTo(interp, interp)
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		for _, lib := range libs {
			found := false
			for _, dir := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
				if _, err := os.Stat(filepath.Join(dir, lib)); err == nil {
					copyTo(filepath.Join(dir, lib), filepath.Join(dir, lib))
					found = true
					break
				}
			}
			if !found {
				t.Fatalf("the test binary needs %s, which is in none of the usual directories", lib)
			}
		}
	}
	return root
}

// Chroot goes through the embryo where the kernel has PIDFD_CONFIG_ROOT:
// the program path and Dir are resolved in the new root, as after a
// forked child's chroot.
func TestChroot(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("we need root for chroot")
	}
	mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_ROOT)
	root := newRoot(t)
	if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	helperCommandUsed.LoadOrStore("pwd", true)
	// /spawn.test exists only in the new root.
	cmd := spawn.Command("/spawn.test", "pwd")
	cmd.Dir = "/d"
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	// Standard output alone: a race-enabled child says on its standard
	// error that it cannot find its executable in the new root.
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if cmd.Mechanism() != mech {
		t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
	}
	if got := strings.TrimSpace(string(out)); got != "/d" {
		t.Errorf("the child's working directory: %q, want /d (in its root)", got)
	}
}
