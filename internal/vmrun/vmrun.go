// Package vmrun boots the project's kernel under QEMU with a u-root
// initramfs (github.com/hugelgupf/vmtest), runs Go test packages inside the
// guest, and reports every guest test as a host subtest with its own result.
//
// It follows govmtest.Run, with differences that the project needs: guest
// results become host subtests (so "go test -v" names each one); the serial
// console goes to a log file that is scanned for kernel error reports (a WARN
// or KASAN report fails the run even if every test passed); the guest runs
// its tests with guestrun, which marks on the console each package and test
// as it starts and ends, so the host streams the guest's progress and a
// watchdog stops a guest whose console has gone silent, naming what it was
// running; every boot gets the kernel arguments the harness depends on
// (kernelArgs); and a missing kernel or QEMU is a failure, not a skip.
package vmrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/hugelgupf/vmtest/qemu/quimage"
	"github.com/u-root/mkuimage/uimage"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
	"github.com/emptypidfd/emptypidfd/internal/skips"
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
	// log as they come, besides the guest's progress (each package and
	// test as it starts and ends), kernel error reports and panics.
	Echo []string
	// Silence is how long the guest console may print nothing before the
	// watchdog stops the VM and fails the run; 0 means DefaultSilence.
	// $EMPTYPIDFD_VM_SILENCE, if set, overrides it ("0" turns it off).
	Silence time.Duration
	// Skips is the skip budget: a guest test that skips fails the run
	// unless Skips allows it (a nil Skips allows no skip). It names a
	// guest test "<last element of its package path>/<test name>", as
	// baseline/TestKernelIsOurs. A listed skip of a package that ran to
	// its end that did not happen fails the run too (a stale entry).
	Skips *skips.Budget
	// RaceScope, if set, says which functions are the series' own: a
	// KCSAN report fails the run only if the top RaceDepth frames of one
	// of its stacks hold one of them; the others (races of the base
	// kernel) are logged. With RaceScope nil, every KCSAN report fails.
	RaceScope func(function string) bool
}

// RaceDepth is how many frames of each racing access's stack RaceScope
// judges: the accessing function and its two nearest callers (a series
// function that inlines a base helper shows as the helper's caller).
const RaceDepth = 3

// DefaultSilence is the watchdog's limit when neither Config.Silence nor
// $EMPTYPIDFD_VM_SILENCE sets one. Every guest test prints at least its
// start and end, and the debug kernel's boot prints all along, so minutes of
// silence mean a stuck guest (as one waiting forever on a 9p request).
const DefaultSilence = 5 * time.Minute

// envSilence overrides Config.Silence: a Go duration, 0 for no watchdog.
const envSilence = "EMPTYPIDFD_VM_SILENCE"

// envRun, if set, is the -test.run of every guest test binary: a
// developer's subset of the suite (make vmtest RUN=...).
const envRun = "EMPTYPIDFD_RUN"

// silenceLimit is the watchdog's limit: env (the value of envSilence) if
// set, else cfg, else DefaultSilence.
func silenceLimit(cfg time.Duration, env string) (time.Duration, error) {
	if env != "" {
		d, err := time.ParseDuration(env)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s=%q: want a duration such as 90s or 10m (0 turns the watchdog off)", envSilence, env)
		}
		return d, nil
	}
	if cfg > 0 {
		return cfg, nil
	}
	return DefaultSilence, nil
}

