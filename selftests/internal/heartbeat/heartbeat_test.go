package heartbeat

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// recorder counts Logf calls; the rest of testing.TB is the real test's.
type recorder struct {
	testing.TB
	lines chan string
}

func (r *recorder) Logf(format string, args ...any) { r.lines <- fmt.Sprintf(format, args...) }

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

func TestStartStatusNamesTheStep(t *testing.T) {
	tests := []struct {
		status string
		want   string
	}{
		{"", "step still running after "},
		{"empty.chain_of_spawns", ": empty.chain_of_spawns"},
	}
	for _, tt := range tests {
		r := &recorder{TB: t, lines: make(chan string, 100)}
		stop := StartStatus(r, "step", 5*time.Millisecond, func() string { return tt.status })
		select {
		case line := <-r.lines:
			if !strings.Contains(line, tt.want) || (tt.status == "" && strings.Contains(line, ": ")) {
				t.Errorf("status %q: line %q, want it to contain %q", tt.status, line, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat line within 5 s")
		}
		stop()
	}
}
