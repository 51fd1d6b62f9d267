package phases

import (
	"strings"
	"testing"
)

const stamped = `{"method":"embryo","available":false,"reason":"no empty pidfds"}
{"method":"vfork","pid":101,"stamps":[{"name":"start","ns":1000000000},{"name":"vfork_returned","ns":1000300000},{"name":"reaped","ns":1000500000}]}
{"method":"vfork","pid":102,"stamps":[{"name":"start","ns":2000000000},{"name":"vfork_returned","ns":2000500000},{"name":"reaped","ns":2000900000}]}
`

const trace = `# tracer: nop
#
     spawnbench-100     [000] .....     1.000010: sched_process_fork: comm=spawnbench pid=100 child_comm=spawnbench child_pid=101
           noop-101     [001] .....     1.000200: sched_process_exec: filename=/bench/noop pid=101 old_pid=101
           noop-101     [001] .....     1.000400: sched_process_exit: comm=noop pid=101 prio=120
     spawnbench-100     [000] .....     2.000020: sched_process_fork: comm=spawnbench pid=100 child_comm=spawnbench child_pid=102
           noop-102     [001] .....     2.000400: sched_process_exec: filename=/bench/noop pid=102 old_pid=102
           noop-102     [001] .....     2.000800: sched_process_exit: comm=noop pid=102 prio=120
           noop-102     [001] .....     9.000800: sched_process_exit: comm=noop pid=102 prio=120
`

func TestBreakdown(t *testing.T) {
	spawns, unavailable, err := ParseSpawns(strings.NewReader(stamped))
	if err != nil || len(spawns) != 2 || unavailable["embryo"] != "no empty pidfds" {
		t.Fatalf("ParseSpawns: %d spawns, %v, %v", len(spawns), unavailable, err)
	}
	events, err := ParseTrace(strings.NewReader(trace))
	if err != nil || len(events[101]) != 3 || len(events[102]) != 4 {
		t.Fatalf("ParseTrace: %v, %v", events, err)
	}
	phases, err := Breakdown(spawns, events, func(m string) string { return m })
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		from, to string
		median   float64
	}{
		{"start", Created, 15},           // 10 and 20 µs
		{Created, "vfork_returned", 385}, // 290 and 480
		{Created, ExecDone, 285},         // 190 and 380
		{ExecDone, Exited, 300},          // 200 and 400 (the exit at 9 s is another process's)
		{"vfork_returned", "reaped", 300},
		{"start", "reaped", 700},
	}
	if len(phases) != len(want) {
		t.Fatalf("%d phases, want %d: %+v", len(phases), len(want), phases)
	}
	for i, w := range want {
		p := phases[i]
		if p.From != w.from || p.To != w.to || p.MedianUS != w.median || p.N != 2 || p.Step != i || p.Method != "vfork" {
			t.Errorf("phase %d: %+v, want %s→%s median %v", i, p, w.from, w.to, w.median)
		}
	}
}

func TestBreakdownErrors(t *testing.T) {
	spawns, _, _ := ParseSpawns(strings.NewReader(stamped))
	for _, tt := range []struct {
		name, trace, want string
	}{
		{"no exec event", strings.ReplaceAll(trace, "sched_process_exec", "sched_switch"), "no exec_done"},
		{"lost events", "CPU:1 [LOST 12 EVENTS]\n" + trace, "lost events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events, err := ParseTrace(strings.NewReader(tt.trace))
			if err == nil {
				_, err = Breakdown(spawns, events, func(m string) string { return m })
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := Steps("fork"); err == nil {
		t.Error("Steps(fork): no error for a method without steps")
	}
	if s, err := Steps("embryo_full"); err != nil || len(s) != 14 {
		t.Errorf("Steps(embryo_full): %d steps, %v; want 14", len(s), err)
	}
}
