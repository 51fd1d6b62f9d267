package consolelog

import (
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
