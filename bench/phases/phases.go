// Package phases is the per-phase breakdown of the spawn benchmark: where
// one spawn spends its time. spawnbench -P stamps CLOCK_MONOTONIC after
// each system call of the caller; the kernel's sched_process_fork,
// sched_process_exec and sched_process_exit trace events, read with
// trace_clock "mono" so that both clocks are one, stamp what happens in the
// child. Breakdown joins the two by the child's pid and reports each step's
// median.
package phases

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// Milestones stamped by the kernel.
const (
	Created  = "created"   // sched_process_fork: the child exists
	ExecDone = "exec_done" // sched_process_exec: the child's exec succeeded
	Exited   = "exited"    // sched_process_exit: the child exits
)

// Spawn is one line of spawnbench -P: one stamped spawn.
type Spawn struct {
	Method    string  `json:"method"`
	Available *bool   `json:"available,omitempty"` // false on an "unavailable" line
	Reason    string  `json:"reason,omitempty"`
	Pid       int     `json:"pid"`
	Stamps    []Stamp `json:"stamps"`
}

// Stamp is a milestone and its CLOCK_MONOTONIC time.
type Stamp struct {
	Name string `json:"name"`
	NS   int64  `json:"ns"`
}

// ParseSpawns reads spawnbench -P's output; it returns the stamped spawns
// and, by method, why a method was unavailable.
func ParseSpawns(r io.Reader) ([]Spawn, map[string]string, error) {
	var spawns []Spawn
	unavailable := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var s Spawn
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, nil, fmt.Errorf("line %d: %w", n, err)
		}
		if s.Available != nil && !*s.Available {
			unavailable[s.Method] = s.Reason
			continue
		}
		if s.Pid <= 0 || len(s.Stamps) < 2 {
			return nil, nil, fmt.Errorf("line %d: pid %d and %d stamps", n, s.Pid, len(s.Stamps))
		}
		spawns = append(spawns, s)
	}
	return spawns, unavailable, sc.Err()
}

// Event is one sched_process_* trace event of a child.
type Event struct {
	Milestone string
	NS        int64
}

var traceLine = regexp.MustCompile(`\s(\d+)\.(\d{6}): (sched_process_fork|sched_process_exec|sched_process_exit): (.*)$`)
var fieldRE = regexp.MustCompile(`(\w+)=(\S*)`)

// ParseTrace reads the tracefs "trace" file and returns, by pid, the
// events of that pid as a child (fork by child_pid, exec and exit by pid).
// A trace that lost events is an error: the breakdown would be biased.
func ParseTrace(r io.Reader) (map[int][]Event, error) {
	events := map[int][]Event{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "LOST") && strings.Contains(line, "EVENTS") {
			return nil, fmt.Errorf("the trace lost events (%q): give it a bigger buffer", strings.TrimSpace(line))
		}
		m := traceLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		usec, _ := strconv.ParseInt(m[2], 10, 64)
		ns := sec*1e9 + usec*1e3
		fields := map[string]string{}
		for _, f := range fieldRE.FindAllStringSubmatch(m[4], -1) {
			fields[f[1]] = f[2]
		}
		key, milestone := "pid", ""
		switch m[3] {
		case "sched_process_fork":
			key, milestone = "child_pid", Created
		case "sched_process_exec":
			milestone = ExecDone
		case "sched_process_exit":
			milestone = Exited
		}
		pid, err := strconv.Atoi(fields[key])
		if err != nil {
			return nil, fmt.Errorf("trace line without %s: %q", key, line)
		}
		events[pid] = append(events[pid], Event{milestone, ns})
	}
	return events, sc.Err()
}

// Step is one step of a method's spawn: from one milestone to another.
type Step struct {
	From, To string
	Syscalls string // what runs in it
}

