package vmrun

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// shape flattens a result tree to "path=action" strings in order.
func shape(r *Result, prefix string, out *[]string) {
	for _, c := range r.Children {
		p := c.Name
		if prefix != "" {
			p = prefix + "/" + c.Name
		}
		*out = append(*out, p+"="+c.Action)
		shape(c, p, out)
	}
}

func TestCollect(t *testing.T) {
	const pkg = "example.com/p"
	tests := []struct {
		name   string
		events []TestEvent
		want   []string
		output map[string]string // test path -> its collected output
	}{
		{
			name: "flat pass and fail",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "output", Package: pkg, Test: "TestA", Output: "a says hi\n"},
				{Action: "pass", Package: pkg, Test: "TestA"},
				{Action: "run", Package: pkg, Test: "TestB"},
				{Action: "fail", Package: pkg, Test: "TestB"},
				{Action: "fail", Package: pkg},
			},
			want:   []string{"TestA=pass", "TestB=fail"},
			output: map[string]string{"TestA": "a says hi\n"},
		},
		{
			name: "subtests nest under their parent",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "run", Package: pkg, Test: "TestA/x"},
				{Action: "run", Package: pkg, Test: "TestA/x/deep"},
				{Action: "skip", Package: pkg, Test: "TestA/x/deep"},
				{Action: "pass", Package: pkg, Test: "TestA/x"},
				{Action: "pass", Package: pkg, Test: "TestA"},
			},
			want: []string{"TestA=pass", "TestA/x=pass", "TestA/x/deep=skip"},
		},
		{
			name: "a test cut off by a crash has no action",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "output", Package: pkg, Test: "TestA", Output: "last words\n"},
			},
			want:   []string{"TestA="},
			output: map[string]string{"TestA": "last words\n"},
		},
		{
			name: "slashes in subtest names do not invent tests",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "run", Package: pkg, Test: "TestA/running/case"},
				{Action: "run", Package: pkg, Test: "TestA//dev/null"},
				{Action: "pass", Package: pkg, Test: "TestA/running/case"},
				{Action: "pass", Package: pkg, Test: "TestA//dev/null"},
				{Action: "pass", Package: pkg, Test: "TestA"},
			},
			want: []string{"TestA=pass", "TestA/running/case=pass", "TestA//dev/null=pass"},
		},
		{
			name:   "no events, no tests",
			events: nil,
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs := Collect(tt.events)
			var got []string
			if r, ok := pkgs[pkg]; ok {
				shape(r, "", &got)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("tree = %q, want %q", got, tt.want)
			}
			for path, want := range tt.output {
				node := pkgs[pkg].byName[path]
				if got := node.Output.String(); got != want {
					t.Errorf("output of %s = %q, want %q", path, got, want)
				}
			}
		})
	}
}

func TestAnyFailed(t *testing.T) {
	tests := []struct {
		actions []string
		want    bool
	}{
		{[]string{"pass", "skip"}, false},
		{[]string{"pass", "fail"}, true},
		{[]string{""}, true}, // never finished counts as failed
		{nil, false},
	}
	for _, tt := range tests {
		var rs []*Result
		for _, a := range tt.actions {
			rs = append(rs, &Result{Action: a})
		}
		if got := anyFailed(rs); got != tt.want {
			t.Errorf("anyFailed(%q) = %v, want %v", tt.actions, got, tt.want)
		}
	}
}

func TestReadEvents(t *testing.T) {
	const (
		run  = `{"hugelgupf_vmtest_guest_action":"guestevent","Actual":{"Action":"run","Package":"p","Test":"TestA"}}` + "\n"
		pass = `{"hugelgupf_vmtest_guest_action":"guestevent","Actual":{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.5}}` + "\n"
		hang = `{"hugelgupf_vmtest_guest_action":"guestevent","Actual":{"Action":"run","Package":"p","Test":"TestHang"}}` + "\n"
		done = `{"hugelgupf_vmtest_guest_action":"done","Actual":{}}` + "\n"
	)
	tests := []struct {
		name     string
		content  string
		actions  []string // Action/Test of each event read
		complete bool
		wantErr  bool
	}{
		{"closed by the guest", run + pass + done, []string{"run/TestA", "pass/TestA"}, true, false},
		{"VM stopped in a hung test", run + pass + hang, []string{"run/TestA", "pass/TestA", "run/TestHang"}, false, false},
		{"VM stopped mid-write", run + pass + hang[:40], []string{"run/TestA", "pass/TestA"}, false, false},
		{"empty: stopped before the first event", "", nil, false, false},
		{"garbage before the end", run + "not json\n" + pass + done, []string{"run/TestA"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "results.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			events, complete, err := readEvents[TestEvent](path)
			var got []string
			for _, e := range events {
				got = append(got, e.Action+"/"+e.Test)
			}
			if !reflect.DeepEqual(got, tt.actions) || complete != tt.complete || (err != nil) != tt.wantErr {
				t.Errorf("readEvents = %q, complete %v, error %v; want %q, %v, error %v",
					got, complete, err, tt.actions, tt.complete, tt.wantErr)
			}
		})
	}
	if _, _, err := readEvents[TestEvent](filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("readEvents of a missing file: no error")
	}
}

