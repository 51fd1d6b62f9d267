// Package heartbeat logs that a long, silent step of a guest test still
// runs, so that the host's watchdog, which stops a VM whose console is
// silent for too long, does not take it for a hung guest.
package heartbeat

import (
	"sync"
	"testing"
	"time"
)

// Start logs "<what> still running after <d>" every period until the
// returned stop is called (or the test ends: a Fatal in between must not
// leave it logging after the test). stop waits for the last line, and
// may be called more than once.
func Start(t testing.TB, what string, period time.Duration) (stop func()) {
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
				t.Logf("%s still running after %v", what, time.Since(start).Round(time.Second))
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
