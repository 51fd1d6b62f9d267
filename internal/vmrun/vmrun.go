// Package vmrun boots the project's kernel under QEMU with a u-root
// initramfs (github.com/hugelgupf/vmtest), runs Go test packages inside the
// guest, and reports every guest test as a host subtest with its own result.
//
// It follows govmtest.Run, with three differences that the project needs:
// guest results become host subtests (so "go test -v" names each one), the
// serial console goes to a log file that is scanned for kernel error reports
// (a WARN or KASAN report fails the run even if every test passed), and a
// missing kernel or QEMU is a failure, not a skip.
package vmrun

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/hugelgupf/vmtest/qemu/qevent"
	"github.com/hugelgupf/vmtest/qemu/quimage"
	"github.com/u-root/mkuimage/uimage"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
)

// Config describes one VM boot.
type Config struct {
	// Name names the VM in logs; the console log is LogDir/Name.console.log.
	Name string
	// Packages are the Go packages (import paths) whose tests run in the
	// guest, one test binary each, in this order.
	Packages []string
	// Files are extra initramfs entries, "host/path:guest/path" (see
	// uimage.WithFiles); directories are copied whole.
	Files []string
	// TestTimeout bounds each guest test binary.
	TestTimeout time.Duration
	// VMTimeout bounds the whole boot.
	VMTimeout time.Duration
	// LogDir receives the console log.
	LogDir string
	// OutDir, if set, receives after the VM stops a copy of what the guest
	// wrote under GuestOutDir (files the guest tests produce for the host).
	OutDir string
	// Echo lists prefixes of guest console lines to echo to the host test
	// log as they come, besides test results (progress of long runs).
	Echo []string
}

// GuestOutDir is where the guest writes files for Config.OutDir: a
// directory in the 9p share that the guest test binaries run from.
const GuestOutDir = "/mount/9p/gotestdata/out"

// Environment variables read by qemu.OptionsFor; Run requires both.
const (
	envKernel = "VMTEST_KERNEL"
	envQEMU   = "VMTEST_QEMU"
)

// Run boots the VM described by cfg and reports its results on t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	checkHost(t)

	shared := t.TempDir()
	if cfg.OutDir != "" {
		out := filepath.Join(shared, "out")
		if err := os.Mkdir(out, 0o777); err != nil {
			t.Fatal(err)
		}
		// Writable by the guest whatever the host's umask and user.
		if err := os.Chmod(out, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for _, pkg := range cfg.Packages {
		if err := buildTest(pkg, filepath.Join(shared, "tests", pkg)); err != nil {
			t.Fatal(err)
		}
	}

	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		t.Fatalf("creating log dir: %v", err)
	}
	logPath := filepath.Join(cfg.LogDir, cfg.Name+".console.log")
	console, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating console log: %v", err)
	}
	t.Logf("guest console log: %s", logPath)

	uinit := []string{"--", "vmmount", "--", "gouinit", fmt.Sprintf("-test_timeout=%s", cfg.TestTimeout)}
	mods := []uimage.Modifier{
		uimage.WithBusyboxCommands(
			"github.com/u-root/u-root/cmds/core/init",
			"github.com/hugelgupf/vmtest/vminit/shutdownafter",
			"github.com/hugelgupf/vmtest/vminit/vmmount",
			"github.com/hugelgupf/vmtest/vminit/gouinit",
		),
		uimage.WithBinaryCommands("cmd/test2json"),
		uimage.WithInit("init"),
		uimage.WithUinit("shutdownafter", uinit...),
		uimage.WithFiles(cfg.Files...),
	}

	start := time.Now()
	vm, err := qemu.Start(qemu.ArchUseEnvv,
		quimage.WithUimageT(t, mods...),
		qemu.P9Directory(shared, "gotestdata"),
		qemu.WithVmtestIdent(),
		qemu.WithVMTimeout(cfg.VMTimeout),
		qemu.WithSerialOutput(console),
		qemu.LogSerialByLine(progress(t, cfg.Name, cfg.Echo)),
	)
	if err != nil {
		t.Fatalf("starting QEMU: %v", err)
	}
	waitErr := vm.Wait()
	t.Logf("VM %s ran for %s", cfg.Name, time.Since(start).Round(time.Second))

	reportGuest(t, shared, cfg.Packages)
	if cfg.OutDir != "" {
		if err := copyDir(cfg.OutDir, filepath.Join(shared, "out")); err != nil {
			t.Errorf("collecting the guest's output files: %v", err)
		}
	}

	if waitErr != nil {
		t.Errorf("VM exited with %v (timeout %s); see %s", waitErr, cfg.VMTimeout, logPath)
	}
	findings, err := consolelog.ScanFile(logPath)
	if err != nil {
		t.Errorf("scanning console log: %v", err)
	}
	if len(findings) > 0 {
		var b strings.Builder
		for _, f := range findings {
			fmt.Fprintf(&b, "\n  %s", f)
		}
		t.Errorf("kernel error reports in the guest console log %s:%s", logPath, b.String())
	}
}

