package ktap

import (
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
				{Number: 1, Name: "global.a", Status: Pass},
				{Number: 2, Name: "global.b", Status: Fail},
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
			name:    "no plan",
			in:      "garbage\n",
			planned: -1,
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
				if rep.Results[i] != want {
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
