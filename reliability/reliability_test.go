package reliability

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const console = `Linux version 7.3.4-emptypidfd (root@vm) #1 SMP
kcsan: enabled early
Command line: console=ttyS0 STRESS_DURATION=30m STRESS_SEED=clock pci=noacpi
=== RUN   TestStress
    stress_test.go:241: stress-figures: test=TestStress seed=9 duration_s=1800.2 rounds=90 ops=50000 calls=120000 invariant_checks=40000 failed=false
--- PASS: TestStress (1801.00s)
    faults_test.go:150: stress-faults: test=TestFaultInjection call=EXEC sites=4 injected=3 tolerated=1 iterations=5 converged=true EFAULT=2
--- SKIP: TestSomething (0.00s)
==================================================================
BUG: KCSAN: data-race in pidfd_embryo_wait / pidfd_embryo_start
write to 0xffff888004b0c0a0 of 4 bytes by task 210 on cpu 1:
 pidfd_embryo_start+0x3c/0x120
read to 0xffff888004b0c0a0 of 4 bytes by task 211 on cpu 0:
 pidfd_embryo_wait+0x11/0x30
==================================================================
BUG: KCSAN: data-race in tick_sched_do_timer / tick_nohz_idle_stop_tick
read-write to 0xffffffff8a0 of 4 bytes by interrupt on cpu 0:
 tick_sched_do_timer+0x1/0x2
==================================================================
vmrun-guest: kmemleak: no suspected leaks
`

func TestFromConsoleAndRender(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte(console), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := FromConsole(path, func(fn string) bool { return strings.HasPrefix(fn, "pidfd_") })
	if err != nil {
		t.Fatal(err)
	}
	r.Name, r.Flavour = "2026-12-05-race", "race"
	if f := r.BootedFlavour(); f != "race" {
		t.Errorf("BootedFlavour() = %q, want race (the log has kcsan's boot line)", f)
	}
	if r.Kernel != "7.3.4-emptypidfd" || r.Tests != (Tally{Pass: 1, Skip: 1}) || len(r.Stress) != 2 || len(r.Findings) != 0 {
		t.Errorf("run: kernel %q, tests %+v, %d stress lines, findings %v", r.Kernel, r.Tests, len(r.Stress), r.Findings)
	}
	if len(r.Races) != 2 || r.Races[0].Series != "pidfd_embryo_wait" || r.Races[1].Series != "" {
		t.Errorf("races: %+v", r.Races)
	}
	r.Coverage = []FileCoverage{{
		Path: "kernel/pidfd_embryo.c", Counters: true, Added: 10, Lines: 8, Reached: 6, Branches: 4, Taken: 3, ErrorPaths: 2, ErrorReached: 1,
		Unreached: []Unreached{
			{N: 7, Func: "pidfd_embryo_open", Text: "return -ENOMEM;", Error: true, How: "own counter: 0"},
			{N: 9, Func: "pidfd_embryo_open", Text: "kfree(x);"},
			{N: 11, Func: "pidfd_embryo_open", Text: "return a | b ? -EINVAL : `x`;", Error: true},
		},
	}, {Path: "fs/exec.c", Added: 3}}
	reasons := Reasons{ReasonKey("kernel/pidfd_embryo.c", "pidfd_embryo_open", "return -ENOMEM;"): "allocation failure"}
	md := Render([]*Run{r}, reasons)
	for _, want := range []string{
		"| 2026-12-05-race | 7.3.4-emptypidfd (race) | STRESS_DURATION=30m STRESS_SEED=clock | 1/0/1 | 0 | 1 / 1 | no suspected leaks |",
		"| TestStress | seed=9 duration_s=1800.2 rounds=90",
		"| TestSoak | did not run |",
		"| EXEC | 4 | 3 | 1 | EFAULT 2 |",
		"- **the series'** (pidfd_embryo_wait): BUG: KCSAN: data-race in pidfd_embryo_wait / pidfd_embryo_start",
		"- the base kernel's: BUG: KCSAN: data-race in tick_sched_do_timer",
		"| kernel/pidfd_embryo.c | 10 | 8 | 6/8 (75.0%) | 3/4 (75.0%) | 1/2 |",
		"| fs/exec.c | 3 | no counters | | | |",
		"| kernel/pidfd_embryo.c:7 | pidfd_embryo_open | `return -ENOMEM;` | own counter: 0 | allocation failure |",
		"    9  pidfd_embryo_open                kfree(x);",
		"| kernel/pidfd_embryo.c:11 | pidfd_embryo_open | ``return a \\| b ? -EINVAL : `x`;`` |  | **no reason recorded** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("rendered markdown lacks %q:\n%s", want, md)
		}
	}
	if u := r.Unexplained(reasons); len(u) != 1 || !strings.Contains(u[0], ":11 ") {
		t.Errorf("Unexplained = %q, want line 11 alone", u)
	}
	if u := r.Unexplained(Reasons{}); len(u) != 2 || !strings.Contains(u[0], "kernel/pidfd_embryo.c:7") {
		t.Errorf("Unexplained with no reasons = %q, want lines 7 and 11", u)
	}
	if md := Render([]*Run{r}, Reasons{}); !strings.Contains(md, "**no reason recorded**") {
		t.Error("an unexplained error return is not marked")
	}
}

func TestParseReasons(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		keys int
	}{
		{"# comment\n\nkernel/a.c\tf\treturn -EINVAL;\tno caller passes it\n", true, 1},
		{"kernel/a.c\tf\treturn -EINVAL;\n", false, 0},
		{"kernel/a.c\tf\treturn -EINVAL;\t\n", false, 0},
	} {
		r, err := ParseReasons(strings.NewReader(tc.in))
		if (err == nil) != tc.ok || len(r) != tc.keys {
			t.Errorf("ParseReasons(%q) = %v, %v; want ok %v, %d keys", tc.in, r, err, tc.ok, tc.keys)
		}
	}
}

func TestSplice(t *testing.T) {
	md := "intro\n" + beginMarker + "\nold\n" + endMarker + "\noutro\n"
	got, err := Splice(md, "new\n")
	if err != nil || got != "intro\n"+beginMarker+"\nnew\n"+endMarker+"\noutro\n" {
		t.Errorf("Splice = %q, %v", got, err)
	}
	if _, err := Splice("no markers", "x"); err == nil {
		t.Error("Splice accepted a file without markers")
	}
}
