package results

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Interval is a point estimate with a confidence interval around it. Lo and
// Hi are NaN when there was nothing to resample (no per-round data).
type Interval struct {
	Point, Lo, Hi float64
}

// HasCI reports whether the interval was computed.
func (iv Interval) HasCI() bool { return !math.IsNaN(iv.Lo) && !math.IsNaN(iv.Hi) }

// Excludes reports whether v lies outside the interval: for a ratio and
// v = 1, whether the difference is significant at the interval's level.
func (iv Interval) Excludes(v float64) bool { return iv.HasCI() && (v < iv.Lo || v > iv.Hi) }

// Bootstrap computes paired, two-level bootstrap confidence intervals of
// ratios between two cells of the same sweep cell (caller size and thread
// count). Rounds are the unit of pairing: round i of one method ran close
// in time to round i of the other, in the same boot, so a resample draws
// the same round indices for both, with replacement (level one), then
// draws latencies with replacement within each drawn round (level two).
// The first level carries the drift between rounds, the second the spread
// within one. The interval is the percentile interval of the resampled
// ratios. The zero value uses DefaultResamples, a 95% level and seed 0.
//
// Drawing both levels counts the spread within rounds twice (once in how
// the round medians differ, once in the draws within a round), so the
// interval errs on the wide side: on fake runs with no difference, none
// of 200 intervals excluded 1 where 5% would be nominal.
type Bootstrap struct {
	Resamples int     // 0 means DefaultResamples
	Level     float64 // 0 means 0.95
	Seed      uint64  // with the stream of each call, fixes the resamples
}

// DefaultResamples is the number of bootstrap resamples of the zero
// Bootstrap: enough for stable 2.5% and 97.5% quantiles.
const DefaultResamples = 2000

func (b Bootstrap) params() (int, float64) {
	n, level := b.Resamples, b.Level
	if n <= 0 {
		n = DefaultResamples
	}
	if level <= 0 || level >= 1 {
		level = 0.95
	}
	return n, level
}

// MedianRatio returns median(x)/median(base), the medians over every
// latency of the paired rounds, with its interval. x and base are the
// latencies of each round (Cell.RepLatNS); round i of x pairs with round i
// of base, and rounds past the shorter of the two are left out. stream
// selects an independent random sequence, so that each pair of cells can
// have its own and the result does not depend on the order of calls.
func (b Bootstrap) MedianRatio(x, base [][]int64, stream uint64) (Interval, error) {
	n := min(len(x), len(base))
	if n == 0 {
		return Interval{}, errors.New("no paired rounds")
	}
	sx, err := newPooled(x[:n])
	if err != nil {
		return Interval{}, fmt.Errorf("method: %w", err)
	}
	sb, err := newPooled(base[:n])
	if err != nil {
		return Interval{}, fmt.Errorf("baseline: %w", err)
	}
	iv := Interval{Point: sx.median() / sb.median()}
	resamples, level := b.params()
	rng := rand.NewPCG(b.Seed, stream)
	rounds := make([]int, n)
	ratios := make([]float64, resamples)
	for i := range ratios {
		for j := range rounds {
			rounds[j] = int(rng.Uint64() % uint64(n)) // n is small: no visible bias
		}
		ratios[i] = sx.resample(rng, rounds) / sb.resample(rng, rounds)
	}
	iv.Lo, iv.Hi = quantiles(ratios, level)
	return iv, nil
}

// RateRatio returns median(x)/median(base) of per-round values (spawns per
// second, Cell.RepSpawnsPerSec) with its interval: one level, the rounds,
// paired by index as in MedianRatio.
func (b Bootstrap) RateRatio(x, base []float64, stream uint64) (Interval, error) {
	n := min(len(x), len(base))
	if n == 0 {
		return Interval{}, errors.New("no paired rounds")
	}
	x, base = x[:n], base[:n]
	if slices.ContainsFunc(base, func(v float64) bool { return v <= 0 }) {
		return Interval{}, errors.New("baseline has a round with no throughput")
	}
	iv := Interval{Point: MedianFloat(x) / MedianFloat(base)}
	resamples, level := b.params()
	rng := rand.New(rand.NewPCG(b.Seed, stream))
	bx, bb := make([]float64, n), make([]float64, n)
	ratios := make([]float64, resamples)
	for i := range ratios {
		for j := range n {
			r := rng.IntN(n)
			bx[j], bb[j] = x[r], base[r]
		}
		ratios[i] = medianInPlace(bx) / medianInPlace(bb)
	}
	iv.Lo, iv.Hi = quantiles(ratios, level)
	return iv, nil
}

