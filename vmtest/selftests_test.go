// Package vmtest boots the built kernel under QEMU and runs the in-guest
// selftests (selftests/...) there. Run it through 'make vmtest', which builds
// the kernel and the upstream selftests and sets the environment below.
package vmtest

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/abicheck"
	"github.com/emptypidfd/emptypidfd/internal/skips"
	"github.com/emptypidfd/emptypidfd/internal/suite"
	"github.com/emptypidfd/emptypidfd/internal/vmrun"
	"github.com/emptypidfd/emptypidfd/reliability/coverage"
)

// Set by the Makefile.
const (
	envKbuild     = "EMPTYPIDFD_KBUILD"     // kernel build dir (bzImage, headers, release)
	envKselftests = "EMPTYPIDFD_KSELFTESTS" // installed upstream kselftests
	envLogDir     = "EMPTYPIDFD_LOGDIR"     // where console logs go
	envGuest      = "EMPTYPIDFD_GUEST"      // optional: comma-separated guest packages to run
	// Optional: how long one guest test binary may run (a Go duration,
	// default 45m: the upstream selftests take 20 minutes on the debug
	// kernel under TCG, and testdata/timeouts.txt lets pidfd_empty_test
	// alone take 30); make stress raises it for a long stress run.
	envGuestTimeout = "EMPTYPIDFD_GUEST_TIMEOUT"
)

// guestTimeout is how long one guest test binary may run, and the VM's
// limit that follows from it: the binary's, plus room for the boot and
// the other binaries of a default run.
func guestTimeout(t *testing.T) (test, vm time.Duration) {
	t.Helper()
	test = 45 * time.Minute
	if v := os.Getenv(envGuestTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive Go duration such as 45m", envGuestTimeout, v)
		}
		test = d
	}
	return test, max(60*time.Minute, test+25*time.Minute)
}

func mustEnv(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the VM tests with 'make vmtest'", name)
	}
	return v
}

// guestPackages lists the guest test packages to run: all by default, or
// those $EMPTYPIDFD_GUEST names. A name that matches no package fails.
func guestPackages(t *testing.T) []string {
	t.Helper()
	// The guest packages: the selftests, and the tests of the packages
	// programs use (pidfd, spawn), which must pass on the series' kernel
	// (spawn's port of os/exec's tests asserts the embryo path there).
	out, err := exec.Command("go", "list", "../selftests/...", "../pidfd/...", "../spawn/...").Output()
	if err != nil {
		t.Fatalf("listing selftest packages: %v", err)
	}
	pkgs, err := suite.SelectPackages(strings.Fields(string(out)), os.Getenv(envGuest))
	if err != nil {
		t.Fatalf("%s=%q: %v", envGuest, os.Getenv(envGuest), err)
	}
	return pkgs
}

// allowedSkipsFile lists the tests, guest and host, that may skip: any
// other skip fails the run (the skip budget, internal/skips).
const allowedSkipsFile = "testdata/allowed-skips.txt"

// skipBudget is the run's skip budget: allowedSkipsFile, lax only on a
// stock kernel that the run was allowed to use.
func skipBudget(t *testing.T, e suite.Expect) *skips.Budget {
	t.Helper()
	list, err := skips.Load(allowedSkipsFile)
	if err != nil {
		t.Fatal(err)
	}
	b := &skips.Budget{List: list}
	if e.Stock {
		b.Lax = suite.EnvAllowStock + "=1 (a stock-kernel comparison run)"
	}
	return b
}

// allowSkip skips the host test t, named name ("vmtest/TestBench"), if
// allowedSkipsFile allows it, and fails it otherwise.
func allowSkip(t *testing.T, name, why string) {
	t.Helper()
	list, err := skips.Load(allowedSkipsFile)
	if err != nil {
		t.Fatal(err)
	}
	v := (&skips.Budget{List: list}).Judge(name)
	if !v.OK {
		t.Fatalf("%s; and %s", why, v.Message)
	}
	t.Skipf("%s (%s)", why, v.Message)
}

