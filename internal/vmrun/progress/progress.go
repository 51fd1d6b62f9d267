// Package progress is the line protocol by which the guest test runner
// (internal/vmrun/guestrun) tells the host, over the serial console, which
// guest package and test it is running. The console is the one channel that
// works from the first moment of boot to the last and needs no PCI device
// (the 9p share and virtio-serial do), so the host can follow the guest, and
// name what it was doing when it went quiet, even when 9p is stuck.
//
// Each mark is one console line:
//
//	vmrun: begin
//	vmrun: start <package>
//	vmrun: run <package> <test>
//	vmrun: pass|fail|skip <package> <test> (<seconds>s)
//	vmrun: end <package> <result> (<seconds>s)
//	vmrun: done
//
// Packages are import paths and Go test names hold no white space (the
// testing package rewrites it), so the fields split at spaces.
package progress

import (
	"fmt"
	"strings"
	"time"
)

// Prefix starts every mark.
const Prefix = "vmrun: "

// Actions of a Mark.
const (
	Begin = "begin" // the runner started (the 9p share is mounted)
	Start = "start" // a package's test binary is about to start
	Run   = "run"   // a test started
	Pass  = "pass"  // a test passed
	Fail  = "fail"  // a test failed
	Skip  = "skip"  // a test was skipped
	End   = "end"   // a package's test binary ended, with Result
	Done  = "done"  // the runner ran every package
)

// A Mark is one progress event.
type Mark struct {
	Action  string
	Package string        // import path; all but Begin and Done
	Test    string        // Run, Pass, Fail, Skip
	Result  string        // End: "pass", "fail" or "error" (did not run)
	Elapsed time.Duration // Pass, Fail, Skip, End
}

// String is the console line of m, without the newline.
func (m Mark) String() string {
	switch m.Action {
	case Begin, Done:
		return Prefix + m.Action
	case Start:
		return Prefix + m.Action + " " + m.Package
	case Run:
		return Prefix + m.Action + " " + m.Package + " " + m.Test
	case Pass, Fail, Skip:
		return fmt.Sprintf("%s%s %s %s %s", Prefix, m.Action, m.Package, m.Test, elapsed(m.Elapsed))
	case End:
		return fmt.Sprintf("%s%s %s %s %s", Prefix, m.Action, m.Package, m.Result, elapsed(m.Elapsed))
	}
	return Prefix + "unknown mark " + m.Action
}

func elapsed(d time.Duration) string {
	return fmt.Sprintf("(%.2fs)", d.Seconds())
}

func parseElapsed(s string) (time.Duration, bool) {
	if len(s) < 3 || s[0] != '(' || s[len(s)-1] != ')' {
		return 0, false
	}
	d, err := time.ParseDuration(s[1 : len(s)-1])
	return d, err == nil
}

// Parse finds a mark in a console line. The mark need not start the line: a
// kernel message may have been printed just before it without a newline.
// Anything that is not exactly a mark's shape is not one.
func Parse(line string) (Mark, bool) {
	i := strings.Index(line, Prefix)
	if i < 0 {
		return Mark{}, false
	}
	f := strings.Fields(line[i+len(Prefix):])
	if len(f) == 0 {
		return Mark{}, false
	}
	m := Mark{Action: f[0]}
	switch {
	case (m.Action == Begin || m.Action == Done) && len(f) == 1:
		return m, true
	case m.Action == Start && len(f) == 2:
		m.Package = f[1]
		return m, true
	case m.Action == Run && len(f) == 3:
		m.Package, m.Test = f[1], f[2]
		return m, true
	case (m.Action == Pass || m.Action == Fail || m.Action == Skip) && len(f) == 4:
		if d, ok := parseElapsed(f[3]); ok {
			m.Package, m.Test, m.Elapsed = f[1], f[2], d
			return m, true
		}
	case m.Action == End && len(f) == 4:
		if d, ok := parseElapsed(f[3]); ok {
			m.Package, m.Result, m.Elapsed = f[1], f[2], d
			return m, true
		}
	}
	return Mark{}, false
}
