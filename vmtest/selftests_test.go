// Package vmtest boots the built kernel under QEMU and runs the in-guest
// selftests (selftests/...) there. Run it through 'make vmtest', which builds
// the kernel and the upstream selftests and sets the environment below.
package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
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

func TestSelftests(t *testing.T) {
	kbuild := mustEnv(t, envKbuild)
	kselftests := mustEnv(t, envKselftests)
	if _, err := os.Stat(filepath.Join(kselftests, "kselftest-list.txt")); err != nil {
		t.Fatalf("upstream selftests not built: %v (make vmtest builds them)", err)
	}
	vmrun.Run(t, vmrun.Config{
		Name:     "selftests",
		Packages: guestPackages(t),
		Files: []string{
			kselftests + ":kselftests",
			expectations(t, kbuild) + ":etc/emptypidfd/expect",
			// exec/execveat runs a "#!/bin/bash" script.
			"/bin/bash:bin/bash",
		},
		TestTimeout: 25 * time.Minute,
		VMTimeout:   50 * time.Minute,
		LogDir:      mustEnv(t, envLogDir),
	})
}