// expectations tells the guest what the built kernel promises: its release
// string, whether its uapi headers define PIDFD_EMPTY, and whether a kernel
// without it was allowed (suite.EnvAllowStock). A kernel without
// PIDFD_EMPTY fails the run unless it was.
func expectations(t *testing.T, kbuild string) (string, suite.Expect) {
	t.Helper()
	release, err := os.ReadFile(filepath.Join(kbuild, "include/config/kernel.release"))
	if err != nil {
		t.Fatalf("kernel release: %v", err)
	}
	hdr, err := os.ReadFile(filepath.Join(kbuild, "usr/include/linux/pidfd.h"))
	if err != nil {
		t.Fatalf("exported pidfd.h: %v", err)
	}
	allow, err := suite.AllowStock(os.Getenv(suite.EnvAllowStock))
	if err != nil {
		t.Fatal(err)
	}
	e, err := suite.Expectations(string(release), string(hdr), allow)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case e.Stock:
		banner := suite.StockBanner(e.Release)
		t.Log(banner)
		t.Cleanup(func() { t.Log(banner) })
		t.Logf("ABI copies not checked: kernel %s has no empty pidfd headers", e.Release)
	default:
		// Before boot: every copy of the ABI (package pidfd, the C
		// helpers' pidfd_abi.h) must match the kernel's headers.
		copyHeader := filepath.Join("..", "selftests", "childreport", "pidfd_abi.h")
		if err := abicheck.Check(filepath.Join(kbuild, "usr/include"), copyHeader); err != nil {
			t.Fatal(err)
		}
		t.Logf("ABI copies match kernel %s's headers (x86_64 and i386)", strings.TrimSpace(e.Release))
	}
	if allow && !e.Stock {
		t.Logf("note: %s=1 is set, but kernel %s has the series: the run is a normal one", suite.EnvAllowStock, e.Release)
	}
	path := filepath.Join(t.TempDir(), "expect")
	if err := os.WriteFile(path, []byte(e.File()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("guest expectations: %s", strings.ReplaceAll(strings.TrimSpace(e.File()), "\n", ", "))
	return path, e
}

// guestPrograms builds the C helpers the selftests spawn
// (selftests/childreport) as static binaries for the initramfs: childreport,
// which reports the state it started with, true-static, which exits 0, and
// bigdata-static, whose exec fails past its point of no return under a
// small RLIMIT_DATA, compat32-static, an i386 program that spawns through
// an empty pidfd, and the uprobe and ioperm helpers (probe-static).
// They are C, not Go, so that they start with nothing a runtime would open.
func guestPrograms(t *testing.T) []string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Fatalf("gcc is needed to build the guest's C helpers (make deps installs it): %v", err)
	}
	dir := t.TempDir()
	var files []string
	for _, p := range []struct {
		src, bin string
		flags    []string
	}{
		{"childreport.c", "childreport", nil},
		{"true.c", "true-static", nil},
		{"bigdata.c", "bigdata-static", nil},
		// -m32 needs gcc-multilib (make deps installs it).
		{"compat32.c", "compat32-static", []string{"-m32"}},
		// -fno-inline keeps the function the uretprobe is set on.
		{"probe.c", "probe-static", []string{"-fno-inline"}},
	} {
		src := filepath.Join("..", "selftests", "childreport", p.src)
		out := filepath.Join(dir, p.bin)
		args := append([]string{"-static", "-O2", "-Wall", "-Werror"}, p.flags...)
		cmd := exec.Command(gcc, append(args, "-o", out, src)...)
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

// seriesFunctions returns, from the series.diff that scripts/kernel-build.sh
// left beside the kernel, a test for the functions the series changes;
// nil for a kernel built without the series (every KCSAN report fails).
func seriesFunctions(t *testing.T, kbuild string) func(string) bool {
	t.Helper()
	f, err := os.Open(filepath.Join(kbuild, "series.diff"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := coverage.ParseDiff(f)
	if err != nil {
		t.Fatal(err)
	}
	return func(fn string) bool { return d.Funcs[fn] }
}

func TestSelftests(t *testing.T) {
	kbuild := mustEnv(t, envKbuild)
	kselftests := mustEnv(t, envKselftests)
	if _, err := os.Stat(filepath.Join(kselftests, "kselftest-list.txt")); err != nil {
		t.Fatalf("upstream selftests not built: %v (make vmtest builds them)", err)
	}
	pkgs := guestPackages(t)
	expect, e := expectations(t, kbuild)
	files := []string{
		kselftests + ":kselftests",
		expect + ":etc/emptypidfd/expect",
		// exec/execveat runs a "#!/bin/bash" script; with bash come
		// the C library and loader that the dynamic exec tests need.
		"/bin/bash:bin/bash",
		// pidfd/pidfd_test execs /bin/sleep from a thread; exec/non-regular
		// needs a "true" binary.
		"/bin/sleep:bin/sleep",
		"/bin/true:bin/true",
		// spawn's port of os/exec's tests runs "#!/bin/sh" scripts and
		// looks up echo, as upstream's do on any Unix system.
		"/bin/dash:bin/sh",
		"/bin/echo:bin/echo",
		// exec/check-exec-tests.sh (new since 6.12) is a
		// "#!/usr/bin/env bash" script that finds its directory with
		// dirname and readlink, and runs "#!/usr/bin/env inc" scripts.
		"/usr/bin/env:usr/bin/env",
		"/usr/bin/dirname:bin/dirname",
		"/usr/bin/readlink:bin/readlink",
		"/bin/cat:bin/cat",
	}
	// bin/childreport and the other C helpers the guest tests spawn.
	files = append(files, guestPrograms(t)...)
	if slices.ContainsFunc(pkgs, func(p string) bool { return strings.HasSuffix(p, "/selftests/benchsmoke") }) {
		files = append(files, benchPrograms(t))
	}
	testTimeout, vmTimeout := guestTimeout(t)
	// What the guest leaves for the host after the last test (the
	// kernel's gcov counters, for make reliability), fresh each run.
	logDir := mustEnv(t, envLogDir)
	out := filepath.Join(logDir, "selftests-out")
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	vmrun.Run(t, vmrun.Config{
		Name:        "selftests",
		OutDir:      out,
		Packages:    pkgs,
		Files:       files,
		TestTimeout: testTimeout,
		VMTimeout:   vmTimeout,
		LogDir:      logDir,
		Skips:       skipBudget(t, e),
		RaceScope:   seriesFunctions(t, kbuild),
	})
}
