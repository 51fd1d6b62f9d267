package results

import (
	"fmt"
	"strings"
)

// The clock modes of a run. A timed run's latencies are the guest's
// clock, which follows the host's (under TCG: emulated time). A counted
// run has QEMU count instructions (-icount shift=0,sleep=off): the
// guest's clocks advance one nanosecond per instruction executed, by any
// vCPU, and jump over idle time, so a latency is an instruction count.
const (
	ModeTimed   = "timed"
	ModeCounted = "counted"
)

// ICountOptions are the -icount options of 'make bench BENCH_ICOUNT=1'.
const ICountOptions = "shift=0,sleep=off"

// VM is what a QEMU command line says about a run.
type VM struct {
	Accel  string // "tcg" or "kvm"
	Mode   string // ModeTimed or ModeCounted
	ICount string // the -icount options of a counted run
}

// ParseQEMU reads the accelerator and the clock mode from a QEMU command
// line (VMTEST_QEMU). -icount needs TCG: with KVM it is an error, as it is
// to QEMU.
func ParseQEMU(cmd string) (VM, error) {
	vm := VM{Accel: "tcg", Mode: ModeTimed}
	args := strings.Fields(cmd)
	for i := 0; i < len(args); i++ {
		a := args[i]
		opt, isOpt := strings.CutPrefix(a, "-")
		opt = strings.TrimPrefix(opt, "-") // QEMU takes -opt and --opt alike
		switch {
		case !isOpt:
		case opt == "enable-kvm":
			vm.Accel = "kvm"
		case opt == "accel" || opt == "machine" || opt == "M":
			if i+1 < len(args) {
				i++
				if accel := accelOf(opt, args[i]); accel != "" {
					vm.Accel = accel
				}
			}
		case opt == "icount":
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return VM{}, fmt.Errorf("QEMU command %q: -icount without its options (want -icount %s)", cmd, ICountOptions)
			}
			i++
			vm.Mode, vm.ICount = ModeCounted, args[i]
		}
	}
	if vm.Mode == ModeCounted && vm.Accel != "tcg" {
		return VM{}, fmt.Errorf("QEMU command %q: -icount counts instructions only under TCG, not %s", cmd, vm.Accel)
	}
	return vm, nil
}

// accelOf returns the accelerator an -accel or -machine argument names,
// or "" if it names none.
func accelOf(opt, arg string) string {
	for i, f := range strings.Split(arg, ",") {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case opt == "accel" && i == 0 && !ok:
			return strings.Split(k, ":")[0]
		case k == "accel" && ok:
			return strings.Split(v, ":")[0]
		}
	}
	return ""
}
