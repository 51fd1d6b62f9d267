package reliability

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/reliability/coverage"
)

// Coverage end to end, as make reliability runs it on a kernel build: the
// notes file in the build, the counters under the build's absolute path
// in the copy of the guest's /sys/kernel/debug/gcov, gcov in between.
func TestCoverage(t *testing.T) {
	for _, tool := range []string{"gcc", "gcov"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make deps installs it): %v", tool, err)
		}
	}
	root := t.TempDir()
	kbuild := filepath.Join(root, "kbuild")
	obj := filepath.Join(kbuild, "kernel")
	if err := os.MkdirAll(obj, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("coverage/testdata/e.c")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(obj, "e.c"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("gcc", "-DEINVAL=22", "-DERANGE=34", "-fprofile-arcs", "-ftest-coverage", "-o", "e", "e.c")
	build.Dir = obj
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", build, err, out)
	}
	if out, err := exec.Command(filepath.Join(obj, "e")).CombinedOutput(); err != nil {
		t.Fatalf("running e: %v\n%s", err, out)
	}
	// The guest's copy: /sys/kernel/debug/gcov/<kbuild>/kernel/e.gcda.
	gcda := filepath.Join(root, "out", "gcov")
	guestDir := filepath.Join(gcda, kbuild, "kernel")
	if err := os.MkdirAll(guestDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(obj, "e.gcda"), filepath.Join(guestDir, "e.gcda")); err != nil {
		t.Fatal(err)
	}
	// Another object of the same name, whose counters must not be taken
	// for kernel/e.o's (gcov would refuse them).
	other := filepath.Join(gcda, kbuild, "arch", "x86", "kernel")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "e.gcda"), []byte("not kernel/e's"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The series adds check() (lines 1-8) to kernel/e.c, and a line to
	// kernel/none.c, which has no counters.
	var diff strings.Builder
	diff.WriteString("diff --git a/kernel/e.c b/kernel/e.c\n--- /dev/null\n+++ b/kernel/e.c\n@@ -0,0 +1,8 @@\n")
	for _, l := range strings.Split(string(src), "\n")[:8] {
		diff.WriteString("+" + l + "\n")
	}
	diff.WriteString("diff --git a/kernel/none.c b/kernel/none.c\n--- a/kernel/none.c\n+++ b/kernel/none.c\n@@ -1,0 +2 @@\n+int x;\n")
	d, err := coverage.ParseDiff(strings.NewReader(diff.String()))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Coverage(d, kbuild, gcda)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Path != "kernel/e.c" || got[1].Path != "kernel/none.c" || got[1].Counters {
		t.Fatalf("coverage: %+v", got)
	}
	e := got[0]
	if !e.Counters || e.ErrorPaths != 2 || e.ErrorReached != 1 || e.Reached != e.Lines-1 {
		t.Errorf("kernel/e.c: %+v; want both error returns found, one reached, one line unreached", e)
	}
	if len(e.Unreached) != 1 || e.Unreached[0].N != 6 || !e.Unreached[0].Error || e.Unreached[0].Func != "check" {
		t.Errorf("unreached: %+v; want line 6, check()'s return -ERANGE", e.Unreached)
	}
	if _, err := Coverage(d, kbuild, filepath.Join(root, "nothing")); err == nil {
		t.Error("a missing counters directory was accepted")
	}
}
