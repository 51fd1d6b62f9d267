// Package consolelog finds kernel error reports in a VM's serial console log:
// WARN splats, BUGs, oopses, panics, KASAN/UBSAN reports, lockdep and RCU
// reports, debug-objects reports, hung tasks, and ACPI (firmware) errors. Any
// of them fails a VM test run, whatever the tests inside the guest said.
package consolelog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// A Finding is one line of the log that starts a kernel error report.
type Finding struct {
	Line int    // 1-based line number in the log
	Kind string // what kind of report it is
	Text string // the line itself
}

func (f Finding) String() string {
	return fmt.Sprintf("line %d: %s: %s", f.Line, f.Kind, f.Text)
}

// The patterns are phrases the kernel prints at the head of a report. They
// are not anchored: the guest's own output may share a line with a kernel
// message on the serial console.
var patterns = []struct {
	kind string
	re   *regexp.Regexp
}{
	{"warning", regexp.MustCompile(`WARNING: CPU: \d+ PID: \d+ at `)},
	{"kasan", regexp.MustCompile(`BUG: KASAN: `)},
	{"ubsan", regexp.MustCompile(`UBSAN: `)},
	// kmemleak's own report after a scan (internal/vmrun/guestrun asks
	// for one after the last test), and kmemleak turning itself off,
	// after which leaks go unseen.
	{"kmemleak", regexp.MustCompile(`kmemleak: [0-9]+ new suspected memory leaks|Kernel memory leak detector disabled`)},
	// The ACPI interpreter failing: ACPICA's "ACPI Error:", "ACPI
	// Exception:" and "ACPI BIOS Error (bug):", and the AML loop timeout
	// by name. A method that aborts can leave a device without its
	// interrupt routing, and the guest then hangs on that device (9p).
	{"acpi", regexp.MustCompile(`ACPI (BIOS )?Error|ACPI Exception: |AE_AML_LOOP_TIMEOUT`)},
	// KCSAN (the race flavour): "BUG: KCSAN: data-race in f / g". Its
	// own kind, before "bug", so that a run can judge each by the
	// functions on its stacks (ScanRaces).
	{"kcsan", regexp.MustCompile(`BUG: KCSAN: `)},
	{"bug", regexp.MustCompile(`(^|[^A-Z])BUG: |kernel BUG at `)},
	{"oops", regexp.MustCompile(`Oops: |general protection fault`)},
	{"panic", regexp.MustCompile(`Kernel panic - not syncing`)},
	{"lockdep", regexp.MustCompile(`WARNING: (possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance|held lock freed|lock held when returning|possible irq lock inversion|.*still has locks held)|INFO: trying to register non-static key`)},
	// "rcu_preempt detected stalls on CPUs/tasks", "... detected expedited
	// stalls ...", and a CPU's own "rcu_preempt self-detected stall on CPU".
	{"rcu-stall", regexp.MustCompile(`INFO: \S+ (detected (expedited )?stalls|self-detected stall)`)},
	{"hung-task", regexp.MustCompile(`INFO: task .* blocked for more than \d+ seconds`)},
	{"debug-objects", regexp.MustCompile(`ODEBUG: `)},
	{"list-corruption", regexp.MustCompile(`list_(add|del) corruption`)},
	// An allocation that failed and said so (warn_alloc). A vmalloc
	// that fault injection failed says so this way (see Scan); a page
	// allocation that fail_page_alloc failed says nothing (it fails
	// before the slow path's warning), so a page allocation failure is
	// always the real thing.
	{"alloc-failure", regexp.MustCompile(`: vmalloc error: size |vmalloc_node_range for size \d+ failed`)},
	{"page-alloc-failure", regexp.MustCompile(`: page allocation failure: order:`)},
	{"stack-trace", regexp.MustCompile(`^\s*Call Trace:`)},
}

// The lines a guest test writes to the kernel log (KERN_WARNING, so that
// they reach the console) around a stretch of fault injection: inside it,
// a vmalloc failure report (warn_alloc's message and the stack trace it
// dumps) of one of InjectedComms is an injected failure answered as it
// should be, not a finding. The stretch also ends where its test binary
// does (the guest runner's end mark), should the test die before saying
// so.
const (
	FaultInjectionOn  = "emptypidfd: fault injection on"
	FaultInjectionOff = "emptypidfd: fault injection off"
)

// InjectedComms are the tasks fault injection fails: the stress test's
// helper, and the embryo it starts (before its exec it has the helper's
// name, after it true-static's).
var InjectedComms = []string{"stress.test", "true-static"}

// packageEnd starts the guest runner's mark of a test binary's end
// (internal/vmrun/progress).
const packageEnd = "vmrun: end "

// allocTraceWithin is how many lines after warn_alloc's message its
// "Call Trace:" comes (the CPU, taint and hardware lines are between).
const allocTraceWithin = 8

// Match reports whether line starts a kernel error report, and its kind.
func Match(line string) (kind string, ok bool) {
	for _, p := range patterns {
		if p.re.MatchString(line) {
			return p.kind, true
		}
	}
	return "", false
}

// injectedComm says whether a warn_alloc line ("comm: vmalloc error: ...")
// is of one of InjectedComms.
func injectedComm(line string) bool {
	comm, _, _ := strings.Cut(stampRe.ReplaceAllString(line, ""), ": ")
	return slices.Contains(InjectedComms, strings.TrimSpace(comm))
}

