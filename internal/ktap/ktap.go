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
}

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
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
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
		rep.Results = append(rep.Results, parseResult(m[1] == "ok", n, m[3]))
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
// bail-out, or fewer results than planned.
func (r *Report) Failed() (bool, string) {
	if r.Bailout != "" {
		return true, "bailed out: " + r.Bailout
	}
	for _, res := range r.Results {
		if res.Status == Fail {
			return true, fmt.Sprintf("test %d %q failed", res.Number, res.Name)
		}
	}
	if r.Planned >= 0 && len(r.Results) != r.Planned {
		return true, fmt.Sprintf("planned %d tests, got %d results", r.Planned, len(r.Results))
	}
	return false, ""
}
