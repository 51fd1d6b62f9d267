// Package heartbeat logs that a long, silent step of a guest test still
// runs, so that the host's watchdog, which stops a VM whose console is
// silent for too long, does not take it for a hung guest.
package heartbeat

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Start logs "<what> still running after <d>" every period until the
// returned stop is called (or the test ends: a Fatal in between must not
// leave it logging after the test). stop waits for the last line, and
// may be called more than once.
func Start(t testing.TB, what string, period time.Duration) (stop func()) {
	return StartStatus(t, what, period, nil)
}

// StartStatus is Start with a line's end from status (when not nil and
// not empty): what the step is doing now.
func StartStatus(t testing.TB, what string, period time.Duration, status func() string) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				line := fmt.Sprintf("%s still running after %v", what, time.Since(start).Round(time.Second))
				if status != nil {
					if s := status(); s != "" {
						line += ": " + s
					}
				}
				t.Logf("%s", line)
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			<-finished
		})
	}
	t.Cleanup(stop)
	return stop
}