// Steps returns the steps of method (a spawnbench -P method) in the order
// of a spawn; some overlap, where the caller and the child run at once.
func Steps(method string) ([]Step, error) {
	full := strings.HasSuffix(method, "_full")
	switch strings.TrimSuffix(method, "_full") {
	case "embryo":
		steps := []Step{
			{"start", Created, "pidfd_open(PIDFD_EMPTY): the embryo is created"},
			{Created, "opened", "pidfd_open: its pidfd is installed, return"},
			{"opened", "EXEC", "pidfd_config(EXEC)"},
			{"EXEC", "ARGV", "pidfd_config(ARGV)"},
		}
		last := "ARGV"
		if full {
			for _, c := range []string{"ENVP", "FD DUP 0", "FD DUP 1", "FD DUP 2", "CWD"} {
				steps = append(steps, Step{last, c, "pidfd_config(" + c + ")"})
				last = c
			}
		}
		// As vfork's: the embryo starts and wakes the caller at its
		// exec's point of no return (after exec_mmap()), before the
		// exec completes.
		return append(steps,
			Step{last, "run_returned", "pidfd_spawn_run: the embryo is woken, execs up to its point of no return, which starts it and wakes the caller; the run returns"},
			Step{last, ExecDone, "the embryo's whole exec, alongside"},
			Step{ExecDone, Exited, "the child runs (noop) and exits"},
			Step{"run_returned", "reaped", "waitid(P_PIDFD) until the child is reaped"},
			Step{"start", "reaped", "total"},
		), nil
	case "vfork":
		child := "execve"
		if full {
			child = "dup2 x3, chdir, execve"
		}
		// The caller is woken when the child's exec drops the shared
		// mm (exec_mmap()), before the exec completes.
		return []Step{
			{"start", Created, "vfork: the child is created (CLONE_VM)"},
			{Created, "vfork_returned", "the child: " + child + " up to dropping the caller's mm, which wakes the caller; vfork returns"},
			{Created, ExecDone, "the child's whole exec (" + child + "), alongside"},
			{ExecDone, Exited, "the child runs (noop) and exits"},
			{"vfork_returned", "reaped", "waitpid until the child is reaped"},
			{"start", "reaped", "total"},
		}, nil
	}
	return nil, fmt.Errorf("no steps defined for method %q", method)
}

// Breakdown joins spawns with the kernel's events and returns each step's
// statistics, by method in the order of first appearance. A spawn whose
// child has no fork, exec or exit event inside the spawn is an error: the
// trace is incomplete.
func Breakdown(spawns []Spawn, events map[int][]Event, method func(string) string) ([]results.Phase, error) {
	var order []string
	byMethod := map[string][]map[string]int64{}
	for _, s := range spawns {
		ms := map[string]int64{}
		for _, st := range s.Stamps {
			ms[st.Name] = st.NS
		}
		start, reaped := ms["start"], ms["reaped"]
		if start == 0 || reaped < start {
			return nil, fmt.Errorf("%s pid %d: no start and reaped stamps in order", s.Method, s.Pid)
		}
		// The trace prints microseconds: allow for its rounding.
		for _, ev := range events[s.Pid] {
			if ev.NS >= start-1000 && ev.NS <= reaped+1000 {
				ms[ev.Milestone] = ev.NS
			}
		}
		for _, k := range []string{Created, ExecDone, Exited} {
			if _, ok := ms[k]; !ok {
				return nil, fmt.Errorf("%s pid %d: no %s trace event during the spawn", s.Method, s.Pid, k)
			}
		}
		if byMethod[s.Method] == nil {
			order = append(order, s.Method)
		}
		byMethod[s.Method] = append(byMethod[s.Method], ms)
	}
	var out []results.Phase
	for _, m := range order {
		steps, err := Steps(m)
		if err != nil {
			return nil, err
		}
		for i, st := range steps {
			var d []int64
			for _, ms := range byMethod[m] {
				from, ok1 := ms[st.From]
				to, ok2 := ms[st.To]
				if !ok1 || !ok2 {
					return nil, fmt.Errorf("%s: a spawn lacks milestone %s or %s", m, st.From, st.To)
				}
				d = append(d, to-from)
			}
			slices.Sort(d)
			out = append(out, results.Phase{Method: method(m), Step: i, From: st.From, To: st.To,
				Syscalls: st.Syscalls, N: len(d), MedianUS: us(results.Median(d)),
				P25US: us(float64(results.Percentile(d, 25))), P75US: us(float64(results.Percentile(d, 75)))})
		}
	}
	return out, nil
}

func us(ns float64) float64 { return float64(int64(ns/10+0.5)) / 100 }
