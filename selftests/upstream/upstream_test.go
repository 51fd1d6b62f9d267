// Package upstream runs the kernel tree's own pidfd, clone3 and exec
// selftests (built on the host by scripts/kselftests.sh and put in the
// initramfs at /kselftests) and reports each TAP result as a subtest.
//
// A result that cannot pass in the test VM for a reason outside this
// project's code is listed, with the reason, in testdata/known-issues.txt;
// a listed binary is run all the same and must fail, a listed result must
// fail (it is then logged, not skipped), nothing else may fail, and an entry
// that did not fail is reported so the list does not go stale.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/ktap"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
	"github.com/emptypidfd/emptypidfd/selftests/internal/heartbeat"
)

const (
	root      = "/kselftests"
	perBinary = 10 * time.Minute

	// heartbeatPeriod is how often a running selftest is reported.
	heartbeatPeriod = time.Minute

	// pidfd_test's "signal recycled pid" case forks until the pid space
	// wraps around to pid 1000 (PID_RECYCLE). At the default pid_max of
	// 32768 that is ~33000 forks: over 20 minutes on the debug kernel
	// under TCG. The test is written for any pid_max (it reads the wrap
	// from the pids it gets), so run the collection with a small one.
	// 1024 still lies above PID_RECYCLE and RESERVED_PIDS (300).
	pidfdPidMax = 1024
)

// devFd makes /dev/fd a link to /proc/self/fd, as a distribution's
// userspace does (udev, systemd) and u-root's init does not: exec's
// execveat test runs scripts through fds, which bash opens as /dev/fd/N.
func devFd(t *testing.T) {
	t.Helper()
	if _, err := os.Lstat("/dev/fd"); err == nil {
		return
	}
	if err := os.Symlink("/proc/self/fd", "/dev/fd"); err != nil {
		t.Fatalf("linking /dev/fd to /proc/self/fd: %v", err)
	}
}

// setPidMax sets kernel.pid_max for the duration of the test.
func setPidMax(t *testing.T, max int) {
	t.Helper()
	const path = "/proc/sys/kernel/pid_max"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading pid_max: %v", err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(max)), 0); err != nil {
		t.Fatalf("setting pid_max to %d: %v", max, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0); err != nil {
			t.Errorf("restoring pid_max: %v", err)
		}
	})
}

// knownIssues maps "collection:binary" or "collection:binary:result name" to
// the reason it cannot pass in the VM. A binary's key written with a
// leading "~" is in mayPass too: whether it fails depends on the machine's
// speed (a timeout), and a run in which it passes is judged as any other.
func knownIssues(t *testing.T) (known map[string]string, mayPass map[string]bool) {
	t.Helper()
	f, err := os.Open("testdata/known-issues.txt")
	if err != nil {
		t.Fatalf("known issues list: %v", err)
	}
	defer f.Close()
	m, may := map[string]string{}, map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, ok := strings.Cut(line, " ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("known-issues.txt: %q has no reason", line)
		}
		if k, ok := strings.CutPrefix(key, "~"); ok {
			if strings.Count(k, ":") != 1 {
				t.Fatalf("known-issues.txt: %q: only a whole binary may pass", line)
			}
			key, may[k] = k, true
		}
		m[key] = strings.TrimSpace(reason)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("known issues list: %v", err)
	}
	return m, may
}

// binaryArgs maps "collection:binary" to the arguments it runs with.
func binaryArgs(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile("testdata/args.txt")
	if err != nil {
		t.Fatalf("selftest arguments: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		m[f[0]] = f[1:]
	}
	return m
}

// binaryTimeouts maps "collection:binary" to how long it may run, where
// that is not perBinary.
func binaryTimeouts(t *testing.T) map[string]time.Duration {
	t.Helper()
	b, err := os.ReadFile("testdata/timeouts.txt")
	if err != nil {
		t.Fatalf("selftest timeouts: %v", err)
	}
	m := map[string]time.Duration{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) < 3 {
			t.Fatalf("timeouts.txt: %q wants a binary, a duration and a reason", line)
		}
		d, err := time.ParseDuration(f[1])
		if err != nil || d <= 0 {
			t.Fatalf("timeouts.txt: %q: bad duration %q", line, f[1])
		}
		m[f[0]] = d
	}
	return m
}

// searchableRoot lets every user reach the selftests and the shared
// libraries they are linked with: the guest's "/" comes from the initramfs
// with whatever mode the archive gave it, where a real system's is 0755.
// The selftests that run programs as another user (nobody, uid 1000) need
// it, as they would on any machine.
func searchableRoot(t *testing.T) {
	t.Helper()
	for _, d := range []string{"/", root} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatalf("searchable %s: %v", d, err)
		}
		mode := fi.Mode() & (os.ModePerm | os.ModeSticky)
		if mode&0o011 == 0o011 {
			continue
		}
		if err := os.Chmod(d, mode|0o011); err != nil {
			t.Fatalf("letting other users search %s (mode %v): %v", d, mode, err)
		}
	}
}

func TestKselftests(t *testing.T) {
	guest.Require(t)
	list, err := os.ReadFile(filepath.Join(root, "kselftest-list.txt"))
	if err != nil {
		t.Fatalf("no kselftests in the initramfs: %v", err)
	}
	known, mayPass := knownIssues(t)
	args := binaryArgs(t)
	timeouts := binaryTimeouts(t)
	used := map[string]bool{}
	ran := map[string]bool{} // collection:binary, when -test.run selected it
	devFd(t)
	searchableRoot(t)
	for _, entry := range strings.Fields(string(list)) {
		collection, bin, ok := strings.Cut(entry, ":")
		if !ok {
			t.Fatalf("kselftest-list.txt: bad entry %q", entry)
		}
		t.Run(collection+"/"+bin, func(t *testing.T) {
			ran[entry] = true
			runBinary(t, collection, bin, known, mayPass[entry], used, args, timeouts[entry])
		})
	}
	for key := range known {
		// An entry of a binary that -test.run left out says nothing.
		fields := strings.SplitN(key, ":", 3)
		if !used[key] && ran[fields[0]+":"+fields[1]] {
			t.Errorf("known-issues.txt lists %q, which did not fail: remove it", key)
		}
	}
}