func TestPackageProblem(t *testing.T) {
	const pkg = "example.com/p"
	tests := []struct {
		name   string
		events []TestEvent
		want   string // a fragment of the problem, "" for none
	}{
		{
			name: "tests ran",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "pass", Package: pkg, Test: "TestA"},
				{Action: "pass", Package: pkg},
			},
		},
		{
			name: "every test skipped: the skip budget judges those",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "skip", Package: pkg, Test: "TestA"},
				{Action: "pass", Package: pkg},
			},
		},
		{
			// test2json of a binary with no test: "testing: warning:
			// no tests to run", then PASS.
			name: "no test ran, binary passed",
			events: []TestEvent{
				{Action: "start", Package: pkg},
				{Action: "output", Package: pkg, Output: "testing: warning: no tests to run\n"},
				{Action: "output", Package: pkg, Output: "PASS\n"},
				{Action: "pass", Package: pkg},
			},
			want: "ran no test",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := packageProblem(Collect(tt.events)[pkg])
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("packageProblem = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFailures(t *testing.T) {
	const pkg = "example.com/p"
	out := func(test, s string) TestEvent {
		return TestEvent{Action: "output", Package: pkg, Test: test, Output: s}
	}
	tests := []struct {
		name   string
		events []TestEvent
		want   []Failure
	}{
		{
			name: "all passed",
			events: []TestEvent{
				{Action: "pass", Package: pkg, Test: "TestA"},
				{Action: "pass", Package: pkg},
			},
		},
		{
			name: "a failed subtest is named, not its parents",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				{Action: "run", Package: pkg, Test: "TestA/x"},
				out("TestA/x", "=== RUN   TestA/x\n"),
				out("TestA/x", "    a_test.go:12: want 1, got 2\n"),
				out("TestA/x", "        continued\n"),
				{Action: "fail", Package: pkg, Test: "TestA/x"},
				{Action: "pass", Package: pkg, Test: "TestA/y"},
				{Action: "fail", Package: pkg, Test: "TestA"},
				{Action: "fail", Package: pkg},
			},
			want: []Failure{{Name: "p/TestA/x", Lines: []string{"a_test.go:12: want 1, got 2"}}},
		},
		{
			name: "the last error lines are kept",
			events: []TestEvent{
				out("TestA", "    a_test.go:1: one\n    a_test.go:2: two\n"),
				out("TestA", "    a_test.go:3: three\n    a_test.go:4: four\n"),
				{Action: "fail", Package: pkg, Test: "TestA"},
			},
			want: []Failure{{Name: "p/TestA", Lines: []string{"a_test.go:2: two", "a_test.go:3: three", "a_test.go:4: four"}}},
		},
		{
			name: "a parent failing on its own, with passing subtests",
			events: []TestEvent{
				{Action: "pass", Package: pkg, Test: "TestA/x"},
				out("TestA", "    a_test.go:9: pidfd_empty_test: exit status 1\n"),
				{Action: "fail", Package: pkg, Test: "TestA"},
			},
			want: []Failure{{Name: "p/TestA", Lines: []string{"a_test.go:9: pidfd_empty_test: exit status 1"}}},
		},
		{
			name: "a test that never finished",
			events: []TestEvent{
				{Action: "run", Package: pkg, Test: "TestA"},
				out("TestA", "no file:line here\n"),
			},
			want: []Failure{{Name: "p/TestA", Lines: []string{"(never finished: crash or timeout?)"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Collect(tt.events)[pkg].Failures("p")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Failures() = %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFailureSummary(t *testing.T) {
	var many []Failure
	for i := 0; i < maxSummarized+2; i++ {
		many = append(many, Failure{Name: "p/T"})
	}
	tests := []struct {
		name     string
		failures []Failure
		want     string
	}{
		{"one", []Failure{{Name: "p/TestA", Lines: []string{"a_test.go:1: bad"}}}, "1 failed:\n  p/TestA\n      a_test.go:1: bad"},
		{"capped", many, "14 failed:" + strings.Repeat("\n  p/T", maxSummarized) + "\n  ... and 2 more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := failureSummary(tt.failures); got != tt.want {
				t.Errorf("failureSummary() = %q, want %q", got, tt.want)
			}
		})
	}
}
