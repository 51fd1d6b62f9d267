package consolelog

import (
	"slices"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	for _, tc := range []struct {
		name  string
		log   string
		kinds []string
	}{
		{
			name: "clean boot and test output",
			log: `Linux version 6.12.117-emptypidfd (root@host) #1 SMP
Run /init as init process
=== RUN   TestPidfdOpen
    baseline_test.go:20: bug in nothing: WARNING about nothing
--- PASS: TestPidfdOpen (0.01s)
reboot: Power down`,
		},
		{
			name: "WARN_ON splat",
			log: `------------[ cut here ]------------
WARNING: CPU: 1 PID: 93 at kernel/pid.c:612 __do_sys_pidfd_open+0x1a/0x90
Modules linked in:
Call Trace:
 <TASK>`,
			kinds: []string{"warning", "stack-trace"},
		},
		{
			name:  "KASAN",
			log:   "==================================================================\nBUG: KASAN: slab-use-after-free in pidfs_free_pid+0x30/0x50",
			kinds: []string{"kasan"},
		},
		{
			name:  "lockdep circular",
			log:   "======================================================\nWARNING: possible circular locking dependency detected\n6.12.117-emptypidfd #2 Not tainted",
			kinds: []string{"lockdep"},
		},
		{
			name:  "sleeping in atomic",
			log:   "BUG: sleeping function called from invalid context at kernel/locking/mutex.c:585",
			kinds: []string{"bug"},
		},
		{
			name:  "oops and panic",
			log:   "Oops: general protection fault, probably for non-canonical address 0xdffffc0000000000\nKernel panic - not syncing: Fatal exception",
			kinds: []string{"oops", "panic"},
		},
		{
			name:  "kernel message glued to test output",
			log:   "=== RUN   TestX\nhello from the childBUG: unable to handle page fault for address: 0000000000000008",
			kinds: []string{"bug"},
		},
		{
			name:  "hung task and rcu stall",
			log:   "INFO: task init:1 blocked for more than 120 seconds.\nrcu: INFO: rcu_sched detected stalls on CPUs/tasks:",
			kinds: []string{"hung-task", "rcu-stall"},
		},
		{
			name:  "rcu self-detected stall",
			log:   "rcu: INFO: rcu_preempt self-detected stall on CPU\nrcu: \t1-....: (2100 ticks this GP) idle=9f4c/1/0x4000000000000000 softirq=4242/4243 fqs=1045",
			kinds: []string{"rcu-stall"},
		},
		{
			name:  "rcu expedited stall",
			log:   "rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 1-... } 21003 jiffies s: 137 root: 0x2/.",
			kinds: []string{"rcu-stall"},
		},
		{
			name: "ACPI Error: the PCI routing table times out",
			log: `ACPI: PCI Root Bridge [PCI0] (domain 0000 [bus 00-ff])
ACPI Error: Aborting method \_SB.PCI0._PRT due to previous error (AE_AML_LOOP_TIMEOUT) (20240827/psparse-529)
virtio-pci 0000:00:03.0: can't derive routing for PCI INT A`,
			kinds: []string{"acpi"},
		},
		{
			name:  "ACPI BIOS Error",
			log:   "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PCI0.S08], AE_NOT_FOUND (20240827/dswload2-162)",
			kinds: []string{"acpi"},
		},
		{
			name:  "ACPI Exception",
			log:   "ACPI Exception: AE_NOT_FOUND, During name lookup/catalog (20240827/psobject-220)",
			kinds: []string{"acpi"},
		},
		{
			name:  "AML loop timeout without the ACPI Error head",
			log:   "acpi PNP0A03:00: _PRT evaluation failed (AE_AML_LOOP_TIMEOUT)",
			kinds: []string{"acpi"},
		},
		{
			name: "ordinary ACPI and PCI boot messages",
			log: `ACPI: Core revision 20240827
ACPI: Interpreter enabled
ACPI: Using IOAPIC for interrupt routing
PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug
PCI: Using configuration type 1 for base access
    lifecycle_test.go:40: no ACPI errors expected here (AE_OK)`,
		},
		{
			name:  "ubsan, debug objects, list corruption",
			log:   "UBSAN: shift-out-of-bounds in fs/exec.c:10:2\nODEBUG: free active (active state 0) object: x\nlist_del corruption. prev->next should be y",
			kinds: []string{"ubsan", "debug-objects", "list-corruption"},
		},
		{
			name:  "kmemleak suspects and kmemleak off",
			log:   "kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)\nkmemleak: Kernel memory leak detector disabled",
			kinds: []string{"kmemleak", "kmemleak"},
		},
		{
			name: "kmemleak quiet",
			log:  "kmemleak: Kernel memory leak detector initialized (mem pool available: 15000)\nvmrun-guest: kmemleak: no suspected leaks",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Scan(strings.NewReader(tc.log))
			if err != nil {
				t.Fatalf("Scan: %v", err)
			}
			var kinds []string
			for _, f := range got {
				kinds = append(kinds, f.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tc.kinds, ",") {
				t.Errorf("Scan found %v, want %v", got, tc.kinds)
			}
		})
	}
}

