// The race detector would report the race this test makes on purpose.
//go:build !race

package spawn

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// A caller that writes its Env while a Start reads it (a race, as with
// os/exec) may spoil that Start, never a kept environment: each kept
// copy is the one its vector was laid out from.
func TestEnvVectorRacyWriter(t *testing.T) {
	resetEnvCache()
	env := make([]string, 200)
	for i := range env {
		env[i] = fmt.Sprintf("K%03d=v", i)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			env[199] = fmt.Sprintf("K199=%d", i%2)
		}
	}()
	defer func() { stop.Store(true); <-done }()
	for n := 0; n < 20000; n++ {
		e, err := (&Cmd{Env: env}).envVector()
		if err != nil {
			t.Fatal(err)
		}
		keepEnv(e)
		for i := range envCache.slots {
			if k := envCache.slots[i].Load(); k != nil && !slices.Equal(k.raw, k.vec.Strings()) {
				t.Fatalf("after %d Starts a kept environment differs from its vector: %q against %q", n+1, k.raw[199], k.vec.Strings()[199])
			}
		}
	}
}
