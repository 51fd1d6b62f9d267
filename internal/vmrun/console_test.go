package vmrun

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

const (
	pkgBaseline  = "github.com/emptypidfd/emptypidfd/selftests/baseline"
	pkgLifecycle = "github.com/emptypidfd/emptypidfd/selftests/lifecycle"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logRecorder collects what a monitor logs.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *logRecorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func newTestMonitor(echo ...string) (*monitor, *fakeClock, *logRecorder) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	rec := &logRecorder{}
	m := newMonitor("vm", rec.logf, echo)
	m.now = clock.Now
	m.lastOut = clock.Now()
	return m, clock, rec
}

// feed writes console output to m a byte at a time, as a slow serial
// line might deliver it.
func feed(t *testing.T, m *monitor, s string) {
	t.Helper()
	if _, err := io.Copy(m, iotest.OneByteReader(strings.NewReader(s))); err != nil {
		t.Fatalf("writing to the monitor: %v", err)
	}
}

// A guest console as guestrun and the kernel print it.
const consoleStream = "Linux version 6.12.117-emptypidfd\r\n" +
	"ACPI Error: Aborting method \\_SB.PCI0._PRT due to previous error (AE_AML_LOOP_TIMEOUT)\r\n" +
	"vmrun: begin\r\n" +
	"vmrun: start " + pkgBaseline + "\r\n" +
	"=== RUN   TestA\r\n" +
	"vmrun: run " + pkgBaseline + " TestA\r\n" +
	"    baseline_test.go:10: not echoed\r\n" +
	"--- PASS: TestA (1.50s)\r\n" +
	"vmrun: pass " + pkgBaseline + " TestA (1.50s)\r\n" +
	"bench: cell 1 of 3\r\n" +
	"PASS\r\n" +
	"vmrun: end " + pkgBaseline + " pass (2.00s)\r\n" +
	"vmrun-guest: " + pkgLifecycle + ": failed to start: exec format error\r\n" +
	"panic: test timed out after 25m0s\r\n" +
	"vmrun: done"

func TestMonitorStreamsProgress(t *testing.T) {
	m, _, rec := newTestMonitor("bench: ")
	feed(t, m, consoleStream)
	if err := m.Close(); err != nil { // the last line has no newline
		t.Fatal(err)
	}
	want := []string{
		`[vm] kernel error report (acpi) at console line 2: ACPI Error: Aborting method \_SB.PCI0._PRT due to previous error (AE_AML_LOOP_TIMEOUT)`,
		"[vm] guest test runner started",
		"[vm] start baseline",
		"[vm] run   baseline/TestA",
		"[vm] pass  baseline/TestA (1.50s)",
		"[vm] bench: cell 1 of 3",
		"[vm] end   baseline: pass (2.00s)",
		"[vm] vmrun-guest: " + pkgLifecycle + ": failed to start: exec format error",
		"[vm] panic: test timed out after 25m0s",
		"[vm] guest test runner finished",
	}
	if got := rec.get(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if m.lines != 15 {
		t.Errorf("counted %d lines, want 15", m.lines)
	}
}

func TestSilence(t *testing.T) {
	const limit = 5 * time.Minute
	for _, tc := range []struct {
		name    string
		console string
		want    []string // substrings of the message
	}{
		{
			name:    "stuck in boot, before the runner (9p never answered)",
			console: "ACPI Error: Aborting method \\_SB.PCI0._PRT\nRun /init as init process\n",
			want: []string{
				"printed nothing for 5m0s",
				"the guest test runner never started",
				`line 2: "Run /init as init process"`,
			},
		},
		{
			name: "a test that hangs",
			console: "vmrun: begin\n" +
				"vmrun: start " + pkgLifecycle + "\n" +
				"vmrun: run " + pkgLifecycle + " TestKillWhileExecing\n" +
				"=== RUN   TestKillWhileExecing\n",
			want: []string{
				"last running: guest package lifecycle, test TestKillWhileExecing (started 5m0s ago)",
				`line 4: "=== RUN   TestKillWhileExecing"`,
			},
		},
		{
			name: "a subtest that hangs names the subtest first",
			console: "vmrun: begin\n" +
				"vmrun: start " + pkgLifecycle + "\n" +
				"vmrun: run " + pkgLifecycle + " TestA\n" +
				"vmrun: run " + pkgLifecycle + " TestA/sub\n" +
				"half a line",
			want: []string{
				"guest package lifecycle, tests TestA/sub (started 5m0s ago), TestA (started 5m0s ago)",
				`line 5, unfinished: "half a line"`,
			},
		},
		{
			name: "between tests",
			console: "vmrun: begin\n" +
				"vmrun: start " + pkgLifecycle + "\n" +
				"vmrun: run " + pkgLifecycle + " TestA\n" +
				"vmrun: fail " + pkgLifecycle + " TestA (0.10s)\n",
			want: []string{"guest package lifecycle (started 5m0s ago), between tests; the last test to end was TestA (fail)"},
		},
		{
			name: "between packages",
			console: "vmrun: begin\n" +
				"vmrun: start " + pkgBaseline + "\n" +
				"vmrun: end " + pkgBaseline + " pass (1.00s)\n",
			want: []string{"between guest packages: baseline had ended (pass)"},
		},
		{
			name:    "shutting down",
			console: "vmrun: begin\nvmrun: done\n",
			want:    []string{"the guest test runner had finished every package"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clock, _ := newTestMonitor()
			feed(t, m, tc.console)
			clock.Advance(limit - time.Second)
			if why, silent := m.silence(limit); silent {
				t.Errorf("silent before the limit: %s", why)
			}
			clock.Advance(time.Second)
			why, silent := m.silence(limit)
			if !silent {
				t.Fatalf("not silent after %s of no output", limit)
			}
			for _, w := range tc.want {
				if !strings.Contains(why, w) {
					t.Errorf("message %q\ndoes not say %q", why, w)
				}
			}
		})
	}
}

func TestSilenceRestartsWithOutput(t *testing.T) {
	m, clock, _ := newTestMonitor()
	for i := 0; i < 10; i++ {
		clock.Advance(4 * time.Minute)
		feed(t, m, "tick\n")
		if why, silent := m.silence(5 * time.Minute); silent {
			t.Fatalf("silent after %d lines 4 minutes apart: %s", i+1, why)
		}
	}
	// Part of a line is output too.
	clock.Advance(4 * time.Minute)
	feed(t, m, "no newline yet")
	clock.Advance(4 * time.Minute)
	if why, silent := m.silence(5 * time.Minute); silent {
		t.Fatalf("silent 4 minutes after a partial line: %s", why)
	}
}

// TestWatchStopsASilentGuest runs the watchdog on the real clock with a
// short limit, against a fake guest that goes quiet in a test.
func TestWatchStopsASilentGuest(t *testing.T) {
	m := newMonitor("vm", t.Logf, nil)
	stopped := make(chan string, 1)
	m.stop = func(why string) { stopped <- why }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const limit = 300 * time.Millisecond
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.watch(ctx, limit, 10*time.Millisecond)
	}()

	// A guest that prints more often than the limit is not stopped.
	feed(t, m, "vmrun: begin\nvmrun: start "+pkgLifecycle+"\n")
	for i := 0; i < 10; i++ {
		feed(t, m, fmt.Sprintf("vmrun: run %s TestStep%d\n", pkgLifecycle, i))
		time.Sleep(limit / 6)
		feed(t, m, fmt.Sprintf("vmrun: pass %s TestStep%d (0.05s)\n", pkgLifecycle, i))
	}
	select {
	case why := <-stopped:
		t.Fatalf("stopped a guest that printed every %s: %s", limit/6, why)
	default:
	}

	begin := time.Now()
	feed(t, m, "vmrun: run "+pkgLifecycle+" TestHang\n")
	select {
	case why := <-stopped:
		if d := time.Since(begin); d < limit {
			t.Errorf("stopped after %s of silence, before the limit %s", d, limit)
		}
		if !strings.Contains(why, "guest package lifecycle, test TestHang") {
			t.Errorf("stop reason %q does not name the hanging test", why)
		}
	case <-ctx.Done():
		t.Fatal("the watchdog never stopped a guest silent for 10s")
	}
	<-done // watch returns after it stopped the guest
}