func checkHost(t *testing.T) {
	t.Helper()
	k := os.Getenv(envKernel)
	if k == "" {
		t.Fatalf("%s is not set: run the VM tests with 'make vmtest' (it builds the kernel and sets it)", envKernel)
	}
	if _, err := os.Stat(k); err != nil {
		t.Fatalf("kernel image: %v (run 'make kernel')", err)
	}
	q := strings.Fields(os.Getenv(envQEMU))
	if len(q) == 0 {
		t.Fatalf("%s is not set: run the VM tests with 'make vmtest'", envQEMU)
	}
	if _, err := exec.LookPath(q[0]); err != nil {
		t.Fatalf("QEMU: %v (run 'make deps')", err)
	}
}

// progress echoes the guest's top-level test results and kernel reports,
// and lines starting with one of echo, to the host test log as they happen,
// so a long TCG run is not silent.
func progress(t *testing.T, name string, echo []string) qemu.LinePrinter {
	prefixes := append([]string{"--- ", "ok ", "FAIL", "panic:"}, echo...)
	return func(line string) {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				t.Logf("[%s] %s", name, line)
				return
			}
		}
	}
}

// copyDir copies the regular files under src into dst, replacing files of
// the same name. QEMU's 9p metadata (security_model=mapped-file) is left out.
func copyDir(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".virtfs_metadata" {
			return filepath.SkipDir
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

// buildTest compiles pkg's tests into a static guest binary in dir and copies
// the package's testdata directory beside it.
func buildTest(pkg, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(dir, path.Base(pkg)+".test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+string(qemu.GuestArch()))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building guest tests of %s: %w\n%s", pkg, err, out)
	}
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return fmt.Errorf("locating %s: %w", pkg, err)
	}
	testdata := filepath.Join(string(bytes.TrimSpace(out)), "testdata")
	if _, err := os.Stat(testdata); err == nil {
		if err := os.CopyFS(filepath.Join(dir, "testdata"), os.DirFS(testdata)); err != nil {
			return fmt.Errorf("copying %s: %w", testdata, err)
		}
	}
	return nil
}

// errorEvent mirrors vmtest's internal testevent.ErrorEvent.
type errorEvent struct {
	Binary string
	Error  string
}

func reportGuest(t *testing.T, shared string, pkgs []string) {
	t.Helper()
	errs, err := qevent.ReadFile[errorEvent](filepath.Join(shared, "errors.json"))
	if err != nil {
		t.Errorf("reading guest error events: %v", err)
	}
	for _, e := range errs {
		t.Errorf("guest test binary %s: %s", e.Binary, e.Error)
	}
	events, err := qevent.ReadFile[TestEvent](filepath.Join(shared, "results.json"))
	if err != nil {
		t.Errorf("reading guest test events: %v", err)
	}
	results := Collect(events)
	for _, pkg := range pkgs {
		res, ok := results[pkg]
		if !ok {
			t.Errorf("guest package %s reported nothing: did its binary run?", pkg)
			continue
		}
		t.Run(path.Base(pkg), func(t *testing.T) { res.report(t) })
	}
}
