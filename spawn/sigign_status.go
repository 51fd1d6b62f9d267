//go:build mips || mipsle || mips64 || mips64le

package spawn

// ignoredSignals is the caller's set of ignored signals 1 to 64 from
// /proc/self/status: MIPS's struct sigaction starts with the flags and its
// sigset_t has 128 bits, so the rt_sigaction() queries of the other
// architectures do not apply.
func ignoredSignals() (uint64, error) { return ignoredSignalsFromStatus() }