// pooled holds the latencies of one cell's rounds for resampling. Instead
// of sorting or selecting in every resample, each latency is replaced by
// its rank among all of them: a resample then only counts how often each
// rank was drawn, and the median is where the running count crosses half,
// one pass over an array that stays in cache.
type pooled struct {
	sorted []int64   // every latency, ascending
	ranks  [][]int32 // per round, the rank of each of its latencies in sorted
	counts []int32   // scratch: draws per rank in the current resample
}

func newPooled(rounds [][]int64) (*pooled, error) {
	type tagged struct {
		v        int64
		round, i int32
	}
	var all []tagged
	p := &pooled{ranks: make([][]int32, len(rounds))}
	for r, lat := range rounds {
		if len(lat) == 0 {
			return nil, fmt.Errorf("round %d has no latencies", r)
		}
		p.ranks[r] = make([]int32, len(lat))
		for i, v := range lat {
			all = append(all, tagged{v, int32(r), int32(i)})
		}
	}
	if len(all) > math.MaxInt32 {
		return nil, fmt.Errorf("%d latencies are too many", len(all))
	}
	slices.SortFunc(all, func(a, b tagged) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	p.sorted = make([]int64, len(all))
	for k, t := range all {
		p.sorted[k] = t.v
		p.ranks[t.round][t.i] = int32(k)
	}
	p.counts = make([]int32, len(all))
	return p, nil
}

// median of all the latencies.
func (p *pooled) median() float64 {
	n := len(p.sorted)
	return (float64(p.sorted[(n-1)/2]) + float64(p.sorted[n/2])) / 2
}

// resample draws, for each round index in rounds, as many latencies as
// that round has, with replacement from it, and returns the median of all
// the draws.
func (p *pooled) resample(rng *rand.PCG, rounds []int) float64 {
	clear(p.counts)
	total := 0
	for _, r := range rounds {
		rk := p.ranks[r]
		n := uint64(len(rk))
		// Two draws per random word, each by Lemire's multiply-shift of
		// 32 bits: the bias, under n/2^32, is far below the noise.
		i := 0
		for ; i+1 < len(rk); i += 2 {
			u := rng.Uint64()
			p.counts[rk[((u&math.MaxUint32)*n)>>32]]++
			p.counts[rk[((u>>32)*n)>>32]]++
		}
		if i < len(rk) {
			p.counts[rk[((rng.Uint64()&math.MaxUint32)*n)>>32]]++
		}
		total += len(rk)
	}
	lo, hi := (total-1)/2, total/2 // 0-based ranks of the middle draws
	k, seen := 0, int(p.counts[0])
	for seen <= lo {
		k++
		seen += int(p.counts[k])
	}
	vlo := p.sorted[k]
	for seen <= hi {
		k++
		seen += int(p.counts[k])
	}
	return (float64(vlo) + float64(p.sorted[k])) / 2
}

// medianInPlace returns the median of xs, reordering them.
func medianInPlace(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	return (xs[(n-1)/2] + xs[n/2]) / 2
}

// quantiles returns the (1-level)/2 and (1+level)/2 quantiles of xs
// (sorting them), by linear interpolation between order statistics.
func quantiles(xs []float64, level float64) (float64, float64) {
	slices.Sort(xs)
	q := func(p float64) float64 {
		pos := p * float64(len(xs)-1)
		i := int(pos)
		if i+1 >= len(xs) {
			return xs[len(xs)-1]
		}
		return xs[i] + (pos-float64(i))*(xs[i+1]-xs[i])
	}
	return q((1 - level) / 2), q((1 + level) / 2)
}