// kernelArgs adds to a kernel command line (VMTEST_KERNEL_APPEND's, the
// Makefile sets it) what every boot needs, unless it is there already:
//
//   - console=ttyS0: the serial console is the harness's only view of the
//     guest (the console log, the progress marks, the watchdog).
//   - pci=noacpi: PCI interrupt routing from the BIOS's $PIR table, not from
//     ACPI's _PRT method. On a slow host the debug kernel's ACPI interpreter
//     can time out in QEMU's _PRT ("ACPI Error: Aborting method
//     \_SB.PCI0._PRT due to previous error (AE_AML_LOOP_TIMEOUT)"); virtio-9p
//     then gets no interrupt and the guest blocks, silent, on its first 9p
//     request until the VM timeout (issue 8). The $PIR table needs no AML.
//   - cgroup_no_v1=pids: the pids controller on the cgroup2 hierarchy, as a
//     systemd host has it, not on the v1 hierarchy u-root's init mounts at
//     /sys/fs/cgroup/pids: PIDFD_CONFIG_CGROUP moves an embryo's pids
//     charge only on cgroup2, and a cgroup with a controller for its
//     children (its EBUSY) needs a controller there. Tests that look at
//     v1 files mount a named v1 hierarchy.
func kernelArgs(cmdline string) string {
	fields := strings.Fields(cmdline)
	if !slices.ContainsFunc(fields, func(f string) bool {
		return f == "console=ttyS0" || strings.HasPrefix(f, "console=ttyS0,")
	}) {
		fields = append(fields, "console=ttyS0")
	}
	if !slices.ContainsFunc(fields, func(f string) bool {
		opts, ok := strings.CutPrefix(f, "pci=")
		return ok && slices.Contains(strings.Split(opts, ","), "noacpi")
	}) {
		fields = append(fields, "pci=noacpi")
	}
	if !slices.ContainsFunc(fields, func(f string) bool {
		return strings.HasPrefix(f, "cgroup_no_v1=")
	}) {
		fields = append(fields, "cgroup_no_v1=pids")
	}
	return strings.Join(fields, " ")
}

// withKernelArgs applies kernelArgs to the VM's kernel command line.
func withKernelArgs() qemu.Fn {
	return func(_ *qemu.IDAllocator, o *qemu.Options) error {
		o.KernelArgs = kernelArgs(o.KernelArgs)
		return nil
	}
}

// GuestOutDir is where the guest writes files for Config.OutDir: a
// directory in the 9p share that the guest test binaries run from.
const GuestOutDir = "/mount/9p/gotestdata/out"

// guestRunner is the guest's test runner, in the initramfs at
// guestRunnerPath.
const (
	guestRunner     = "github.com/emptypidfd/emptypidfd/internal/vmrun/guestrun"
	guestRunnerPath = "bin/vmrun-guest"
)

// Environment variables read by qemu.OptionsFor; Run requires both.
const (
	envKernel = "VMTEST_KERNEL"
	envQEMU   = "VMTEST_QEMU"
)

