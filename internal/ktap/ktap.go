// Package ktap parses the TAP/KTAP output of kernel selftests
// (tools/testing/selftests/kselftest.h and kselftest_harness.h) into
// per-test results.
//
// Only top-level result lines count ("ok N name", "not ok N name # SKIP why").
// Indented lines are a nested subtest's own report or diagnostics, which the
// harness already folds into the top-level result.
package ktap

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Status is the outcome of one test.
type Status int

// Outcomes a TAP result line can report.
const (
	Pass Status = iota
	Fail
	Skip
	// XFail is an expected failure (kselftest's "# XFAIL"): not a failure.
	XFail
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Skip:
		return "skip"
	case XFail:
		return "xfail"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is one top-level test result.
type Result struct {
	Number    int
	Name      string
	Status    Status
	Directive string // text after "# SKIP", "# XFAIL", ... (the reason)
	// Diagnostics are the "#" lines between the previous result and this
	// one, without the "#" (kselftest_harness prints a failed assertion
	// there), at most maxDiagnostics of them, the last ones.
	Diagnostics []string
}

// maxDiagnostics bounds the diagnostic lines kept per result: a chatty
// test's last lines say why it failed.
const maxDiagnostics = 20

// Report is a parsed TAP stream.
type Report struct {
	// Planned is the N of the top-level "1..N" plan line, or -1 if none.
	Planned int
	Results []Result
	// Bailout holds the reason of a "Bail out!" line, if any.
	Bailout string
}

var (
	planRE   = regexp.MustCompile(`^1\.\.(\d+)`)
	resultRE = regexp.MustCompile(`^(ok|not ok) (\d+)\s*-?\s*(.*)$`)
	// "name # SKIP reason": the directive after the last " # ".
	directiveRE = regexp.MustCompile(`(?i)^(.*?)\s*#\s*(SKIP|XFAIL|TODO)\b(.*)$`)
)

// Parse reads a TAP/KTAP stream. Unknown lines are ignored, as TAP requires.
func Parse(r io.Reader) (*Report, error) {
	rep := &Report{Planned: -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var diag []string
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if d, ok := strings.CutPrefix(line, "#"); ok {
			if len(diag) == maxDiagnostics {
				diag = diag[1:]
			}
			diag = append(diag, strings.TrimSpace(d))
			continue
		}
		if m := planRE.FindStringSubmatch(line); m != nil && rep.Planned < 0 {
			n, err := strconv.Atoi(m[1])
			if err != nil {
				return nil, fmt.Errorf("ktap: bad plan line %q: %w", line, err)
			}
			rep.Planned = n
			continue
		}
		if strings.HasPrefix(line, "Bail out!") {
			rep.Bailout = strings.TrimSpace(strings.TrimPrefix(line, "Bail out!"))
			continue
		}
		m := resultRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return nil, fmt.Errorf("ktap: bad result line %q: %w", line, err)
		}
		res := parseResult(m[1] == "ok", n, m[3])
		res.Diagnostics, diag = diag, nil
		rep.Results = append(rep.Results, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ktap: reading: %w", err)
	}
	return rep, nil
}

func parseResult(ok bool, n int, rest string) Result {
	res := Result{Number: n, Name: strings.TrimSpace(rest), Status: Fail}
	if ok {
		res.Status = Pass
	}
	m := directiveRE.FindStringSubmatch(rest)
	if m == nil {
		return res
	}
	res.Name, res.Directive = strings.TrimSpace(m[1]), strings.TrimSpace(m[3])
	switch strings.ToUpper(m[2]) {
	case "SKIP":
		res.Status = Skip
	case "XFAIL":
		res.Status = XFail
	}
	// A TODO test may fail; it keeps its real status.
	return res
}

// Failed reports whether the stream as a whole failed: a failed test, a
// bail-out, fewer results than planned, or neither a plan nor a result (a
// binary that printed nothing tested nothing).
func (r *Report) Failed() (bool, string) {
	return r.FailedExcept(nil)
}

// FailedExcept is Failed, not counting the failed results for which known
// returns true (a nil known counts them all). Only those results are
// excused: a bail-out, another failed result, or a plan the results do not
// match still fail the stream.
func (r *Report) FailedExcept(known func(Result) bool) (bool, string) {
	if r.Bailout != "" {
		return true, "bailed out: " + r.Bailout
	}
	for _, res := range r.Results {
		if res.Status == Fail && (known == nil || !known(res)) {
			return true, fmt.Sprintf("test %d %q failed", res.Number, res.Name)
		}
	}
	if r.Planned < 0 && len(r.Results) == 0 {
		return true, "no TAP plan and no results: the binary reported no test"
	}
	if r.Planned >= 0 && len(r.Results) != r.Planned {
		return true, fmt.Sprintf("planned %d tests, got %d results", r.Planned, len(r.Results))
	}
	return false, ""
}

// Exit statuses of a kselftest binary (tools/testing/selftests/kselftest.h).
const (
	ExitPass = 0 // KSFT_PASS
	ExitFail = 1 // KSFT_FAIL
	ExitSkip = 4 // KSFT_SKIP
)

// Outcome is what one kselftest binary's run comes to.
type Outcome int

// Outcomes of Judge.
const (
	OutcomePass Outcome = iota
	OutcomeFail
	// OutcomeSkip: the binary tested nothing and said so (exit KSFT_SKIP
	// with no result, or the plan "1..0"). Whether that is acceptable is
	// the caller's skip budget.
	OutcomeSkip
)

func (o Outcome) String() string {
	switch o {
	case OutcomePass:
		return "pass"
	case OutcomeFail:
		return "fail"
	case OutcomeSkip:
		return "skip"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Judge decides a kselftest binary's run from its report and exit status,
// excusing the failed results for which known returns true (nil: none).
// Failure is computed over the other results: a known failure does not
// switch off the bail-out, plan or exit-status checks. The one thing it
// excuses beyond its own result is the exit status KSFT_FAIL that a failed
// result causes; any other non-zero status but KSFT_SKIP still fails.
func Judge(rep *Report, status int, known func(Result) bool) (Outcome, string) {
	if status == ExitSkip && len(rep.Results) == 0 && rep.Bailout == "" {
		return OutcomeSkip, fmt.Sprintf("skipped itself (exit %d) without a result", status)
	}
	if bad, why := rep.FailedExcept(known); bad {
		return OutcomeFail, why
	}
	if rep.Planned == 0 && len(rep.Results) == 0 {
		return OutcomeSkip, "planned no tests (1..0)"
	}
	knownFailed := 0
	for _, res := range rep.Results {
		if res.Status == Fail {
			knownFailed++ // FailedExcept passed: every failed result is known
		}
	}
	switch {
	case status == ExitPass, status == ExitSkip:
	case status == ExitFail && knownFailed > 0:
	case status == ExitFail:
		return OutcomeFail, fmt.Sprintf("exited with status %d (KSFT_FAIL) but no result failed", status)
	default:
		return OutcomeFail, fmt.Sprintf("exited with status %d", status)
	}
	return OutcomePass, ""
}
