package report

import (
	"hash/fnv"
	"math"
	"runtime"
	"sync"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Bootstrap is how the report computes the intervals of its ratios: the
// default resamples and level, and a fixed seed, so that the same
// results.jsonl always gives the same report.
var Bootstrap = results.Bootstrap{Seed: 20261123}

// ratio is a method's ratios to its variant's baseline in one sweep cell.
type ratio struct {
	lat, rate results.Interval
	ok        bool // both cells are there, available, with a positive baseline
}

type ratioKey struct {
	key
	method string
}

// noCI is a ratio without an interval.
func noCI(point float64) results.Interval {
	return results.Interval{Point: point, Lo: math.NaN(), Hi: math.NaN()}
}

// ratios computes every method's ratios to its baseline, on all CPUs: the
// bootstrap is most of a report's time. A cell without per-round data
// (results.jsonl of an older run) gets the point ratios without intervals.
func (g grid) ratios(bs results.Bootstrap) map[ratioKey]ratio {
	type job struct {
		rk      ratioKey
		c, base results.Cell
	}
	var jobs []job
	out := map[ratioKey]ratio{}
	for _, k := range g.keys {
		for _, id := range g.methods {
			c, ok := g.cells[k][id]
			if !ok || !c.Available {
				continue
			}
			base, ok := g.cells[k][baselineOf(id)]
			if !ok || !base.Available || base.MedianUS <= 0 || base.SpawnsPerSec <= 0 {
				continue
			}
			jobs = append(jobs, job{ratioKey{k, id}, c, base})
		}
	}
	done := make([]ratio, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				j := jobs[i]
				done[i] = cellRatio(bs, j.rk, j.c, j.base)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, j := range jobs {
		out[j.rk] = done[i]
	}
	return out
}

func cellRatio(bs results.Bootstrap, rk ratioKey, c, base results.Cell) ratio {
	r := ratio{
		ok:   true,
		lat:  noCI(c.MedianUS / base.MedianUS),
		rate: noCI(c.SpawnsPerSec / base.SpawnsPerSec),
	}
	if rk.method == baselineOf(rk.method) {
		// The baseline against itself: exactly 1, nothing to estimate.
		r.lat, r.rate = results.Interval{Point: 1, Lo: 1, Hi: 1}, results.Interval{Point: 1, Lo: 1, Hi: 1}
		return r
	}
	stream := streamOf(rk)
	if iv, err := bs.MedianRatio(c.RepLatNS, base.RepLatNS, stream); err == nil {
		r.lat = iv
	}
	if iv, err := bs.RateRatio(c.RepSpawnsPerSec, base.RepSpawnsPerSec, stream^1); err == nil {
		r.rate = iv
	}
	return r
}

// streamOf names the random stream of a pair of cells by what they are,
// so that an interval does not change when other cells come or go.
func streamOf(rk ratioKey) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(rk.rss >> (8 * i))
		b[8+i] = byte(rk.threads >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(rk.method))
	return h.Sum64() &^ 1 // the low bit tells latency from throughput
}

// baselineOf returns the baseline of the method with that ID; an unknown
// method is compared with the bare baseline.
func baselineOf(id string) string {
	if m, ok := results.MethodByID(id); ok {
		return results.BaselineOf(m)
	}
	return results.Baseline
}

// variantOf returns the variant of the method with that ID; unknown
// methods count as bare.
func variantOf(id string) string {
	if m, ok := results.MethodByID(id); ok {
		return m.Variant
	}
	return results.VariantBare
}
