package heartbeat

import (
	"testing"
	"time"
)

// recorder counts Logf calls; the rest of testing.TB is the real test's.
type recorder struct {
	testing.TB
	lines chan string
}

func (r *recorder) Logf(format string, args ...any) { r.lines <- format }

func TestStartLogsUntilStopped(t *testing.T) {
	r := &recorder{TB: t, lines: make(chan string, 100)}
	stop := Start(r, "step", 5*time.Millisecond)
	select {
	case <-r.lines:
	case <-time.After(5 * time.Second):
		t.Fatal("no heartbeat line within 5 s")
	}
	stop()
	stop() // twice is fine
	n := len(r.lines)
	time.Sleep(30 * time.Millisecond)
	if len(r.lines) != n {
		t.Errorf("%d lines logged after stop", len(r.lines)-n)
	}
}
