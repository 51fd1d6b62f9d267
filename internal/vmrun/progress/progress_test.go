package progress

import (
	"testing"
	"time"
)

const pkg = "github.com/emptypidfd/emptypidfd/selftests/baseline"

func TestRoundTrip(t *testing.T) {
	for _, m := range []Mark{
		{Action: Begin},
		{Action: Start, Package: pkg},
		{Action: Run, Package: pkg, Test: "TestClone3Pidfd"},
		{Action: Pass, Package: pkg, Test: "TestA/sub/case", Elapsed: 1230 * time.Millisecond},
		{Action: Fail, Package: pkg, Test: "TestA//dev/null", Elapsed: 0},
		{Action: Skip, Package: pkg, Test: "TestA", Elapsed: 10 * time.Millisecond},
		{Action: End, Package: pkg, Result: "fail", Elapsed: 95 * time.Second},
		{Action: Done},
	} {
		line := m.String()
		got, ok := Parse(line)
		if !ok || got != m {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", line, got, ok, m)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Mark
		ok   bool
	}{
		{"vmrun: run " + pkg + " TestX", Mark{Action: Run, Package: pkg, Test: "TestX"}, true},
		{"vmrun: end " + pkg + " pass (2.50s)\r", Mark{Action: End, Package: pkg, Result: "pass", Elapsed: 2500 * time.Millisecond}, true},
		// A kernel message printed without its newline just before.
		{"[   12.5] random: crng initvmrun: start " + pkg, Mark{Action: Start, Package: pkg}, true},
		{"=== RUN   TestX", Mark{}, false},
		{"vmrun: ", Mark{}, false},
		{"vmrun: start", Mark{}, false},
		{"vmrun: start a b", Mark{}, false},
		{"vmrun: pass " + pkg + " TestX", Mark{}, false},
		{"vmrun: pass " + pkg + " TestX 1.0s", Mark{}, false},
		{"vmrun: pass " + pkg + " TestX (soon)", Mark{}, false},
		{"vmrun: begin now", Mark{}, false},
		{"vmrun: exploded", Mark{}, false},
	} {
		got, ok := Parse(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %#v, %v; want %#v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}
