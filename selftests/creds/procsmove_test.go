package creds

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// The cgroup patch of the series ("move a lone thread that writes its
// group to cgroup.procs unlocked") skips the threadgroup lock when the
// writer of "0" is alone in its thread group, which is how an embryo
// moves itself (TestCgroup). These check the two sides of that rule from
// ordinary processes: a lone shell that moves itself, then forks, and a
// multi-threaded Go process whose write must still move every thread.

// cgroupOf returns the "0::" path of /proc/<path>/cgroup.
func cgroupOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return rel, nil
		}
	}
	return "", fmt.Errorf("%s has no cgroup v2 line: %q", path, b)
}

// helperProcsMove writes "0" to the cgroup.procs in arg from a Go process
// (several threads) and reports each thread's cgroup.
func helperProcsMove(raw json.RawMessage) (any, error) {
	var procs string
	if err := helper.DecodeArg(raw, &procs); err != nil {
		return nil, err
	}
	if err := os.WriteFile(procs, []byte("0"), 0); err != nil {
		return nil, err
	}
	tasks, err := filepath.Glob("/proc/self/task/*/cgroup")
	if err != nil {
		return nil, err
	}
	var cgs []string
	for _, p := range tasks {
		cg, err := cgroupOf(p)
		if err != nil {
			return nil, err
		}
		cgs = append(cgs, cg)
	}
	return cgs, nil
}

func TestProcsMoveWholeGroup(t *testing.T) {
	guest.Require(t)
	root := cgroup2.Root(t)
	dir := cgroup2.New(t, "procsmove")
	want := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")
	var cgs []string
	helper.New(t, "procsmove", filepath.Join(dir, "cgroup.procs")).Result(&cgs)
	if len(cgs) < 2 {
		t.Fatalf("the helper had %d thread(s): a Go process should have several, the test needs a thread group of more than one", len(cgs))
	}
	for i, cg := range cgs {
		if cg != want {
			t.Errorf("thread %d of %d is in %s after its process wrote 0 to %s/cgroup.procs, want %s", i, len(cgs), cg, dir, want)
		}
	}
}

func TestProcsMoveLoneThread(t *testing.T) {
	guest.Require(t)
	root := cgroup2.Root(t)
	dir := cgroup2.New(t, "procslone")
	want := "/" + strings.TrimPrefix(strings.TrimPrefix(dir, root), "/")
	// dash is one thread: it moves itself, then forks cat, whose
	// cgroup is the one it inherits from the moved shell.
	out, err := exec.Command("/bin/sh", "-c", `echo 0 > "$1/cgroup.procs" && cat /proc/self/cgroup && cat "/proc/$$/cgroup"`, "sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("sh: %v: %s", err, out)
	}
	lines := 0
	for _, line := range strings.Split(string(out), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			lines++
			if rel != want {
				t.Errorf("after a lone shell wrote 0 to its cgroup.procs: %q, want 0::%s", line, want)
			}
		}
	}
	if lines != 2 {
		t.Errorf("want the cgroup of the shell's child and of the shell, got %q", out)
	}
}
