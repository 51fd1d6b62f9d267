// Command guestrun runs the guest side of a vmrun boot: the Go test binaries
// the host put in the 9p share, one package after another in the order given
// on the command line. It replaces vmtest's gouinit, which it follows (test
// output to the console, test2json events to results.json, binaries that
// fail to results in errors.json), for one thing gouinit does not do: it
// prints a progress mark (internal/vmrun/progress) on the serial console as
// each package and each test starts and ends, so the host can stream the
// guest's progress and say what was running when the guest went quiet.
//
//	guestrun [-dir /mount/9p/gotestdata] [-test_timeout 25m] [-test_run REGEXP] package...
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hugelgupf/vmtest/guest"

	"github.com/emptypidfd/emptypidfd/internal/vmrun/progress"
)

// event is one test2json event, as vmrun.TestEvent reads it on the host.
type event struct {
	Time    time.Time `json:",omitempty"`
	Action  string
	Package string  `json:",omitempty"`
	Test    string  `json:",omitempty"`
	Elapsed float64 `json:",omitempty"`
	Output  string  `json:",omitempty"`
}

// errorEvent is vmtest's testevent.ErrorEvent: a test binary that failed.
type errorEvent struct {
	Binary string
	Error  string
}

// killGrace is how long a test binary has after its -test.timeout to print
// its panic (the stacks of every goroutine) before it is killed.
const killGrace = time.Minute

// console serialises writes to the serial console, so that a progress mark
// is never cut into a line of test output and always starts a line.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	midLine bool // the last write did not end a line
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.w.Write(p)
	if n > 0 {
		c.midLine = p[n-1] != '\n'
	}
	return n, err
}

// mark prints m on a line of its own.
func (c *console) mark(m progress.Mark) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := m.String() + "\n"
	if c.midLine {
		s = "\n" + s
	}
	// The console is all there is to report a failure to.
	_, _ = io.WriteString(c.w, s)
	c.midLine = false
}

func main() {
	dir := flag.String("dir", "/mount/9p/gotestdata", "the 9p share: tests/<package>/<name>.test in, results.json and errors.json out")
	timeout := flag.Duration("test_timeout", 25*time.Minute, "bound on each test binary (its -test.timeout; 0 for none)")
	flag.StringVar(&testRun, "test_run", "", "if set, each test binary's -test.run (a developer's subset; never in CI)")
	flag.Parse()
	log.SetPrefix("vmrun-guest: ")
	log.SetFlags(0)

	con := &console{w: os.Stdout}
	con.mark(progress.Mark{Action: progress.Begin})
	if err := run(con, *dir, *timeout, flag.Args()); err != nil {
		log.Print(err)
	}
	leakScan(con, kmemleakFile)
	copyCoverage(con, gcovDir, filepath.Join(*dir, "out", "gcov"))
	con.mark(progress.Mark{Action: progress.Done})
}

// gcovDir is where a kernel with CONFIG_GCOV_KERNEL shows its coverage
// counters: one .gcda file per profiled object, under the object's path in
// the build directory (and a .gcno link to the build's own notes file).
const gcovDir = "/sys/kernel/debug/gcov"

// copyCoverage copies the kernel's gcov counters (every .gcda under src)
// after the last test to dst, keeping their paths, for the host's make
// reliability. It does nothing unless the host asked for the guest's output
// files (dst's parent, the share's out directory, exists); a kernel
// without gcov gets one line saying so.
func copyCoverage(con *console, src, dst string) {
	if _, err := os.Stat(filepath.Dir(dst)); err != nil {
		return
	}
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintf(con, "vmrun-guest: gcov: no kernel coverage counters (%v)\n", err)
		return
	}
	n := 0
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".gcda" {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		target := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o777); err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		fmt.Fprintf(con, "vmrun-guest: gcov: copying the counters: %v\n", err)
		return
	}
	fmt.Fprintf(con, "vmrun-guest: gcov: copied %d counter files\n", n)
}

// kmemleakFile is the kernel memory leak detector's control file; debugfs
// is mounted on its directory's parent if it is not there yet.
const kmemleakFile = "/sys/kernel/debug/kmemleak"

// leakScanWait lets the last test's frees and RCU callbacks settle before
// the scan: kmemleak reports only objects older than 5 s. scanHook runs
// after each scan request (tests stand in for the kernel with it).
var (
	leakScanWait = 6 * time.Second
	scanHook     func()
)

// leakScan asks kmemleak (CONFIG_DEBUG_KMEMLEAK) for a scan after the last
// test and copies what it suspects to the console. The kernel reports new
// suspects there itself ("kmemleak: N new suspected memory leaks"), which
// the host's console check fails the run on; the copy gives the backtraces.
// A kernel without kmemleak gets one line saying so.
func leakScan(con *console, file string) {
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) && file == kmemleakFile {
		_ = syscall.Mount("debugfs", filepath.Dir(file), "debugfs", 0, "")
	}
	if _, err := os.Stat(file); err != nil {
		fmt.Fprintf(con, "vmrun-guest: kmemleak: not in this kernel (%v)\n", err)
		return
	}
	time.Sleep(leakScanWait)
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(file, []byte("scan"), 0); err != nil {
			fmt.Fprintf(con, "vmrun-guest: kmemleak: scan failed: %v\n", err)
			return
		}
		if scanHook != nil {
			scanHook()
		}
	}
	report, err := os.ReadFile(file)
	if err != nil {
		fmt.Fprintf(con, "vmrun-guest: kmemleak: reading the report: %v\n", err)
		return
	}
	if len(report) == 0 {
		fmt.Fprintf(con, "vmrun-guest: kmemleak: no suspected leaks\n")
		return
	}
	fmt.Fprintf(con, "vmrun-guest: kmemleak: suspected leaks:\n%s", report)
}