// Run boots the VM described by cfg and reports its results on t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	checkHost(t)

	limit, err := silenceLimit(cfg.Silence, os.Getenv(envSilence))
	if err != nil {
		t.Fatal(err)
	}

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
	runner := filepath.Join(t.TempDir(), path.Base(guestRunnerPath))
	if err := buildGuestRunner(runner); err != nil {
		t.Fatal(err)
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

	uinit := []string{"--", "vmmount", "--", "/" + guestRunnerPath,
		fmt.Sprintf("-test_timeout=%s", cfg.TestTimeout)}
	if run := os.Getenv(envRun); run != "" {
		t.Logf("only the guest tests matching %s=%q run: a developer's subset, not a full run", envRun, run)
		uinit = append(uinit, "-test_run="+run)
	}
	uinit = append(uinit, cfg.Packages...)
	mods := []uimage.Modifier{
		uimage.WithBusyboxCommands(
			"github.com/u-root/u-root/cmds/core/init",
			"github.com/hugelgupf/vmtest/vminit/shutdownafter",
			"github.com/hugelgupf/vmtest/vminit/vmmount",
		),
		uimage.WithBinaryCommands("cmd/test2json"),
		uimage.WithInit("init"),
		uimage.WithUinit("shutdownafter", uinit...),
		uimage.WithFiles(append(slices.Clip(cfg.Files), runner+":"+guestRunnerPath)...),
	}

	// The VM stops at its timeout, or when the watchdog cancels ctx.
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.VMTimeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), cfg.VMTimeout)
	}
	defer cancel()
	mon := newMonitor(cfg.Name, t.Logf, cfg.Echo)
	stopped := make(chan string, 1)
	mon.stop = func(why string) {
		stopped <- why
		cancel()
	}
	watchdog := func(ctx context.Context, _ *qemu.Notifications) error {
		if limit > 0 {
			mon.watch(ctx, limit, max(min(limit/10, 5*time.Second), 10*time.Millisecond))
		}
		return nil
	}
	if limit > 0 {
		t.Logf("watchdog: the VM is stopped if its console prints nothing for %s (%s)", limit, envSilence)
	} else {
		t.Logf("watchdog: off (%s=%s)", envSilence, os.Getenv(envSilence))
	}

	start := time.Now()
	vm, err := qemu.StartContext(ctx, qemu.ArchUseEnvv,
		quimage.WithUimageT(t, mods...),
		qemu.P9Directory(shared, "gotestdata"),
		qemu.WithVmtestIdent(),
		withKernelArgs(),
		qemu.WithSerialOutput(console, mon),
		qemu.WithTask(watchdog),
	)
	if err != nil {
		t.Fatalf("starting QEMU: %v", err)
	}
	t.Logf("kernel command line: %s", vm.Options.KernelArgs)
	waitErr := vm.Wait()
	t.Logf("VM %s ran for %s", cfg.Name, time.Since(start).Round(time.Second))

	// Whether the harness stopped the VM (the watchdog, or the timeout);
	// the guest's result files then end where the guest was.
	vmStopped := false
	select {
	case why := <-stopped:
		vmStopped = true
		t.Errorf("watchdog: stopped VM %s after %s: %s. See %s; %s sets the limit (now %s)",
			cfg.Name, time.Since(start).Round(time.Second), why, logPath, envSilence, limit)
	default:
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			vmStopped = true
			t.Errorf("VM %s reached its timeout of %s; last running: %s. See %s",
				cfg.Name, cfg.VMTimeout, mon.running(), logPath)
		case waitErr != nil:
			t.Errorf("VM %s exited with %v; last running: %s. See %s", cfg.Name, waitErr, mon.running(), logPath)
		}
	}

	budget := cfg.Skips
	if budget == nil {
		budget = &skips.Budget{}
	}
	reportGuest(t, shared, cfg.Packages, vmStopped, budget)
	if cfg.OutDir != "" {
		if err := copyDir(cfg.OutDir, filepath.Join(shared, "out")); err != nil {
			t.Errorf("collecting the guest's output files: %v", err)
		}
	}

	findings, err := consolelog.ScanFile(logPath)
	if err != nil {
		t.Errorf("scanning console log: %v", err)
	}
	findings, raceFailures, raceNotes := judgeRaces(logPath, findings, cfg.RaceScope)
	for _, n := range raceNotes {
		t.Log(n)
	}
	for _, f := range raceFailures {
		t.Error(f)
	}
	if len(findings) > 0 {
		var b strings.Builder
		for _, f := range findings {
			fmt.Fprintf(&b, "\n  %s", f)
		}
		t.Errorf("kernel error reports in the guest console log %s:%s", logPath, b.String())
	}
}

// judgeRaces returns findings without its KCSAN reports, and judges
// those: each that scope says is the series' (all of them if scope is nil)
// is a failure; the rest, races of the base kernel, are notes.
func judgeRaces(logPath string, findings []consolelog.Finding, scope func(string) bool) (rest []consolelog.Finding, failures, notes []string) {
	rest = slices.DeleteFunc(slices.Clone(findings), func(f consolelog.Finding) bool { return f.Kind == "kcsan" })
	if len(rest) == len(findings) {
		return findings, nil, nil
	}
	f, err := os.Open(logPath)
	if err != nil {
		return rest, []string{fmt.Sprintf("reading the KCSAN reports: %v", err)}, nil
	}
	defer f.Close()
	races, err := consolelog.ScanRaces(f)
	if err != nil {
		failures = append(failures, fmt.Sprintf("reading the KCSAN reports: %v", err))
	}
	outside := 0
	for _, r := range races {
		switch fn, ok := r.Touches(func(fn string) bool { return scope == nil || scope(fn) }, RaceDepth); {
		case !r.Complete():
			failures = append(failures, fmt.Sprintf("KCSAN report that could not be read whole (no function in its header, or an access without a stack), line %d of %s: %s: judged the series' until read", r.Line, logPath, r.Header))
		case scope == nil:
			failures = append(failures, fmt.Sprintf("KCSAN report (no series diff to judge it by), line %d of %s: %s", r.Line, logPath, r.Header))
		case ok:
			failures = append(failures, fmt.Sprintf("KCSAN: a data race in the series' %s, line %d of %s: %s", fn, r.Line, logPath, r.Header))
		default:
			outside++
			notes = append(notes, fmt.Sprintf("KCSAN report outside the series' functions (a race of the base kernel; not a failure), line %d: %s", r.Line, r.Header))
		}
	}
	if scope != nil {
		notes = append(notes, fmt.Sprintf("KCSAN: %d report(s), %d outside the series' functions", len(races), outside))
	}
	return rest, failures, notes
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

// buildGuestRunner compiles guestrun, the guest's test runner, to bin.
func buildGuestRunner(bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, guestRunner)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+string(qemu.GuestArch()))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the guest test runner %s: %w\n%s", guestRunner, err, out)
	}
	return nil
}

