package ktap

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		planned  int
		results  []Result
		failed   bool
		bailout  string
		whyMatch string
	}{
		{
			name: "harness output",
			in: `TAP version 13
1..3
# Starting 3 tests from 1 test cases.
#  RUN           global.a ...
#            OK  global.a
ok 1 global.a
#  RUN           global.b ...
# pidfd_test.c:12:b:Expected 0 (0) == r (1)
not ok 2 global.b
ok 3 global.c # SKIP no user namespaces
# FAILED: 1 / 3 tests passed.
`,
			planned: 3,
			results: []Result{
				{Number: 1, Name: "global.a", Status: Pass, Diagnostics: []string{
					"Starting 3 tests from 1 test cases.", "RUN           global.a ...", "OK  global.a"}},
				{Number: 2, Name: "global.b", Status: Fail, Diagnostics: []string{
					"RUN           global.b ...", "pidfd_test.c:12:b:Expected 0 (0) == r (1)"}},
				{Number: 3, Name: "global.c", Status: Skip, Directive: "no user namespaces"},
			},
			failed:   true,
			whyMatch: "global.b",
		},
		{
			name:    "kselftest.h with dash and xfail",
			in:      "1..2\nok 1 - pidfd_open works\nok 2 - flaky # XFAIL known\n# Totals: pass:1\n",
			planned: 2,
			results: []Result{
				{Number: 1, Name: "pidfd_open works", Status: Pass},
				{Number: 2, Name: "flaky", Status: XFail, Directive: "known"},
			},
		},
		{
			name:    "nested results are not top level",
			in:      "1..1\n    1..1\n    not ok 1 inner\nok 1 outer\n",
			planned: 1,
			results: []Result{{Number: 1, Name: "outer", Status: Pass}},
		},
		{
			name:     "fewer results than planned",
			in:       "1..2\nok 1 first\n",
			planned:  2,
			results:  []Result{{Number: 1, Name: "first", Status: Pass}},
			failed:   true,
			whyMatch: "planned 2",
		},
		{
			name:     "bail out",
			in:       "1..5\nBail out! no pidfd support\n",
			planned:  5,
			bailout:  "no pidfd support",
			failed:   true,
			whyMatch: "bailed out",
		},
		{
			name:    "skip without name",
			in:      "1..1\nok 1 # SKIP not root\n",
			planned: 1,
			results: []Result{{Number: 1, Name: "", Status: Skip, Directive: "not root"}},
		},
		{
			// A binary that printed neither a plan nor a result tested
			// nothing: that is a failure, not a pass.
			name:     "no plan and no results",
			in:       "garbage\n",
			planned:  -1,
			failed:   true,
			whyMatch: "no TAP plan and no results",
		},
		{
			name:     "empty output",
			in:       "",
			planned:  -1,
			failed:   true,
			whyMatch: "no TAP plan and no results",
		},
		{
			name:    "results without a plan",
			in:      "ok 1 a\n",
			planned: -1,
			results: []Result{{Number: 1, Name: "a", Status: Pass}},
		},
		{
			name:    "only the last diagnostics are kept",
			in:      "1..1\n" + numbered("# line %d\n", maxDiagnostics+5) + "not ok 1 chatty\n# after\n",
			planned: 1,
			results: []Result{{Number: 1, Name: "chatty", Status: Fail,
				Diagnostics: strings.Split(strings.TrimSuffix(numbered("line %d\n", maxDiagnostics+5), "\n"), "\n")[5:]}},
			failed:   true,
			whyMatch: "chatty",
		},
		{
			name:    "skip-all plan",
			in:      "1..0 # SKIP no pidfd support\n",
			planned: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if rep.Planned != tc.planned {
				t.Errorf("Planned = %d, want %d", rep.Planned, tc.planned)
			}
			if rep.Bailout != tc.bailout {
				t.Errorf("Bailout = %q, want %q", rep.Bailout, tc.bailout)
			}
			if len(rep.Results) != len(tc.results) {
				t.Fatalf("got %d results %+v, want %d", len(rep.Results), rep.Results, len(tc.results))
			}
			for i, want := range tc.results {
				if !reflect.DeepEqual(rep.Results[i], want) {
					t.Errorf("result %d = %+v, want %+v", i, rep.Results[i], want)
				}
			}
			failed, why := rep.Failed()
			if failed != tc.failed {
				t.Errorf("Failed() = %v (%s), want %v", failed, why, tc.failed)
			}
			if !strings.Contains(why, tc.whyMatch) {
				t.Errorf("Failed() reason %q does not mention %q", why, tc.whyMatch)
			}
		})
	}
}

// numbered is format, with 1 to n, n times.
func numbered(format string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

func TestJudge(t *testing.T) {
	known := func(names ...string) func(Result) bool {
		return func(r Result) bool {
			for _, n := range names {
				if r.Name == n {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		name     string
		in       string
		status   int
		known    func(Result) bool
		want     Outcome
		whyMatch string
	}{
		{name: "all pass", in: "1..2\nok 1 a\nok 2 b\n", want: OutcomePass},
		{name: "nothing printed, exit 0", in: "", want: OutcomeFail, whyMatch: "no TAP plan"},
		{name: "nothing printed, exit 4", in: "", status: ExitSkip, want: OutcomeSkip, whyMatch: "skipped itself"},
		{name: "skip-all plan", in: "1..0 # SKIP no support\n", want: OutcomeSkip, whyMatch: "planned no tests"},
		{name: "unknown failure", in: "1..2\nok 1 a\nnot ok 2 b\n", status: ExitFail, want: OutcomeFail, whyMatch: `"b" failed`},
		{name: "known failure, exit 1", in: "1..2\nok 1 a\nnot ok 2 b\n", status: ExitFail, known: known("b"), want: OutcomePass},
		{
			name: "known failure does not excuse another failure",
			in:   "1..3\nnot ok 1 a\nok 2 b\nnot ok 3 c\n", status: ExitFail, known: known("a"),
			want: OutcomeFail, whyMatch: `"c" failed`,
		},
		{
			name: "known failure does not excuse a short plan",
			in:   "1..3\nok 1 a\nnot ok 2 b\n", status: ExitFail, known: known("b"),
			want: OutcomeFail, whyMatch: "planned 3",
		},
		{
			name: "known failure does not excuse a bail-out",
			in:   "1..3\nnot ok 1 b\nBail out! lost\n", status: ExitFail, known: known("b"),
			want: OutcomeFail, whyMatch: "bailed out",
		},
		{
			name: "known failure does not excuse a crash",
			in:   "1..2\nok 1 a\nnot ok 2 b\n", status: 139, known: known("b"),
			want: OutcomeFail, whyMatch: "status 139",
		},
		{name: "exit 1 with nothing failed", in: "1..1\nok 1 a\n", status: ExitFail, want: OutcomeFail, whyMatch: "no result failed"},
		{name: "other status", in: "1..1\nok 1 a\n", status: 2, want: OutcomeFail, whyMatch: "status 2"},
		{name: "exit 4 with results", in: "1..1\nok 1 a # SKIP no userns\n", status: ExitSkip, want: OutcomePass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			got, why := Judge(rep, tc.status, tc.known)
			if got != tc.want || !strings.Contains(why, tc.whyMatch) {
				t.Errorf("Judge = %v, %q; want %v, mentioning %q", got, why, tc.want, tc.whyMatch)
			}
		})
	}
}
