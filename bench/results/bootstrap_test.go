package results

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// fakeRounds returns rounds of latencies in ns: log-normal around median
// µs, each round shifted by up to ±drift (a fraction) as rounds of a real
// run drift, from a fixed seed.
func fakeRounds(seed uint64, rounds, perRound int, median, drift float64) [][]int64 {
	rng := rand.New(rand.NewPCG(seed, 0))
	out := make([][]int64, rounds)
	for r := range out {
		shift := 1 + drift*(2*rng.Float64()-1)
		out[r] = make([]int64, perRound)
		for i := range out[r] {
			out[r][i] = int64(median * 1000 * shift * math.Exp(0.3*rng.NormFloat64()))
		}
	}
	return out
}

func scale(rounds [][]int64, k float64) [][]int64 {
	out := make([][]int64, len(rounds))
	for r, lat := range rounds {
		out[r] = make([]int64, len(lat))
		for i, v := range lat {
			out[r][i] = int64(float64(v) * k)
		}
	}
	return out
}

func TestMedianRatio(t *testing.T) {
	base := fakeRounds(1, 6, 300, 1500, 0.05)
	tests := []struct {
		name        string
		x, base     [][]int64
		point       float64 // want, within 3%
		contains    []float64
		excludes    []float64
		maxWidth    float64 // Hi-Lo at most this
		significant bool
		wantErr     string
	}{
		{
			name: "same distribution, other draws: the interval holds 1",
			x:    fakeRounds(2, 6, 300, 1500, 0.05), base: base,
			point: 1, contains: []float64{1}, maxWidth: 0.3,
		},
		{
			// Within a round, the draws of the two cells are independent:
			// their spawns were not paired one by one, only their rounds.
			name: "the very same latencies: 1, with the spread of the rounds",
			x:    base, base: base,
			point: 1, contains: []float64{1}, maxWidth: 0.1,
		},
		{
			name: "twice as slow: the interval holds 2, not 1",
			x:    scale(fakeRounds(3, 6, 300, 1500, 0.05), 2), base: base,
			point: 2, contains: []float64{2}, excludes: []float64{1, 1.8, 2.2}, significant: true,
		},
		{
			name: "half as slow",
			x:    scale(base, 0.5), base: base,
			point: 0.5, contains: []float64{0.5}, excludes: []float64{1}, significant: true,
		},
		{
			name: "round counts differ: paired up to the shorter",
			// The baseline's extra rounds are ten times slower; paired
			// up to three rounds they are left out.
			x:     fakeRounds(4, 3, 300, 1500, 0.05),
			base:  append(fakeRounds(5, 3, 300, 1500, 0.05), scale(base[:3], 10)...),
			point: 1, contains: []float64{1},
		},
		{name: "no rounds", x: nil, base: base, wantErr: "no paired rounds"},
		{
			name: "an empty round", x: [][]int64{{1}, {}}, base: [][]int64{{1}, {2}},
			wantErr: "method: round 1 has no latencies",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv, err := Bootstrap{Seed: 42}.MedianRatio(tt.x, tt.base, 7)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MedianRatio: error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(iv.Point/tt.point-1) > 0.03 {
				t.Errorf("point %v, want %v", iv.Point, tt.point)
			}
			if !(iv.Lo <= iv.Point && iv.Point <= iv.Hi) {
				t.Errorf("point %v outside its interval [%v, %v]", iv.Point, iv.Lo, iv.Hi)
			}
			for _, v := range tt.contains {
				if iv.Excludes(v) {
					t.Errorf("interval [%v, %v] excludes %v", iv.Lo, iv.Hi, v)
				}
			}
			for _, v := range tt.excludes {
				if !iv.Excludes(v) {
					t.Errorf("interval [%v, %v] holds %v", iv.Lo, iv.Hi, v)
				}
			}
			if tt.maxWidth > 0 && iv.Hi-iv.Lo > tt.maxWidth {
				t.Errorf("interval [%v, %v] wider than %v", iv.Lo, iv.Hi, tt.maxWidth)
			}
			if got := iv.Excludes(1); got != tt.significant {
				t.Errorf("significant = %v, want %v ([%v, %v])", got, tt.significant, iv.Lo, iv.Hi)
			}
		})
	}
}

