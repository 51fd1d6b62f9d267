// Package stresslog reads what selftests/stress logs in a VM's console:
// its parseable lines ("stress-figures: test=T k=v ...", "stress-faults:
// ...", "stress-errnos: ..."), which are the figures RELIABILITY.md
// reports.
package stresslog

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// A Record is one parseable line: its kind ("figures", "faults",
// "errnos", "calls"), and its key=value pairs in order.
type Record struct {
	Kind   string
	Keys   []string
	Values map[string]string
}

// Get returns the value of key, or "" if the line has none.
func (r Record) Get(key string) string { return r.Values[key] }

// kinds are the line kinds read, by their prefix.
var kinds = []string{"figures", "faults", "errnos", "calls"}

// Parse returns every parseable stress line in r, in order. A line may
// carry a prefix (the Go test's "file.go:12: ", the kernel's timestamp).
func Parse(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		for _, k := range kinds {
			_, rest, ok := strings.Cut(line, "stress-"+k+": ")
			if !ok {
				continue
			}
			rec := Record{Kind: k, Values: map[string]string{}}
			for _, f := range strings.Fields(rest) {
				key, val, ok := strings.Cut(f, "=")
				if !ok {
					continue
				}
				rec.Keys = append(rec.Keys, key)
				rec.Values[key] = val
			}
			out = append(out, rec)
			break
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("stresslog: reading: %w", err)
	}
	return out, nil
}

// Figures returns the "figures" record of test, and whether there is one
// (the last, if the test logged several).
func Figures(recs []Record, test string) (Record, bool) {
	var found Record
	ok := false
	for _, r := range recs {
		if r.Kind == "figures" && r.Get("test") == test {
			found, ok = r, true
		}
	}
	return found, ok
}

// Of returns the records of one kind and test, in order.
func Of(recs []Record, kind, test string) []Record {
	var out []Record
	for _, r := range recs {
		if r.Kind == kind && r.Get("test") == test {
			out = append(out, r)
		}
	}
	return out
}