func TestScanRaces(t *testing.T) {
	log := `[   12.1] ==================================================================
[   12.1] BUG: KCSAN: data-race in pidfd_embryo_state / pidfd_config_locked.isra.0
[   12.1]
[   12.1] write to 0xffff888004b0c0a0 of 4 bytes by task 210 on cpu 1:
[   12.1]  pidfd_config_locked.isra.0+0x3c/0x120
[   12.1]  __do_sys_pidfd_config+0x9a/0x140
[   12.1]  do_syscall_64+0x5e/0x130
[   12.1]
[   12.1] read to 0xffff888004b0c0a0 of 4 bytes by task 211 on cpu 0:
[   12.1]  pidfd_embryo_state+0x11/0x30
[   12.1]
[   12.1] Reported by Kernel Concurrency Sanitizer on:
[   12.1] CPU: 0 UID: 0 PID: 211 Comm: stress.test Not tainted 7.3.4-emptypidfd
[   12.1] ==================================================================
[   13.0] unrelated+0x1/0x2
[   14.0] BUG: KCSAN: data-race in tick_sched_do_timer / tick_nohz_idle_stop_tick
[   14.0] read-write to 0xffffffff8a0 of 4 bytes by interrupt on cpu 0:
[   14.0]  tick_sched_do_timer+0x1/0x2
[   14.0] ==================================================================
`
	got, err := ScanRaces(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d reports, want 2: %+v", len(got), got)
	}
	if got[0].Line != 2 || got[0].Header != "BUG: KCSAN: data-race in pidfd_embryo_state / pidfd_config_locked.isra.0" {
		t.Errorf("first report: %+v", got[0])
	}
	want := [][]string{{"pidfd_config_locked", "__do_sys_pidfd_config", "do_syscall_64"}, {"pidfd_embryo_state"}}
	if !slices.EqualFunc(got[0].Stacks, want, slices.Equal) {
		t.Errorf("first report's stacks: %v, want %v", got[0].Stacks, want)
	}
	if want := [][]string{{"tick_sched_do_timer"}}; !slices.EqualFunc(got[1].Stacks, want, slices.Equal) {
		t.Errorf("second report's stacks: %v, want %v (a frame after the rule is not part of a report)", got[1].Stacks, want)
	}
	for _, tc := range []struct {
		in    func(string) bool
		depth int
		want  string
	}{
		// The header's functions first.
		{func(f string) bool { return strings.HasPrefix(f, "pidfd_") }, 3, "pidfd_embryo_state"},
		{func(f string) bool { return f == "pidfd_config_locked" }, 3, "pidfd_config_locked"},
		{func(f string) bool { return f == "__do_sys_pidfd_config" }, 2, "__do_sys_pidfd_config"},
		{func(f string) bool { return f == "do_syscall_64" }, 2, ""}, // too deep
		{func(f string) bool { return f == "pidfd_embryo_state" }, 1, "pidfd_embryo_state"},
	} {
		f, ok := got[0].Touches(tc.in, tc.depth)
		if f != tc.want || ok != (tc.want != "") {
			t.Errorf("Touches(depth %d) = %q, %v; want %q", tc.depth, f, ok, tc.want)
		}
	}
	if f, ok := got[1].Touches(func(string) bool { return false }, 3); ok {
		t.Errorf("Touches = %q, true for a report outside the series", f)
	}
	if kind, ok := Match(got[0].Header); !ok || kind != "kcsan" {
		t.Errorf("Match(%q) = %q, %v; want kcsan", got[0].Header, kind, ok)
	}
}

