package main

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestStepOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 0))
	const k, steps = 3, 3000
	first := make([]int, k)
	after := make([][]int, k) // after[a][b]: b right after a
	for i := range after {
		after[i] = make([]int, k)
	}
	for range steps {
		order := stepOrder(rng, k)
		if got := slices.Sorted(slices.Values(order)); !reflect.DeepEqual(got, []int{0, 1, 2}) {
			t.Fatalf("stepOrder = %v, not a permutation of 0..%d", order, k-1)
		}
		first[order[0]]++
		for i := 1; i < k; i++ {
			after[order[i-1]][order[i]]++
		}
	}
	// Each method first in about a third of the steps, and each ordered
	// pair adjacent in a third (a permutation of 3 has 2 of the 6 pairs):
	// 1000 expected, and 20% off is more than 6 standard deviations.
	for f, n := range first {
		if n < 800 || n > 1200 {
			t.Errorf("method %d first in %d of %d steps", f, n, steps)
		}
	}
	for a := range k {
		for b := range k {
			if n := after[a][b]; a != b && (n < 800 || n > 1200) {
				t.Errorf("method %d right after %d in %d of %d steps", b, a, n, steps)
			}
		}
	}
}

// TestInterleaved checks the schedule: every step makes each function's
// spawns on all goroutines before the next function's, in stepOrder, and
// each latency lands in its function's slot.
func TestInterleaved(t *testing.T) {
	const n, iters = 2, 4
	var trace []int
	ch := make(chan int, 3*n*iters)
	spawns := make([]func() error, 3)
	for i := range spawns {
		spawns[i] = func() error { ch <- i; time.Sleep(time.Microsecond); return nil }
	}
	rng := rand.New(rand.NewPCG(7, 0))
	lat, wall, err := interleaved(rng, spawns, n, iters)
	if err != nil {
		t.Fatal(err)
	}
	close(ch)
	for f := range ch {
		trace = append(trace, f)
	}
	var want []int
	again := rand.New(rand.NewPCG(7, 0)) // the same orders
	for range iters {
		for _, f := range stepOrder(again, 3) {
			want = append(want, f, f) // n goroutines
		}
	}
	if !reflect.DeepEqual(trace, want) {
		t.Errorf("spawn order %v, want %v", trace, want)
	}
	for f := range spawns {
		if len(lat[f]) != n*iters {
			t.Errorf("function %d: %d latencies, want %d", f, len(lat[f]), n*iters)
		}
		for i, l := range lat[f] {
			if l <= 0 {
				t.Errorf("function %d: latency %d is %d", f, i, l)
			}
		}
		if wall[f] <= 0 {
			t.Errorf("function %d: wall time %v", f, wall[f])
		}
	}

	boom := errors.New("boom")
	ok := func() error { return nil }
	spawns = []func() error{ok, func() error { return boom }, ok}
	if _, _, err := interleaved(rng, spawns, n, iters); !errors.Is(err, boom) {
		t.Errorf("a failing spawn: error %v, want %v", err, boom)
	}
}
