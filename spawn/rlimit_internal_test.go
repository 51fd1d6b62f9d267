package spawn

import "testing"

// TestRoomBelow: the soft limit is lowered for an embryo only when the
// caller keeps rlimitHeadroom free descriptors below the lowered limit.
func TestRoomBelow(t *testing.T) {
	for _, tt := range []struct {
		low   int
		limit uint64
		want  bool
	}{
		{3, 1024, true},
		{1024 - rlimitHeadroom, 1024, true},
		{1024 - rlimitHeadroom + 1, 1024, false},
		{2000, 1024, false},
		{-1, 1024, false},
	} {
		if got := roomBelow(tt.low, tt.limit); got != tt.want {
			t.Errorf("roomBelow(%d, %d) = %v, want %v", tt.low, tt.limit, got, tt.want)
		}
	}
	low, err := lowestFreeFD()
	if err != nil || low < 0 {
		t.Fatalf("lowestFreeFD: %d, %v", low, err)
	}
}
