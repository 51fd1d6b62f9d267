package results

import (
	"math"
	"slices"
)

// Median returns the median of xs: the middle value, or the mean of the two
// middle values for an even count. xs need not be sorted; it is not changed.
// The median of nothing is 0.
func Median(xs []int64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := sorted(xs)
	if n%2 == 1 {
		return float64(s[n/2])
	}
	return (float64(s[n/2-1]) + float64(s[n/2])) / 2
}

// MedianFloat is Median for float64 values.
func MedianFloat(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Percentile returns the p-th percentile of xs (0 < p <= 100) by the
// nearest-rank method: the smallest value with at least p% of the values at
// or below it, always one of the values. With fewer than 100 values the
// 99th percentile is the maximum. The percentile of nothing is 0.
func Percentile(xs []int64, p float64) int64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := sorted(xs)
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = max(1, min(rank, n))
	return s[rank-1]
}

func sorted(xs []int64) []int64 {
	if slices.IsSorted(xs) {
		return xs
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}
