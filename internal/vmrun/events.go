package vmrun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/skips"
)

// TestEvent is one event of "go tool test2json" output.
type TestEvent struct {
	Time    time.Time `json:",omitempty"`
	Action  string
	Package string  `json:",omitempty"`
	Test    string  `json:",omitempty"`
	Elapsed float64 `json:",omitempty"`
	Output  string  `json:",omitempty"`
}

// Result is the outcome of a guest test (or package) and its subtests.
type Result struct {
	Name     string
	Action   string // "pass", "fail", "skip", or "" if it never finished
	Output   strings.Builder
	Children []*Result
	byName   map[string]*Result
}

func (r *Result) child(name string) *Result {
	if c, ok := r.byName[name]; ok {
		return c
	}
	c := &Result{Name: name}
	if r.byName == nil {
		r.byName = map[string]*Result{}
	}
	r.byName[name] = c
	r.Children = append(r.Children, c)
	return c
}

// Collect folds test2json events into one result tree per package. A
// subtest becomes a child of the longest test name that prefixes its own
// name followed by "/": subtest names may hold slashes themselves
// (t.Run("running/case") or t.Run("/dev/null")), so splitting names at
// every "/" would invent tests that never ran.
func Collect(events []TestEvent) map[string]*Result {
	pkgs := map[string]*Result{}
	nodes := map[string]map[string]*Result{} // package -> full test name -> node
	for _, e := range events {
		pkg, ok := pkgs[e.Package]
		if !ok {
			pkg = &Result{Name: e.Package}
			pkgs[e.Package] = pkg
			nodes[e.Package] = map[string]*Result{}
		}
		node := pkg
		if e.Test != "" {
			node = lookup(pkg, nodes[e.Package], e.Test)
		}
		switch e.Action {
		case "output":
			node.Output.WriteString(e.Output)
		case "pass", "fail", "skip":
			node.Action = e.Action
		}
	}
	return pkgs
}

// lookup finds or adds the node of test name under pkg.
func lookup(pkg *Result, known map[string]*Result, name string) *Result {
	if n, ok := known[name]; ok {
		return n
	}
	parent, short := pkg, name
	for i := strings.LastIndex(name, "/"); i > 0; i = strings.LastIndex(name[:i], "/") {
		if p, ok := known[name[:i]]; ok {
			parent, short = p, name[i+1:]
			break
		}
	}
	n := parent.child(short)
	known[name] = n
	return n
}

// report replays r on t: subtests for the children, then r's own outcome.
// name is r's full name, "<package>/<test>[/<subtest>...]" with the last
// element of the package's import path, as the skip budget b names it.
func (r *Result) report(t *testing.T, name string, b *skips.Budget) {
	for _, c := range r.Children {
		t.Run(c.Name, func(t *testing.T) { c.report(t, name+"/"+c.Name, b) })
	}
	out := strings.TrimRight(r.Output.String(), "\n")
	switch r.Action {
	case "pass":
	case "skip":
		if v := b.Judge(name); v.OK {
			t.Skipf("skipped in the guest (%s):\n%s", v.Message, out)
		} else {
			t.Errorf("skipped in the guest, and %s:\n%s", v.Message, out)
		}
	case "fail":
		// A parent of a failed subtest fails through the subtest already;
		// print the output only where it is the test's own.
		if len(r.Children) == 0 || !anyFailed(r.Children) {
			t.Errorf("failed in the guest:\n%s", out)
		} else {
			t.Fail()
		}
	default:
		t.Errorf("never finished in the guest (crash or timeout?):\n%s", out)
	}
}

// packageProblem says what is wrong with a guest package's results as a
// whole, "" if nothing: a test binary that ran no test checked nothing.
func packageProblem(pkg *Result) string {
	if len(pkg.Children) == 0 {
		return "its test binary ran no test (no test functions, or a -test.run that matches none?); a package that tests nothing fails"
	}
	return ""
}

func anyFailed(rs []*Result) bool {
	for _, r := range rs {
		if r.Action == "fail" || r.Action == "" {
			return true
		}
	}
	return false
}

// guestEvent is how guest.EventChannel writes each event (vmtest's
// internal eventchannel.Event): the payload, or the final "done".
type guestEvent[T any] struct {
	GuestAction string `json:"hugelgupf_vmtest_guest_action"`
	Actual      T
}

// readEvents reads a file the guest wrote with guest.EventChannel. Unlike
// qevent.ReadFile it keeps the events of a file the guest never closed
// (complete is false): a VM stopped in a hung test has written the events of
// every test before it. A last line cut short by the VM's end is dropped.
func readEvents[T any](path string) (events []T, complete bool, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err // the path is in it
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), len(b)+1)
	for n := 1; sc.Scan(); n++ {
		var e guestEvent[T]
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			if !bytes.HasSuffix(b, []byte("\n")) && bytes.HasSuffix(b, sc.Bytes()) {
				break // the last line, unfinished
			}
			return events, complete, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		switch e.GuestAction {
		case "guestevent":
			events = append(events, e.Actual)
		case "done":
			complete = true
		}
	}
	if err := sc.Err(); err != nil {
		return events, complete, fmt.Errorf("reading %s: %w", path, err)
	}
	return events, complete, nil
}

// Failure is a guest test that failed (or never finished) through no
// failed subtest of its own: where a failure is to be read.
type Failure struct {
	Name  string   // "<package>/<test>[/<subtest>...]"
	Lines []string // its last few error lines ("file_test.go:N: ...")
}

// maxFailureLines is how many of a failure's error lines a summary keeps.
const maxFailureLines = 3

// Failures lists the failures under r (named prefix), in the order they
// ran. A CI log shows a few lines around each error: the names and last
// error lines of the failed tests, printed together, say what failed where
// the replayed tree of thousands of results would be cut.
func (r *Result) Failures(prefix string) []Failure {
	var out []Failure
	for _, c := range r.Children {
		out = append(out, c.Failures(prefix+"/"+c.Name)...)
	}
	if (r.Action == "fail" || r.Action == "") && !anyFailed(r.Children) {
		out = append(out, Failure{Name: prefix, Lines: errorLines(r.Output.String(), r.Action)})
	}
	return out
}

// errorLines picks from a test's output the last lines that a t.Error or
// t.Log starts ("    name_test.go:12: text"), without the continuation
// lines a long message has: a test's last words say why it failed.
func errorLines(out, action string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		s := strings.TrimSpace(l)
		i := strings.Index(s, ".go:")
		if i < 0 || strings.ContainsAny(s[:i], " \t") || !strings.Contains(s[i:], ": ") {
			continue
		}
		if len(s) > 240 {
			s = s[:240] + "..."
		}
		lines = append(lines, s)
	}
	if len(lines) > maxFailureLines {
		lines = lines[len(lines)-maxFailureLines:]
	}
	if action == "" {
		lines = append(lines, "(never finished: crash or timeout?)")
	}
	return lines
}
