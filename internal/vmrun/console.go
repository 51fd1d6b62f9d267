package vmrun

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
	"github.com/emptypidfd/emptypidfd/internal/vmrun/progress"
)

// monitor watches the guest's serial console as QEMU prints it. It follows
// the guest runner's progress marks, logs them and other lines worth seeing
// live (kernel error reports, panics, Config.Echo lines) to the host test log,
// and remembers when the console last printed, for the silence watchdog.
type monitor struct {
	name string               // the VM's name, prefixed to what it logs
	logf func(string, ...any) // the host test log (t.Logf)
	echo []string             // prefixes of lines to log as they are
	now  func() time.Time     // the clock; time.Now but in tests
	stop func(why string)     // what the watchdog calls; set before watch

	mu         sync.Mutex
	partial    []byte    // the start of a line not yet ended
	lines      int       // lines ended so far
	lastLine   string    // the last non-empty line
	lastLineNo int       // its line number in the console log
	lastOut    time.Time // when the console last printed anything
	pos        guestPos
}

// guestPos is what the progress marks say the guest is doing.
type guestPos struct {
	begun, done bool
	pkg         string    // the package running, "" between packages
	pkgStart    time.Time // when pkg started
	lastPkg     string    // the package that ended last
	lastResult  string    // and its result
	lastTest    string    // the test that ended last in pkg
	running     []runningTest
}

type runningTest struct {
	name  string
	start time.Time
}

func newMonitor(name string, logf func(string, ...any), echo []string) *monitor {
	m := &monitor{
		name: name,
		logf: logf,
		echo: append([]string{"panic:", "vmrun-guest: "}, echo...),
		now:  time.Now,
	}
	m.lastOut = m.now()
	return m
}

// Write takes console output as QEMU prints it, in pieces of any size.
func (m *monitor) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	m.lastOut = m.now()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m.partial = append(m.partial, p...)
			break
		}
		m.partial = append(m.partial, p[:i]...)
		m.line(string(m.partial))
		m.partial = m.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Close ends a last line that had no newline.
func (m *monitor) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.partial) > 0 {
		m.line(string(m.partial))
		m.partial = nil
	}
	return nil
}

// line handles one console line; m.mu is held.
func (m *monitor) line(s string) {
	m.lines++
	s = strings.TrimRight(s, "\r")
	if strings.TrimSpace(s) != "" {
		m.lastLine, m.lastLineNo = s, m.lines
	}
	if mk, ok := progress.Parse(s); ok {
		m.pos.apply(mk, m.now())
		m.logf("[%s] %s", m.name, describeMark(mk))
		return
	}
	if kind, ok := consolelog.Match(s); ok {
		m.logf("[%s] kernel error report (%s) at console line %d: %s", m.name, kind, m.lines, s)
		return
	}
	for _, p := range m.echo {
		if strings.HasPrefix(s, p) {
			m.logf("[%s] %s", m.name, s)
			return
		}
	}
}

// describeMark is how a mark reads in the host test log.
func describeMark(mk progress.Mark) string {
	pkg := path.Base(mk.Package)
	switch mk.Action {
	case progress.Begin:
		return "guest test runner started"
	case progress.Done:
		return "guest test runner finished"
	case progress.Start:
		return "start " + pkg
	case progress.Run:
		return fmt.Sprintf("run   %s/%s", pkg, mk.Test)
	case progress.Pass, progress.Fail, progress.Skip:
		return fmt.Sprintf("%-5s %s/%s (%.2fs)", mk.Action, pkg, mk.Test, mk.Elapsed.Seconds())
	case progress.End:
		return fmt.Sprintf("end   %s: %s (%.2fs)", pkg, mk.Result, mk.Elapsed.Seconds())
	}
	return mk.String()
}

// apply updates p with mark mk, seen at now.
func (p *guestPos) apply(mk progress.Mark, now time.Time) {
	switch mk.Action {
	case progress.Begin:
		p.begun = true
	case progress.Done:
		p.done = true
	case progress.Start:
		p.begun = true
		p.pkg, p.pkgStart, p.lastTest, p.running = mk.Package, now, "", nil
	case progress.Run:
		p.running = append(p.running, runningTest{mk.Test, now})
	case progress.Pass, progress.Fail, progress.Skip:
		for i, r := range p.running {
			if r.name == mk.Test {
				p.running = append(p.running[:i], p.running[i+1:]...)
				break
			}
		}
		p.lastTest = mk.Test + " (" + mk.Action + ")"
	case progress.End:
		p.lastPkg, p.lastResult = mk.Package, mk.Result
		p.pkg, p.lastTest, p.running = "", "", nil
	}
}

// describe says, for a failure message, what the guest was doing at now.
func (p *guestPos) describe(now time.Time) string {
	ago := func(t time.Time) string { return now.Sub(t).Round(time.Second).String() }
	switch {
	case !p.begun:
		return "the guest test runner never started: the guest was still booting or mounting its 9p share"
	case p.done:
		return "the guest test runner had finished every package: the guest was shutting down"
	case p.pkg == "" && p.lastPkg == "":
		return "the guest test runner had started but not yet its first package"
	case p.pkg == "":
		return fmt.Sprintf("between guest packages: %s had ended (%s), the next had not started", path.Base(p.lastPkg), p.lastResult)
	case len(p.running) == 0:
		s := fmt.Sprintf("guest package %s (started %s ago), between tests", path.Base(p.pkg), ago(p.pkgStart))
		if p.lastTest != "" {
			s += "; the last test to end was " + p.lastTest
		}
		return s
	}
	// The latest test to start is the innermost subtest, or the
	// last of parallel ones; name them all, latest first.
	var tests []string
	for i := len(p.running) - 1; i >= 0; i-- {
		r := p.running[i]
		tests = append(tests, fmt.Sprintf("%s (started %s ago)", r.name, ago(r.start)))
	}
	noun := "test"
	if len(tests) > 1 {
		noun = "tests"
	}
	return fmt.Sprintf("guest package %s, %s %s", path.Base(p.pkg), noun, strings.Join(tests, ", "))
}

// running says what the guest is doing, as the marks so far say.
func (m *monitor) running() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos.describe(m.now())
}

// silence reports whether the console has printed nothing for at least
// limit, and if so a message naming what the guest was doing.
func (m *monitor) silence(limit time.Duration) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	quiet := now.Sub(m.lastOut)
	if quiet < limit {
		return "", false
	}
	last := "none"
	switch {
	case strings.TrimSpace(string(m.partial)) != "":
		last = fmt.Sprintf("line %d, unfinished: %q", m.lines+1, strings.TrimRight(string(m.partial), "\r"))
	case m.lastLine != "":
		last = fmt.Sprintf("line %d: %q", m.lastLineNo, m.lastLine)
	}
	return fmt.Sprintf("the guest console printed nothing for %s; last running: %s; last console line: %s",
		quiet.Round(time.Second), m.pos.describe(now), last), true
}

// watch checks every interval until ctx is done whether the console has
// been silent for limit; the first time it has, it calls m.stop with the
// reason and returns. Silence counts from the call (qemu starts its tasks
// right before QEMU), not from newMonitor: building the initramfs takes
// a while and is not the guest's silence.
func (m *monitor) watch(ctx context.Context, limit, interval time.Duration) {
	m.mu.Lock()
	m.lastOut = m.now()
	m.mu.Unlock()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if why, silent := m.silence(limit); silent {
				m.stop(why)
				return
			}
		}
	}
}
