package spawn

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
)

func TestSigIgn(t *testing.T) {
	tests := []struct {
		name   string
		status string
		want   uint64
		ok     bool
	}{
		{"present", "Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\nSigCgt:\t0\n", 0x1001, true},
		{"none ignored", "Name:\tx\nSigIgn:\t0000000000000000\n", 0, true},
		{"cut inside the line", "Name:\tx\nSigIgn:\t00000000", 0, false},
		{"cut before the newline", "Name:\tx\nSigIgn:\t0000000000001001", 0, false},
		{"absent", "Name:\tx\nSigCgt:\t0000000000001001\n", 0, false},
		{"not at a line's start", "Name:\tSigIgn:\t1\n", 0, false},
		{"not hex", "Name:\tx\nSigIgn:\tzz\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := sigIgn([]byte(tt.status))
			if got != tt.want || ok != tt.ok {
				t.Errorf("sigIgn(%q) = %#x, %v; want %#x, %v", tt.status, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestIgnoredSignals reads the set after signal.Ignore, and after
// signal.Notify gives the signal a handler again: what a forked child
// would keep ignored.
func TestIgnoredSignals(t *testing.T) {
	const bit = uint64(1) << (syscall.SIGUSR2 - 1)
	signal.Ignore(syscall.SIGUSR2)
	got, err := ignoredSignals()
	if err != nil {
		t.Fatal(err)
	}
	if got&bit == 0 {
		t.Errorf("SIGUSR2 ignored, but ignoredSignals() = %#x", got)
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR2)
	defer signal.Reset(syscall.SIGUSR2)
	if got, err = ignoredSignals(); err != nil {
		t.Fatal(err)
	}
	if got&bit != 0 {
		t.Errorf("SIGUSR2 handled, but ignoredSignals() = %#x", got)
	}
}

// TestIgnoredSignalsAsStatus checks the rt_sigaction() queries against
// the kernel's own SigIgn, with a signal ignored and without.
func TestIgnoredSignalsAsStatus(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		if ignore {
			signal.Ignore(syscall.SIGUSR1)
			defer func() {
				c := make(chan os.Signal, 1)
				signal.Notify(c, syscall.SIGUSR1)
				signal.Stop(c)
			}()
		}
		got, err := ignoredSignals()
		if err != nil {
			t.Fatal(err)
		}
		want, err := ignoredSignalsFromStatus()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("SIGUSR1 ignored %v: ignoredSignals() = %#x, SigIgn %#x", ignore, got, want)
		}
		if ignore && got&(1<<(syscall.SIGUSR1-1)) == 0 {
			t.Errorf("SIGUSR1 ignored, but not in %#x", got)
		}
	}
}
