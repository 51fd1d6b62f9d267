package main

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
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
	lat, wall, err := interleaved(rng, spawns, n, iters, 1)
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
	if _, _, err := interleaved(rng, spawns, n, iters, 1); !errors.Is(err, boom) {
		t.Errorf("a failing spawn: error %v, want %v", err, boom)
	}
}

// TestBarrier checks that every goroutine leaves at the wait where one
// failed, none before (a goroutine slow to wake from the wait before must
// not take the next one's failure for its own) and none after.
func TestBarrier(t *testing.T) {
	const n, waits, failAt = 3, 200, 150
	for range 20 {
		b := newBarrier(n)
		out := make([]int, n)
		var wg sync.WaitGroup
		for g := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range waits {
					var err error
					if i == failAt && g == n-1 {
						err = errors.New("boom")
					}
					if !b.wait(err) {
						out[g] = i
						return
					}
				}
				out[g] = waits
			}()
		}
		wg.Wait()
		for g, i := range out {
			if i != failAt {
				t.Fatalf("goroutine %d left at wait %d, want %d", g, i, failAt)
			}
		}
	}
	if b := newBarrier(1); !b.wait(nil) || b.wait(errors.New("boom")) || b.wait(nil) {
		t.Errorf("one goroutine: want true, then false from the failed wait on")
	}
}

// TestInterleavedSlots checks where a latency lands: goroutine g's spawn
// of step j at g*iters+j. Each function sleeps longer at each step, so a
// latency in another step's slot is too short.
func TestInterleavedSlots(t *testing.T) {
	const n, iters, k = 2, 4, 2
	const unit = 500 * time.Microsecond
	var calls [k]atomic.Int64
	spawns := make([]func() error, k)
	for f := range spawns {
		spawns[f] = func() error {
			step := (calls[f].Add(1) - 1) / n // all goroutines make step j together
			time.Sleep(time.Duration(step+1) * unit)
			return nil
		}
	}
	lat, _, err := interleaved(rand.New(rand.NewPCG(3, 0)), spawns, n, iters, 1)
	if err != nil {
		t.Fatal(err)
	}
	for f := range k {
		for g := range n {
			for j := range iters {
				if l := time.Duration(lat[f][g*iters+j]); l < time.Duration(j+1)*unit {
					t.Errorf("function %d, goroutine %d, step %d: latency %v, shorter than that step's sleep of %v",
						f, g, j, l, time.Duration(j+1)*unit)
				}
			}
		}
	}
}

// TestInterleavedBlocks checks the order with blocks: each step makes
// block spawns of each function in a row, on every goroutine.
func TestInterleavedBlocks(t *testing.T) {
	for _, tt := range []struct{ n, iters, block int }{{1, 6, 1}, {1, 6, 3}, {2, 4, 2}, {1, 5, 5}} {
		ch := make(chan int, 2*tt.n*tt.iters)
		spawns := []func() error{
			func() error { ch <- 0; return nil },
			func() error { ch <- 1; return nil },
		}
		if _, _, err := interleaved(rand.New(rand.NewPCG(5, 0)), spawns, tt.n, tt.iters, tt.block); err != nil {
			t.Fatal(err)
		}
		close(ch)
		var got, want []int
		for f := range ch {
			got = append(got, f)
		}
		again := rand.New(rand.NewPCG(5, 0))
		for range tt.iters / tt.block {
			for _, f := range stepOrder(again, 2) {
				for range tt.block * tt.n {
					want = append(want, f)
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("n %d, iters %d, block %d: order %v, want %v", tt.n, tt.iters, tt.block, got, want)
		}
	}
	if _, _, err := interleaved(rand.New(rand.NewPCG(5, 0)), nil, 1, 5, 2); err == nil {
		t.Errorf("5 spawns in blocks of 2: no error")
	}
}