// testRun is -test_run.
var testRun string

func run(con *console, dir string, timeout time.Duration, pkgs []string) (err error) {
	errs, err := guest.EventChannel[errorEvent](filepath.Join(dir, "errors.json"))
	if err != nil {
		return fmt.Errorf("opening the error event file: %w", err)
	}
	defer func() {
		if cerr := errs.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the error event file: %w", cerr)
		}
	}()
	results, err := guest.EventChannel[event](filepath.Join(dir, "results.json"))
	if err != nil {
		_ = errs.Emit(errorEvent{Error: fmt.Sprintf("running tests failed: %v", err)})
		return fmt.Errorf("opening the test event file: %w", err)
	}
	defer func() {
		if cerr := results.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the test event file: %w", cerr)
		}
	}()
	for _, pkg := range pkgs {
		bin := filepath.Join(dir, "tests", pkg, path.Base(pkg)+".test")
		start := time.Now()
		con.mark(progress.Mark{Action: progress.Start, Package: pkg})
		result, err := runPackage(con, results.Emit, bin, pkg, timeout)
		if err != nil {
			log.Printf("%s: %v", pkg, err)
			if emitErr := errs.Emit(errorEvent{Binary: bin, Error: err.Error()}); emitErr != nil {
				log.Printf("reporting the error of %s: %v", pkg, emitErr)
			}
		}
		con.mark(progress.Mark{Action: progress.End, Package: pkg, Result: result, Elapsed: time.Since(start)})
	}
	return nil
}

// runPackage runs one test binary, its output to the console and through
// test2json to emit. It returns the package's result: "pass", "fail", or
// "error" if the binary did not run.
func runPackage(con *console, emit func(event) error, bin, pkg string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	if timeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(context.Background(), timeout+killGrace)
	}
	defer cancel()

	j := exec.Command("test2json", "-t", "-p", pkg)
	r, w, err := os.Pipe()
	if err != nil {
		return "error", fmt.Errorf("pipe to test2json: %w", err)
	}
	defer r.Close()
	defer w.Close()
	j.Stdin, j.Stderr = r, con
	events, err := j.StdoutPipe()
	if err != nil {
		return "error", fmt.Errorf("test2json's output: %w", err)
	}
	if err := j.Start(); err != nil {
		return "error", fmt.Errorf("failed to start test2json: %w", err)
	}
	r.Close()

	args := []string{"-test.v", "-test.timeout=" + timeout.String()}
	if testRun != "" {
		args = append(args, "-test.run="+testRun)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	// Test output to the console for humans, and to test2json; stderr
	// too, as 'go test' does, so a panic is the failing test's output.
	out := io.MultiWriter(con, w)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, out
	// testdata is relative to the test binary's package directory.
	cmd.Dir = filepath.Dir(bin)
	cmd.WaitDelay = 10 * time.Second

	relayed := make(chan relayResult, 1)
	go func() {
		action, err := relay(events, con, pkg, emit)
		relayed <- relayResult{action, err}
	}()

	var runErr error
	if err := cmd.Start(); err != nil {
		runErr = fmt.Errorf("failed to start: %w", err)
	} else if err := cmd.Wait(); err != nil {
		runErr = fmt.Errorf("test exited with non-zero status: %w", err)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			runErr = fmt.Errorf("test killed %s after its -test.timeout of %s: %w", killGrace, timeout, err)
		}
	}
	// test2json ends at the end of its input.
	w.Close()
	rr := <-relayed
	if err := j.Wait(); err != nil && runErr == nil {
		runErr = fmt.Errorf("test2json exited with non-zero status: %w", err)
	}
	if rr.err != nil && runErr == nil {
		runErr = rr.err
	}
	switch {
	case cmd.Process == nil:
		return "error", runErr
	case runErr != nil || rr.action != "pass":
		return "fail", runErr
	}
	return "pass", nil
}

type relayResult struct {
	action string
	err    error
}

// relay reads test2json's events from r and passes each to emit, printing
// a progress mark on con as each test of pkg starts and ends. It returns the
// package's own final action ("pass" or "fail"; "" if there was none). A
// failing emit (the 9p share) is reported once and does not stop the marks.
func relay(r io.Reader, con *console, pkg string, emit func(event) error) (string, error) {
	var final string
	var emitErr error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			log.Printf("%s: test2json printed a line that is not an event: %q", pkg, sc.Text())
			continue
		}
		switch {
		case e.Test == "" && (e.Action == progress.Pass || e.Action == progress.Fail):
			final = e.Action
		case e.Test != "" && e.Action == progress.Run:
			con.mark(progress.Mark{Action: progress.Run, Package: pkg, Test: e.Test})
		case e.Test != "" && (e.Action == progress.Pass || e.Action == progress.Fail || e.Action == progress.Skip):
			con.mark(progress.Mark{Action: e.Action, Package: pkg, Test: e.Test,
				Elapsed: time.Duration(e.Elapsed * float64(time.Second))})
		}
		if emitErr == nil {
			if err := emit(e); err != nil {
				emitErr = fmt.Errorf("writing test events: %w", err)
				log.Printf("%s: %v", pkg, emitErr)
			}
		}
	}
	if err := sc.Err(); err != nil {
		// Keep test2json, and so the test binary, from blocking.
		_, _ = io.Copy(io.Discard, r)
		return final, fmt.Errorf("reading test2json's events: %w", err)
	}
	return final, emitErr
}
