// Package vmtest boots the built kernel under QEMU and runs the in-guest
// selftests (selftests/...) there. Run it through 'make vmtest', which builds
// the kernel and the upstream selftests and sets the environment below.
package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/vmrun"
)

// Set by the Makefile.
const (
	envKbuild     = "EMPTYPIDFD_KBUILD"     // kernel build dir (bzImage, headers, release)
	envKselftests = "EMPTYPIDFD_KSELFTESTS" // installed upstream kselftests
	envLogDir     = "EMPTYPIDFD_LOGDIR"     // where console logs go
	envGuest      = "EMPTYPIDFD_GUEST"      // optional: comma-separated guest packages to run
)

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the VM tests with 'make vmtest'", name)
	}
	return v
}

// guestPackages lists the selftest packages to run, all by default.
func guestPackages(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "../selftests/...").Output()
	if err != nil {
		t.Fatalf("listing selftest packages: %v", err)
	}
	want := map[string]bool{}
	for _, name := range strings.Split(os.Getenv(envGuest), ",") {
		if name != "" {
			want[name] = true
		}
	}
	var pkgs []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "/internal") {
			continue
		}
		if len(want) > 0 && !want[filepath.Base(pkg)] {
			continue
		}
		pkgs = append(pkgs, pkg)
	}
	if len(pkgs) == 0 {
		t.Fatalf("no selftest package matches %s=%q", envGuest, os.Getenv(envGuest))
	}
	return pkgs
}

// expectations tells the guest what the built kernel promises: its release
// string and whether its uapi headers define PIDFD_EMPTY.
func expectations(t *testing.T, kbuild string) string {
	t.Helper()
	release, err := os.ReadFile(filepath.Join(kbuild, "include/config/kernel.release"))
	if err != nil {
		t.Fatalf("kernel release: %v", err)
	}
	hdr, err := os.ReadFile(filepath.Join(kbuild, "usr/include/linux/pidfd.h"))
	if err != nil {
		t.Fatalf("exported pidfd.h: %v", err)
	}
	empty := "absent"
	if strings.Contains(string(hdr), "#define PIDFD_EMPTY") {
		empty = "present"
	}
	path := filepath.Join(t.TempDir(), "expect")
	content := "RELEASE=" + strings.TrimSpace(string(release)) + "\nPIDFD_EMPTY=" + empty + "\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("guest expectations: %s", strings.ReplaceAll(strings.TrimSpace(content), "\n", ", "))
	return path
}

// guestPrograms builds the C helpers the selftests spawn
// (selftests/childreport) as static binaries for the initramfs: childreport,
// which reports the state it started with, true-static, which exits 0, and
// bigdata-static, whose exec fails past its point of no return under a
// small RLIMIT_DATA.
// They are C, not Go, so that they start with nothing a runtime would open.
func guestPrograms(t *testing.T) []string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to build the guest's C helpers (make deps installs it): %v", err)
	}
	dir := t.TempDir()
	var files []string
	for _, p := range []struct{ src, bin string }{
		{"childreport.c", "childreport"},
		{"true.c", "true-static"},
		{"bigdata.c", "bigdata-static"},
	} {
		src := filepath.Join("..", "selftests", "childreport", p.src)
		out := filepath.Join(dir, p.bin)
		cmd := exec.Command(gcc, "-static", "-O2", "-Wall", "-Werror", "-o", out, src)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s with %s: %v\n%s", src, cmd, err, b)
		}
		// Any user in the guest runs them.
		if err := os.Chmod(out, 0o755); err != nil {
			t.Fatal(err)
		}
		files = append(files, out+":bin/"+p.bin)
	}
	return files
}

func TestSelftests(t *testing.T) {
	kbuild := mustEnv(t, envKbuild)
	kselftests := mustEnv(t, envKselftests)
	if _, err := os.Stat(filepath.Join(kselftests, "kselftest-list.txt")); err != nil {
		t.Fatalf("upstream selftests not built: %v (make vmtest builds them)", err)
	}
	pkgs := guestPackages(t)
	files := []string{
		kselftests + ":kselftests",
		expectations(t, kbuild) + ":etc/emptypidfd/expect",
		// exec/execveat runs a "#!/bin/bash" script; with bash come
		// the C library and loader that the dynamic exec tests need.
		"/bin/bash:bin/bash",
		// pidfd/pidfd_test execs /bin/sleep from a thread; exec/non-regular
		// needs a "true" binary.
		"/bin/sleep:bin/sleep",
		"/bin/true:bin/true",
	}
	// bin/childreport, bin/true-static and bin/bigdata-static, which the
	// guest tests spawn.
	files = append(files, guestPrograms(t)...)
	if slices.ContainsFunc(pkgs, func(p string) bool { return strings.HasSuffix(p, "/selftests/benchsmoke") }) {
		files = append(files, benchPrograms(t))
	}
	vmrun.Run(t, vmrun.Config{
		Name:        "selftests",
		Packages:    pkgs,
		Files:       files,
		TestTimeout: 25 * time.Minute,
		VMTimeout:   50 * time.Minute,
		LogDir:      mustEnv(t, envLogDir),
	})
}
