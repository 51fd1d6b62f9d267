// Package skips is the suite's skip budget. A skipped test checks nothing, so
// the suite counts a skip as a failure unless an allow-list names the test
// with the reason it may skip. The list is a text file of lines
//
//	package/TestName[/subtest...] reason
//
// where package is the last element of the test package's import path
// ("baseline", "upstream", "vmtest" for the host side) and the name is the
// test's full name as 'go test -v' prints it. Blank lines and lines starting
// with "#" are comments. Every entry needs a reason; a name listed twice is
// an error. A name written with a leading "~" may skip but need not: it is
// never stale (a result of a binary that reports only when it is fast
// enough to finish).
package skips

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// List is a parsed allow-list.
type List struct {
	// Source names the file, for messages.
	Source   string
	reasons  map[string]string
	names    []string        // in file order
	optional map[string]bool // "~" entries, never stale
}

// Parse reads an allow-list; source names it in errors and messages.
func Parse(r io.Reader, source string) (*List, error) {
	l := &List{Source: source, reasons: map[string]string{}, optional: map[string]bool{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, _ := strings.Cut(line, " ")
		reason = strings.TrimSpace(reason)
		name, optional := strings.CutPrefix(name, "~")
		switch {
		case reason == "":
			return nil, fmt.Errorf("%s:%d: %q has no reason", source, n, name)
		case !strings.Contains(name, "/"):
			return nil, fmt.Errorf("%s:%d: %q is not package/TestName", source, n, name)
		}
		if _, dup := l.reasons[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", source, n, name)
		}
		l.reasons[name] = reason
		l.names = append(l.names, name)
		if optional {
			l.optional[name] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	return l, nil
}

// Load parses the allow-list file at path.
func Load(path string) (*List, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("skip allow-list: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}

// Reason returns why name may skip, and whether it may. A nil List allows
// nothing.
func (l *List) Reason(name string) (string, bool) {
	if l == nil {
		return "", false
	}
	r, ok := l.reasons[name]
	return r, ok
}

// Under returns the listed names in package pkg (those starting "pkg/"), in
// file order.
func (l *List) Under(pkg string) []string {
	if l == nil {
		return nil
	}
	var out []string
	for _, n := range l.names {
		if strings.HasPrefix(n, pkg+"/") {
			out = append(out, n)
		}
	}
	return out
}

// Source names l's file, or says there is none.
func (l *List) source() string {
	if l == nil || l.Source == "" {
		return "the skip allow-list (none given)"
	}
	return l.Source
}

// Source names the budget's allow-list file, or says there is none.
func (b *Budget) Source() string { return b.List.source() }

// Budget judges the skips of one run against a List.
type Budget struct {
	List *List
	// Lax, if set, says why skips the list does not allow are only
	// logged, not failures (a stock-kernel comparison run).
	Lax     string
	skipped map[string]bool
}

// Verdict is what Budget.Judge decides about one skip.
type Verdict struct {
	// OK: the skip is allowed (listed), or the budget is lax.
	OK bool
	// Message explains the verdict, for the test log.
	Message string
}

// Judge decides whether the test name may skip, and records that it did.
func (b *Budget) Judge(name string) Verdict {
	if b.skipped == nil {
		b.skipped = map[string]bool{}
	}
	b.skipped[name] = true
	if reason, ok := b.List.Reason(name); ok {
		return Verdict{OK: true, Message: fmt.Sprintf("allowed to skip by %s: %s", b.List.source(), reason)}
	}
	if b.Lax != "" {
		return Verdict{OK: true, Message: fmt.Sprintf("UNLISTED SKIP of %s, not counted as a failure only because %s", name, b.Lax)}
	}
	return Verdict{Message: fmt.Sprintf("a skip counts as a failure: %s does not list %s (add \"%s <reason>\" there if the skip is right)",
		b.List.source(), name, name)}
}

// Stale returns the names the list allows in package pkg that Judge never
// saw skip: entries that no longer match a skip (call it only when pkg ran
// to its end).
func (b *Budget) Stale(pkg string) []string {
	var out []string
	for _, n := range b.List.Under(pkg) {
		if !b.skipped[n] && !b.List.optional[n] {
			out = append(out, n)
		}
	}
	return out
}