// runBinary runs one selftest binary for at most timeout (perBinary when 0)
// and reports its results.
func runBinary(t *testing.T, collection, bin string, known map[string]string, mayPass bool, used map[string]bool, args map[string][]string, timeout time.Duration) {
	key := collection + ":" + bin
	binaryReason, binaryKnown := known[key]
	if collection == "pidfd" {
		setPidMax(t, pidfdPidMax)
	}
	if timeout == 0 {
		timeout = perBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./"+bin, args[key]...)
	cmd.Dir = filepath.Join(root, collection)
	// Kill the whole process group on timeout: a selftest's children
	// keep the output pipe open and would otherwise hang the wait.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	// A selftest's output comes when it exits; say that it still runs,
	// so that a long one (7.3's pidfd_test waits for a pid to recycle in
	// a pid namespace of its own, whose pid_max kernel.pid_max no longer
	// sets) is not taken for a hung guest by the host's watchdog.
	out := newTimeline(time.Now)
	cmd.Stdout = out
	cmd.Stderr = out
	stop := heartbeat.StartStatus(t, bin, heartbeatPeriod, out.Running)
	err := cmd.Run()
	stop()
	t.Logf("%s exited after %v: %v; output, each line with its time since the start:\n%s", bin, time.Since(start).Round(time.Millisecond), err, out.Stamped())

	// Why the binary failed, by every check, known issues or not.
	var runFailure string
	var exitErr *exec.ExitError
	status := 0
	switch {
	case ctx.Err() != nil:
		runFailure = fmt.Sprintf("timed out after %v (killed)", timeout)
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		status = exitErr.ExitCode()
	default:
		runFailure = fmt.Sprintf("running %s: %v", bin, err)
	}
	rep, perr := ktap.Parse(bytes.NewReader(out.Raw()))
	if perr != nil {
		runFailure = perr.Error()
	}

	// A binary listed as a whole must run and fail: when it passes, the
	// entry is stale.
	if binaryKnown {
		why := runFailure
		if why == "" {
			if o, w := ktap.Judge(rep, status, nil); o == ktap.OutcomeFail {
				why = w
			}
		}
		switch {
		case why != "":
			used[key] = true
			t.Logf("failed as known-issues.txt expects (%s): %s", why, binaryReason)
			return
		case !mayPass:
			t.Errorf("known-issues.txt lists %s (%q), but it ran and did not fail: remove the entry", key, binaryReason)
			return
		}
		// Fast enough this time: its results count as any binary's.
		used[key] = true
		t.Logf("passed, which known-issues.txt allows (~%s): %s", key, binaryReason)
	}
	if runFailure != "" {
		t.Fatalf("%s: %s", bin, runFailure)
	}

	isKnown := func(res ktap.Result) bool {
		_, ok := known[key+":"+res.Name]
		return ok
	}
	for _, res := range rep.Results {
		name := res.Name
		if name == "" {
			name = fmt.Sprintf("#%d", res.Number)
		}
		// A "/" would nest subtests (execveat's names hold paths).
		name = strings.ReplaceAll(name, "/", "_")
		t.Run(name, func(t *testing.T) {
			switch res.Status {
			case ktap.Fail:
				if isKnown(res) {
					// A known issue is checked, not skipped: it
					// must fail, and it did.
					used[key+":"+res.Name] = true
					t.Logf("not ok %d %s: failed as known-issues.txt expects: %s", res.Number, res.Name, known[key+":"+res.Name])
					return
				}
				t.Errorf("not ok %d %s%s", res.Number, res.Name, why(res))
			case ktap.Skip:
				t.Skipf("skipped by the selftest: %s", res.Directive)
			}
		})
	}
	// Failure counts every result that is not a known issue; a known
	// failure does not switch off the plan, bail-out and exit checks.
	switch outcome, why := ktap.Judge(rep, status, isKnown); outcome {
	case ktap.OutcomeSkip:
		t.Skipf("%s %s", bin, why)
	case ktap.OutcomeFail:
		t.Errorf("%s: %s", bin, why)
	}
}

// assertionRE matches the lines kselftest_harness prints for a failed
// assertion or a TH_LOG: "file.c:LINE:test:text".
var assertionRE = regexp.MustCompile(`^[^ :]+\.c:\d+:`)

// harnessStepRE matches the harness's own lines around each test, which say
// nothing about why it failed.
var harnessStepRE = regexp.MustCompile(`^(RUN|OK|FAIL|SKIP)\s`)

// why is what a failed result's diagnostics say about its failure, on one
// line (a CI log's summary keeps a failed test's last error lines, not their
// continuation lines): its assertion lines, else its last diagnostic line that is not the harness's.
func why(res ktap.Result) string {
	var lines []string
	for _, d := range res.Diagnostics {
		if assertionRE.MatchString(d) {
			lines = append(lines, d)
		}
	}
	for i := len(res.Diagnostics) - 1; i >= 0 && len(lines) == 0; i-- {
		if d := res.Diagnostics[i]; !harnessStepRE.MatchString(d) {
			lines = append(lines, d)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, " | ")
}
