package stress

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// counters are what a test did, merged from its helpers: the calls made
// per op (by variant, as "op/variant") and the results seen per op, the
// invariant checks made, the rounds, and notes (what could not be done,
// said once each with a count). They travel from the helpers as JSON.
type counters struct {
	Calls      map[string]map[string]int // op -> result ("ok", "EBADF", "skipped") -> count
	Invariants int
	Rounds     int
	Notes      map[string]int
}

func newCounters() *counters {
	return &counters{Calls: map[string]map[string]int{}, Notes: map[string]int{}}
}

func (c *counters) add(op string, e unix.Errno) { c.addResult(op, errnoName(e)) }

func (c *counters) addResult(op, result string) {
	m := c.Calls[op]
	if m == nil {
		m = map[string]int{}
		c.Calls[op] = m
	}
	m[result]++
}

func (c *counters) note(s string) { c.Notes[s]++ }

func (c *counters) merge(o *counters) {
	if o == nil {
		return
	}
	for op, m := range o.Calls {
		dst := c.Calls[op]
		if dst == nil {
			dst = map[string]int{}
			c.Calls[op] = dst
		}
		for r, n := range m {
			dst[r] += n
		}
	}
	c.Invariants += o.Invariants
	c.Rounds += o.Rounds
	for s, n := range o.Notes {
		c.Notes[s] += n
	}
}

// total is the number of calls made.
func (c *counters) total() int {
	n := 0
	for _, m := range c.Calls {
		for _, k := range m {
			n += k
		}
	}
	return n
}

// lines renders the counters as log lines a report generator can parse:
// "stress-calls: test=T op=OP calls=N RESULT=N ...", one per op in
// order, and "stress-note: test=T count=N text=...". Keys and values have
// no spaces.
func (c *counters) lines(test string) []string {
	var out []string
	for _, op := range slices.Sorted(maps.Keys(c.Calls)) {
		m := c.Calls[op]
		var b strings.Builder
		n := 0
		for _, r := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, " %s=%d", r, m[r])
			n += m[r]
		}
		out = append(out, fmt.Sprintf("stress-calls: test=%s op=%s calls=%d%s", test, op, n, b.String()))
	}
	for _, s := range slices.Sorted(maps.Keys(c.Notes)) {
		out = append(out, fmt.Sprintf("stress-note: test=%s count=%d text=%s", test, c.Notes[s], strings.ReplaceAll(s, " ", "_")))
	}
	return out
}

// figures renders key=value pairs, in the order given, as one
// "stress-figures: test=T k=v ..." line.
func figures(test string, kv ...any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "stress-figures: test=%s", test)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], strings.ReplaceAll(fmt.Sprint(kv[i+1]), " ", "_"))
	}
	return b.String()
}

// errnosBy returns, per op prefix (the part before "/"), the results seen:
// the "errnos seen per op" figure.
func (c *counters) errnosBy() map[string]map[string]int {
	out := map[string]map[string]int{}
	for op, m := range c.Calls {
		base, _, _ := strings.Cut(op, "/")
		if out[base] == nil {
			out[base] = map[string]int{}
		}
		for r, n := range m {
			out[base][r] += n
		}
	}
	return out
}

// summaryLines is one "stress-errnos: test=T op=BASE calls=N R=N ..." line
// per op prefix.
func (c *counters) summaryLines(test string) []string {
	by := c.errnosBy()
	var out []string
	for _, op := range slices.Sorted(maps.Keys(by)) {
		m := by[op]
		var b strings.Builder
		n := 0
		for _, r := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(&b, " %s=%d", r, m[r])
			n += m[r]
		}
		out = append(out, fmt.Sprintf("stress-errnos: test=%s op=%s calls=%d%s", test, op, n, b.String()))
	}
	return out
}