// errorEvent mirrors vmtest's internal testevent.ErrorEvent.
type errorEvent struct {
	Binary string
	Error  string
}

// reportGuest reports what the guest wrote to the 9p share. If the VM was
// stopped (vmStopped: the watchdog or the timeout, already reported), the
// files end where the guest was, and what is there is reported: the tests
// that ended, and the one that never did. Guest skips are judged by b.
func reportGuest(t *testing.T, shared string, pkgs []string, vmStopped bool, b *skips.Budget) {
	t.Helper()
	check := func(what string, complete bool, err error) {
		switch {
		case vmStopped && errors.Is(err, fs.ErrNotExist):
			t.Logf("no guest %s: the VM was stopped before the guest test runner wrote any", what)
		case err != nil:
			t.Errorf("reading guest %s: %v", what, err)
		case !complete && vmStopped:
			t.Logf("the guest %s end where the VM was stopped: what follows is partial", what)
		case !complete:
			t.Errorf("the guest test runner did not finish writing its %s (did it crash? see the console log): what follows is partial", what)
		}
	}
	events, complete, err := readEvents[TestEvent](filepath.Join(shared, "results.json"))
	check("test events", complete, err)
	results := Collect(events)
	var failures []Failure
	for _, pkg := range pkgs {
		if res, ok := results[pkg]; ok {
			failures = append(failures, res.Failures(path.Base(pkg))...)
		}
	}
	errs, complete, err := readEvents[errorEvent](filepath.Join(shared, "errors.json"))
	check("error events", complete, err)
	for _, e := range errs {
		if len(failures) == 0 {
			t.Errorf("guest test binary %s: %s", e.Binary, e.Error)
		} else {
			t.Errorf("guest test binary %s: %s; %s", e.Binary, e.Error, failureSummary(failures))
		}
	}
	if len(errs) == 0 && len(failures) > 0 {
		t.Errorf("guest tests: %s", failureSummary(failures))
	}
	for _, pkg := range pkgs {
		res, ok := results[pkg]
		name := path.Base(pkg)
		switch {
		case !ok && vmStopped:
			t.Logf("guest package %s did not run: the VM was stopped first", pkg)
		case !ok:
			t.Errorf("guest package %s reported nothing: did its binary run?", pkg)
		default:
			t.Run(name, func(t *testing.T) {
				res.report(t, name, b)
				if why := packageProblem(res); why != "" {
					t.Errorf("guest package %s: %s", pkg, why)
				}
				// A package cut short may not have reached a listed skip.
				if res.Action != "" {
					for _, s := range b.Stale(name) {
						t.Errorf("%s allows %s to skip, but it did not skip (did not run, or passed): remove the entry", b.Source(), s)
					}
				}
			})
		}
	}
}

// maxSummarized is how many failures a summary names.
const maxSummarized = 12

// failureSummary lists failures, each with its last error lines, for the
// message that says a guest test binary failed: the replayed results that
// follow it are too many for a CI log's excerpt to reach the failed one.
func failureSummary(failures []Failure) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d failed:", len(failures))
	for i, f := range failures {
		if i == maxSummarized {
			fmt.Fprintf(&b, "\n  ... and %d more", len(failures)-i)
			break
		}
		fmt.Fprintf(&b, "\n  %s", f.Name)
		for _, l := range f.Lines {
			fmt.Fprintf(&b, "\n      %s", l)
		}
	}
	return b.String()
}
