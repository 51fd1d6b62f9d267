package upstream

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"
)

// timeline records a selftest's output as it comes: the raw bytes for the
// TAP parser, and each line stamped with the time since the start, so a
// log shows which test took the time (the harness prints none) and a
// heartbeat can say which one is running.
type timeline struct {
	start time.Time
	now   func() time.Time

	mu      sync.Mutex
	raw     bytes.Buffer
	stamped strings.Builder
	partial []byte
	current string // the last "# RUN" line's test, "" when none runs
}

func newTimeline(now func() time.Time) *timeline {
	return &timeline{start: now(), now: now}
}

func (l *timeline) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// line stamps one complete line and follows the harness's RUN/OK lines.
func (l *timeline) line(s string) {
	fmt.Fprintf(&l.stamped, "[%8.3fs] %s\n", l.now().Sub(l.start).Seconds(), s)
	t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "#"))
	switch {
	case strings.HasPrefix(t, "RUN "):
		l.current = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(t, "RUN ")), "..."))
	case strings.HasPrefix(t, "OK ") || strings.HasPrefix(t, "FAIL ") || strings.HasPrefix(t, "SKIP "):
		l.current = ""
	}
}

// Raw is everything written, unstamped.
func (l *timeline) Raw() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.raw.Bytes())
}

// Stamped is every line with its time, and an unfinished last line as is.
func (l *timeline) Stamped() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stamped.String()
	if len(l.partial) > 0 {
		s += fmt.Sprintf("[%8.3fs] %s (no newline)\n", l.now().Sub(l.start).Seconds(), l.partial)
	}
	return s
}

// Running names the harness test that started last and has not ended.
func (l *timeline) Running() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}