func TestMedianRatioDeterministic(t *testing.T) {
	x, base := fakeRounds(1, 5, 200, 1000, 0.1), fakeRounds(2, 5, 200, 1100, 0.1)
	a, err := Bootstrap{Seed: 1}.MedianRatio(x, base, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Bootstrap{Seed: 1}.MedianRatio(x, base, 3)
	if a != b {
		t.Errorf("same seed and stream, different intervals: %+v and %+v", a, b)
	}
	c, _ := Bootstrap{Seed: 1}.MedianRatio(x, base, 4)
	if c == a {
		t.Errorf("another stream gave the very same interval %+v", a)
	}
	if c.Point != a.Point {
		t.Errorf("the point depends on the stream: %v and %v", a.Point, c.Point)
	}
}

// TestResampleMedian checks the rank-counting median of a resample against
// drawing the same values from the same random sequence and sorting them.
func TestResampleMedian(t *testing.T) {
	for _, tt := range []struct {
		name   string
		rounds [][]int64
		picks  []int
	}{
		{"odd total", [][]int64{{5, 1, 9}, {2, 2, 8, 7}}, []int{0, 1, 1}},
		{"even total", [][]int64{{5, 1, 9}, {2, 2, 8, 7}}, []int{1, 1, 0, 0, 0}},
		{"one value", [][]int64{{3}}, []int{0}},
		{"ties", [][]int64{{4, 4, 4}, {4, 4}}, []int{0, 1}},
		{"real sizes", fakeRounds(9, 4, 301, 1000, 0.2), []int{3, 3, 0, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPooled(tt.rounds)
			if err != nil {
				t.Fatal(err)
			}
			var all []int64
			for _, r := range tt.rounds {
				all = append(all, r...)
			}
			if got, want := p.median(), Median(all); got != want {
				t.Errorf("median %v, want %v", got, want)
			}
			for seed := range uint64(20) {
				got := p.resample(rand.NewPCG(seed, 0), tt.picks)
				// The same draws, the simple way: two 32-bit halves of
				// each random word, low half first.
				rng := rand.NewPCG(seed, 0)
				var draws []int64
				for _, r := range tt.picks {
					lat := tt.rounds[r]
					var words []uint64
					for range (len(lat) + 1) / 2 {
						u := rng.Uint64()
						words = append(words, u&math.MaxUint32, u>>32)
					}
					for i := range lat {
						draws = append(draws, lat[words[i]*uint64(len(lat))>>32])
					}
				}
				if want := Median(draws); got != want {
					t.Fatalf("seed %d: resample median %v, want %v (draws %v)", seed, got, want, draws)
				}
			}
		})
	}
}

func TestRateRatio(t *testing.T) {
	tests := []struct {
		name        string
		x, base     []float64
		point       float64
		significant bool
		wantErr     string
	}{
		{
			name: "noisy, no difference",
			x:    []float64{100, 90, 110, 105, 95, 100}, base: []float64{98, 102, 95, 108, 100, 99},
			point: 100.0 / 99.5,
		},
		{
			name: "twice the rate",
			x:    []float64{200, 190, 210, 205, 195, 200}, base: []float64{98, 102, 95, 108, 100, 99},
			point: 200 / 99.5, significant: true,
		},
		{
			name: "paired up to the shorter",
			x:    []float64{100, 100}, base: []float64{50, 50, 1e6},
			point: 2, significant: true,
		},
		{name: "nothing", x: nil, base: []float64{1}, wantErr: "no paired rounds"},
		{name: "zero baseline", x: []float64{1}, base: []float64{0}, wantErr: "no throughput"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv, err := Bootstrap{}.RateRatio(tt.x, tt.base, 1)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("RateRatio: error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(iv.Point-tt.point) > 1e-9 {
				t.Errorf("point %v, want %v", iv.Point, tt.point)
			}
			if got := iv.Excludes(1); got != tt.significant {
				t.Errorf("significant = %v, want %v ([%v, %v])", got, tt.significant, iv.Lo, iv.Hi)
			}
		})
	}
}

func TestInterval(t *testing.T) {
	none := Interval{Point: 2, Lo: math.NaN(), Hi: math.NaN()}
	if none.HasCI() || none.Excludes(1) {
		t.Errorf("an interval without bounds has a CI or excludes 1")
	}
	iv := Interval{Point: 1.1, Lo: 1.05, Hi: 1.2}
	if !iv.HasCI() || !iv.Excludes(1) || iv.Excludes(1.1) {
		t.Errorf("%+v: wrong HasCI/Excludes", iv)
	}
}

// BenchmarkMedianRatio is one cell pair of a typical report: 6 rounds of
// about 200 latencies each.
func BenchmarkMedianRatio(b *testing.B) {
	x, base := fakeRounds(1, 6, 200, 1000, 0.1), fakeRounds(2, 6, 200, 1100, 0.1)
	for b.Loop() {
		if _, err := (Bootstrap{}).MedianRatio(x, base, 1); err != nil {
			b.Fatal(err)
		}
	}
}