// An allocation failure's report is one finding (its stack trace is part
// of it), and none while a test injects faults.
func TestScanAllocFailures(t *testing.T) {
	report := `[  12.5] stress.test: vmalloc error: size 16384, align 0x4000, vm_struct allocation failed, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), nodemask=(null)
CPU: 0 UID: 0 PID: 892 Comm: stress.test Tainted: G               X    7.3.4-emptypidfd #1 PREEMPTLAZY
Tainted: [X]=AUX
Call Trace:
 <TASK>
 dump_stack_lvl+0x85/0x92
`
	for _, tc := range []struct {
		name string
		log  string
		want []string
	}{
		{"outside injection", report, []string{"alloc-failure"}},
		{"inside injection", "[ 1.0] " + FaultInjectionOn + "\n" + report + "[ 2.0] " + FaultInjectionOff + "\n", nil},
		{"after injection", "[ 1.0] " + FaultInjectionOn + "\n[ 2.0] " + FaultInjectionOff + "\n" + report, []string{"alloc-failure"}},
		{"a page allocation failure", "kworker/0:1: page allocation failure: order:0, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)\nCall Trace:\n", []string{"page-alloc-failure"}},
		// fail_page_alloc fails before the slow path's warning: a page
		// allocation failure is never an injected one.
		{"a page allocation failure inside injection", FaultInjectionOn + "\nstress.test: page allocation failure: order:0, mode:0x40cc0\nCall Trace:\n", []string{"page-alloc-failure"}},
		{"another task's vmalloc failure inside injection", FaultInjectionOn + "\nkworker/1:2: vmalloc error: size 16384, align 0x4000\nCall Trace:\n", []string{"alloc-failure"}},
		{"the injected embryo after its exec", FaultInjectionOn + "\ntrue-static: vmalloc error: size 16384, align 0x4000\nCall Trace:\n", nil},
		{"the window ends with its test binary", FaultInjectionOn + "\nvmrun: end github.com/emptypidfd/emptypidfd/selftests/stress fail (10s)\n" + report, []string{"alloc-failure"}},
		{"a later stack trace is its own", report + "a\nb\nc\nd\ne\nf\nCall Trace:\n", []string{"alloc-failure", "stack-trace"}},
		{"a WARNING inside injection still counts", FaultInjectionOn + "\nWARNING: CPU: 0 PID: 1 at kernel/fork.c:1 f+0x1/0x2\nCall Trace:\n", []string{"warning", "stack-trace"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Scan(strings.NewReader(tc.log))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, f := range got {
				kinds = append(kinds, f.Kind)
			}
			if !slices.Equal(kinds, tc.want) {
				t.Errorf("kinds %v, want %v (%v)", kinds, tc.want, got)
			}
		})
	}
}

// A report is judged only when read whole; a caller id without a
// timestamp does not hide its frames.
func TestRaceReportComplete(t *testing.T) {
	for _, tc := range []struct {
		name     string
		log      string
		complete bool
		funcs    []string
	}{
		{"whole", "BUG: KCSAN: data-race in a / b\nread to 0x1 of 4 bytes by task 1 on cpu 0:\n a+0x1/0x2\nwrite to 0x1 of 4 bytes by task 2 on cpu 1:\n b+0x1/0x2\n=====================\n", true, []string{"a", "b"}},
		{"caller ids, no timestamps", "[  T12] BUG: KCSAN: data-race in a / b\n[  T12] read to 0x1 of 4 bytes by task 1 on cpu 0:\n[  T12]  a+0x1/0x2\n[  T12] =====================\n", true, []string{"a", "b"}},
		{"an access without its stack", "BUG: KCSAN: data-race in a / b\nread to 0x1 of 4 bytes by task 1 on cpu 0:\n a+0x1/0x2\nwrite to 0x1 of 4 bytes by task 2 on cpu 1:\n=== RUN TestX b+0x1/0x2\n=====================\n", false, []string{"a", "b"}},
		{"no stack at all", "BUG: KCSAN: data-race in a.isra.0\n=====================\n", false, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ScanRaces(strings.NewReader(tc.log))
			if err != nil || len(got) != 1 {
				t.Fatalf("ScanRaces: %v, %v", got, err)
			}
			if c := got[0].Complete(); c != tc.complete {
				t.Errorf("Complete() = %v, want %v (%+v)", c, tc.complete, got[0])
			}
			if f := got[0].HeaderFuncs(); !slices.Equal(f, tc.funcs) {
				t.Errorf("HeaderFuncs() = %v, want %v", f, tc.funcs)
			}
		})
	}
}