// Scan returns every report start in r, in order. The stack trace that
// an allocation failure report dumps is part of that report, not one of
// its own; an allocation failure between FaultInjectionOn and
// FaultInjectionOff is no finding at all.
func Scan(r io.Reader) ([]Finding, error) {
	var found []Finding
	injecting := false
	lastAlloc := -allocTraceWithin - 1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.Contains(line, FaultInjectionOn):
			injecting = true
			continue
		case strings.Contains(line, FaultInjectionOff), strings.HasPrefix(line, packageEnd):
			injecting = false
			continue
		}
		kind, ok := Match(line)
		switch {
		case !ok:
			continue
		case kind == "alloc-failure" || kind == "page-alloc-failure":
			lastAlloc = n
			if kind == "alloc-failure" && injecting && injectedComm(line) {
				continue
			}
		case kind == "stack-trace" && n-lastAlloc <= allocTraceWithin:
			continue
		}
		found = append(found, Finding{Line: n, Kind: kind, Text: line})
	}
	if err := sc.Err(); err != nil {
		return found, fmt.Errorf("consolelog: reading: %w", err)
	}
	return found, nil
}

// ScanFile is Scan on the file at path.
func ScanFile(path string) ([]Finding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("consolelog: %w", err)
	}
	defer f.Close()
	return Scan(f)
}

// A RaceReport is one KCSAN report: its first line and the stacks of the
// racing accesses that follow it, up to the report's closing rule.
type RaceReport struct {
	Line   int    // 1-based line number of the header
	Header string // "BUG: KCSAN: data-race in f / g", as logged
	// Each access's stack ("write to 0x... by task 12 on cpu 1:"), the
	// accessing function first; suffixes (.isra.0) cut.
	Stacks [][]string
}

var (
	raceHeaderRe = regexp.MustCompile(`BUG: KCSAN: .*`)
	// " f+0x1c/0x80", with or without a "[module]" after it.
	frameRe = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_.]*)\+0x[0-9a-f]+/0x[0-9a-f]+`)
	// The line before each access's stack: "write to 0x... of 4 bytes by
	// task 12 on cpu 1:", "read (marked) to ...", "race at unknown
	// origin, with read to ...".
	accessRe = regexp.MustCompile(` by (task \d+|interrupt)( on cpu \d+)?:$`)
	// The rule of '=' that ends a KCSAN report.
	ruleRe = regexp.MustCompile(`^\s*={20,}\s*$`)
	// The kernel's timestamp, "[   12.345678] ", and a caller id after
	// it ("[  T210] ") where CONFIG_PRINTK_CALLER is set.
	stampRe = regexp.MustCompile(`^(\[\s*\d+\.\d+\]\s?)?(\[\s*[TC]\d+\]\s?)?`)
)

// ScanRaces returns every KCSAN report in r.
func ScanRaces(r io.Reader) ([]RaceReport, error) {
	var found []RaceReport
	var cur *RaceReport
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := stampRe.ReplaceAllString(strings.TrimRight(sc.Text(), "\r"), "")
		if h := raceHeaderRe.FindString(line); h != "" {
			found = append(found, RaceReport{Line: n, Header: h})
			cur = &found[len(found)-1]
			continue
		}
		if cur == nil {
			continue
		}
		if ruleRe.MatchString(line) {
			cur = nil
			continue
		}
		if accessRe.MatchString(line) {
			cur.Stacks = append(cur.Stacks, nil)
			continue
		}
		if m := frameRe.FindStringSubmatch(line); m != nil && len(cur.Stacks) > 0 {
			name, _, _ := strings.Cut(m[1], ".")
			last := &cur.Stacks[len(cur.Stacks)-1]
			*last = append(*last, name)
		}
	}
	if err := sc.Err(); err != nil {
		return found, fmt.Errorf("consolelog: reading: %w", err)
	}
	return found, nil
}

// Touches reports the first function that in holds among the functions
// the header names ("data-race in f / g") and the top depth frames of
// each access's stack (the accessing function and its nearest callers),
// if any.
func (r RaceReport) Touches(in func(string) bool, depth int) (string, bool) {
	for _, f := range r.HeaderFuncs() {
		if in(f) {
			return f, true
		}
	}
	for _, st := range r.Stacks {
		for _, f := range st[:min(depth, len(st))] {
			if in(f) {
				return f, true
			}
		}
	}
	return "", false
}

// raceFuncsRe takes the functions out of a KCSAN header: "data-race in f
// / g", "data-race in f", "assert: race in f / g".
var raceFuncsRe = regexp.MustCompile(` in ([A-Za-z_][A-Za-z0-9_.]*)(?: / ([A-Za-z_][A-Za-z0-9_.]*))?`)

// HeaderFuncs returns the functions the header names, suffixes cut.
func (r RaceReport) HeaderFuncs() []string {
	m := raceFuncsRe.FindStringSubmatch(r.Header)
	if m == nil {
		return nil
	}
	var out []string
	for _, f := range m[1:] {
		if f != "" {
			name, _, _ := strings.Cut(f, ".")
			out = append(out, name)
		}
	}
	return out
}

// Complete says whether the report was read whole: its header names a
// function and every access has a stack. One that was not (a console
// line cut into, a format this parser does not know) cannot be judged.
func (r RaceReport) Complete() bool {
	if len(r.HeaderFuncs()) == 0 || len(r.Stacks) == 0 {
		return false
	}
	for _, st := range r.Stacks {
		if len(st) == 0 {
			return false
		}
	}
	return true
}