func TestWatchEndsWithTheVM(t *testing.T) {
	m := newMonitor("vm", t.Logf, nil)
	m.stop = func(why string) { t.Errorf("stopped: %s", why) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.watch(ctx, time.Hour, time.Millisecond)
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not return when its context ended")
	}
}

func TestSilenceLimit(t *testing.T) {
	for _, tc := range []struct {
		cfg     time.Duration
		env     string
		want    time.Duration
		wantErr bool
	}{
		{0, "", DefaultSilence, false},
		{20 * time.Minute, "", 20 * time.Minute, false},
		{20 * time.Minute, "60s", time.Minute, false},
		{0, "0", 0, false}, // off
		{0, "5", 0, true},  // no unit
		{0, "-1m", 0, true},
		{0, "soon", 0, true},
	} {
		got, err := silenceLimit(tc.cfg, tc.env)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("silenceLimit(%s, %q) = %s, %v; want %s, error %v", tc.cfg, tc.env, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestKernelArgs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "console=ttyS0 pci=noacpi cgroup_no_v1=pids"},
		{"console=ttyS0", "console=ttyS0 pci=noacpi cgroup_no_v1=pids"},
		{"console=ttyS0 VMTEST_IN_GUEST=1", "console=ttyS0 VMTEST_IN_GUEST=1 pci=noacpi cgroup_no_v1=pids"},
		{"console=ttyS0,115200 pci=noacpi", "console=ttyS0,115200 pci=noacpi cgroup_no_v1=pids"},
		{"pci=nomsi,noacpi console=ttyS0", "pci=nomsi,noacpi console=ttyS0 cgroup_no_v1=pids"},
		{"console=tty0 pci=nomsi", "console=tty0 pci=nomsi console=ttyS0 pci=noacpi cgroup_no_v1=pids"},
		{"  console=ttyS0   pci=noacpi  ", "console=ttyS0 pci=noacpi cgroup_no_v1=pids"},
		{"cgroup_no_v1=all console=ttyS0 pci=noacpi", "cgroup_no_v1=all console=ttyS0 pci=noacpi"},
	} {
		if got := kernelArgs(tc.in); got != tc.want {
			t.Errorf("kernelArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// Applying it twice adds nothing.
		if got := kernelArgs(kernelArgs(tc.in)); got != tc.want {
			t.Errorf("kernelArgs twice on %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}
