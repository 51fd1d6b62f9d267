package vmrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/internal/consolelog"
)

func TestJudgeRaces(t *testing.T) {
	log := `boot
==================================================================
BUG: KCSAN: data-race in pidfd_embryo_wait / pidfd_embryo_start
write to 0xffff888004b0c0a0 of 4 bytes by task 210 on cpu 1:
 pidfd_embryo_start+0x3c/0x120
 __do_sys_pidfd_spawn_run+0x9a/0x140
read to 0xffff888004b0c0a0 of 4 bytes by task 211 on cpu 0:
 pidfd_embryo_wait+0x11/0x30
==================================================================
BUG: KCSAN: data-race in tick_sched_do_timer / tick_nohz_idle_stop_tick
read-write to 0xffffffff8a0 of 4 bytes by interrupt on cpu 0:
 tick_sched_do_timer+0x1/0x2
 tick_nohz_handler+0x1/0x2
 __hrtimer_run_queues+0x1/0x2
 copy_process+0x1/0x2
==================================================================
BUG: KCSAN: data-race in mystery
==================================================================
WARNING: CPU: 0 PID: 1 at kernel/x.c:1 f+0x1/0x2
`
	path := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	findings, err := consolelog.ScanFile(path)
	if err != nil {
		t.Fatal(err)
	}
	series := func(fn string) bool { return strings.HasPrefix(fn, "pidfd_") || fn == "copy_process" }
	for _, tc := range []struct {
		name              string
		scope             func(string) bool
		failures, outside int
	}{
		// copy_process is four frames deep in the second report: too
		// deep to make the base kernel's timer race the series'.
		// The third report has no stack: it cannot be judged, and fails.
		{"the series' functions", series, 2, 1},
		{"no series diff", nil, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rest, failures, notes := judgeRaces(path, findings, tc.scope)
			if len(rest) != 1 || rest[0].Kind != "warning" {
				t.Errorf("the other findings: %v, want the WARNING alone", rest)
			}
			if len(failures) != tc.failures {
				t.Errorf("failures: %q, want %d", failures, tc.failures)
			}
			outside := 0
			for _, n := range notes {
				if strings.Contains(n, "outside the series' functions (a race of the base kernel") {
					outside++
				}
			}
			if outside != tc.outside {
				t.Errorf("notes: %q, want %d report(s) outside the series", notes, tc.outside)
			}
		})
	}
	if rest, failures, notes := judgeRaces(path, findings[3:], series); len(rest) != 1 || failures != nil || notes != nil {
		t.Errorf("no KCSAN finding: got %v, %q, %q; want the findings back and nothing else", rest, failures, notes)
	}
}
