package coverage

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseDiff(t *testing.T) {
	diff := `diff --git a/kernel/a.c b/kernel/a.c
--- a/kernel/a.c
+++ b/kernel/a.c
@@ -10,0 +11,2 @@ int f(void)
+	if (x)
+		return -EINVAL;
@@ -20 +22 @@ int g(void)
-	old();
+	new();
diff --git a/kernel/new.c b/kernel/new.c
new file mode 100644
--- /dev/null
+++ b/kernel/new.c
@@ -0,0 +1,2 @@
+// SPDX
+int h;
diff --git a/kernel/gone.c b/kernel/gone.c
--- a/kernel/gone.c
+++ /dev/null
@@ -1 +0,0 @@
-int gone;
`
	got, err := ParseDiff(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	want := Added{
		"kernel/a.c":   {11: "\tif (x)", 12: "\t\treturn -EINVAL;", 22: "\tnew();"},
		"kernel/new.c": {1: "// SPDX", 2: "int h;"},
	}
	if len(got.Added) != len(want) {
		t.Fatalf("files: got %v, want %v", got.Added, want)
	}
	for f, lines := range want {
		for n, text := range lines {
			if got.Added[f][n] != text {
				t.Errorf("%s:%d: got %q, want %q", f, n, got.Added[f][n], text)
			}
		}
		if len(got.Added[f]) != len(lines) {
			t.Errorf("%s: got %d lines, want %d", f, len(got.Added[f]), len(lines))
		}
	}
	if _, err := ParseDiff(strings.NewReader("+++ b/x.c\n@@ bad @@\n")); err == nil {
		t.Error("a malformed hunk header was accepted")
	}
}

// A diff with whole functions as context (git diff -W): the functions
// whose bodies gain a line, and the added lines' numbers past context.
func TestParseDiffFunctions(t *testing.T) {
	diff := `diff --git a/kernel/exit.c b/kernel/exit.c
--- a/kernel/exit.c
+++ b/kernel/exit.c
@@ -100,9 +100,11 @@ static int untouched(void)
 static void forget_original_parent(struct task_struct *father,
 					struct list_head *dead)
 {
 	struct task_struct *p;
+	embryo_reap(father);
 	return;
 }
 
 int declared(int x);
 static const struct ops o = {
 	.f = f,
 };
@@ -200,4 +202,8 @@
 SYSCALL_DEFINE2(pidfd_spawn_run, int, fd, unsigned int, flags)
 {
+	return run(fd);
 }
+static inline bool embryo_new(void)
+{
+	return true;
+}
@@ -300,3 +306,3 @@
 void only_removed(void)
 {
-	gone();
 }
@@ -400,3 +405,3 @@
-int renamed_old(int x)
+int renamed_new(int x)
 {
 	return x;
 }

 void untouched_after(void)
 {
 	nothing();
 }
`
	got, err := ParseDiff(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	// A function whose body only lost a line, and one whose definition
	// changed, count: a lock taken out is where a race comes in.
	want := []string{"__do_sys_pidfd_spawn_run", "__ia32_sys_pidfd_spawn_run", "__se_sys_pidfd_spawn_run",
		"__x64_sys_pidfd_spawn_run", "embryo_new", "forget_original_parent", "only_removed", "renamed_new"}
	if names := slices.Sorted(maps.Keys(got.Funcs)); !slices.Equal(names, want) {
		t.Errorf("functions: got %v, want %v", names, want)
	}
	for n, text := range map[int]string{104: "\tembryo_reap(father);", 204: "\treturn run(fd);", 206: "static inline bool embryo_new(void)"} {
		if got.Added["kernel/exit.c"][n] != text {
			t.Errorf("line %d: got %q, want %q", n, got.Added["kernel/exit.c"][n], text)
		}
	}
}

func TestIsErrorPath(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"\t\treturn -EINVAL;", true},
		{"\treturn ERR_PTR(-ENOMEM);", true},
		{"\t\terr = -EPERM;", true},
		{"\t\tret = -E2BIG;", true},
		{"\treturn state == EMBRYO_DYING ? -ESRCH : -EBUSY;", true},
		{"\t\treturn PTR_ERR(file);", true},
		{"\treturn ERR_CAST(pid);", true},
		{"\t\tgoto out_free;", false},
		{"\treturn 0;", false},
		{"\treturn err;", false},
		{"\tif (err == -EINTR)", false},
		{"\treturn -1;", false},
	} {
		if got := IsErrorPath(tc.text); got != tc.want {
			t.Errorf("IsErrorPath(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

// testdata/e.gcov.json.gz is gcov -j -b of testdata/e.c built with
// -DEINVAL=22 -DERANGE=34 -fprofile-arcs -ftest-coverage and run once with
// no arguments: check() ran twice, its "return -EINVAL" once, its
// "return -ERANGE" never.
func TestParseGcovJSONAndReport(t *testing.T) {
	f, err := os.Open("testdata/e.gcov.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := ParseGcovJSON(f, "e.c")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n        int
		count    int64
		branches int
		taken    int
	}{
		{3, 2, 2, 2}, {4, 1, 0, 0}, {5, 1, 2, 1}, {6, 0, 0, 0},
	} {
		l := lines[tc.n]
		if l.Count != tc.count || l.Branches != tc.branches || l.Taken != tc.taken || l.Func != "check" {
			t.Errorf("line %d: got %+v, want count %d, %d/%d branches, in check", tc.n, l, tc.count, tc.taken, tc.branches)
		}
	}
	if other, err := ParseGcovJSON(mustOpen(t, "testdata/e.gcov.json.gz"), "other.c"); err != nil || len(other) != 0 {
		t.Errorf("another file's lines: got %v, %v; want none", other, err)
	}

	src, err := os.ReadFile("testdata/e.c")
	if err != nil {
		t.Fatal(err)
	}
	// As if the series added check()'s body (lines 3-7).
	added := map[int]string{}
	for i, text := range strings.Split(string(src), "\n") {
		if n := i + 1; n >= 3 && n <= 7 {
			added[n] = text
		}
	}
	r := Report("e.c", added, lines, true)
	if got, total := r.Reached(); got != 4 || total != 5 {
		t.Errorf("Reached() = %d/%d, want 4/5", got, total)
	}
	if got, total := r.BranchesTaken(); got != 3 || total != 4 {
		t.Errorf("BranchesTaken() = %d/%d, want 3/4", got, total)
	}
	var errs []int
	var reached []bool
	for _, e := range r.Errors {
		errs = append(errs, e.N)
		reached = append(reached, e.Reached)
	}
	if !slices.Equal(errs, []int{4, 6}) || !slices.Equal(reached, []bool{true, false}) {
		t.Errorf("error paths %v reached %v; want [4 6], [true false]", errs, reached)
	}
	if u := r.Unreached(); len(u) != 0 {
		t.Errorf("Unreached() = %v, want none (the error return is judged in Errors)", u)
	}
}

// An error return without a counter of its own is judged by its guard.
func TestReportGuardedErrors(t *testing.T) {
	added := map[int]string{
		10: "\tif (a)", 11: "\t\treturn -EINVAL;",
		20: "\tif (b)", 21: "\t\treturn -EPERM;",
		30: "\tif (c)", 31: "\t\treturn -ESRCH;",
		40: "\treturn -EBADF;",
		50: "\terr = -EINVAL;",
		60: "\tif (d ||", 61: "\t    e)", 62: "\t\treturn -E2BIG;",
	}
	lines := map[int]Line{
		10: {N: 10, Func: "f", Count: 5, Branches: 2, Taken: 2},
		20: {N: 20, Func: "f", Count: 5, Branches: 2, Taken: 1},
		30: {N: 30, Func: "f", Count: 0, Branches: 2},
		49: {N: 49, Func: "f", Count: 3},
		60: {N: 60, Func: "f", Count: 3, Branches: 4, Taken: 4},
		61: {N: 61, Func: "f", Count: 3},
	}
	r := Report("k.c", added, lines, true)
	// 50: straight-line after a line that ran; 62: a condition over
	// two lines, judged by the one with the branches.
	want := map[int]bool{11: true, 21: false, 31: false, 40: false, 50: true, 62: true}
	if len(r.Errors) != len(want) {
		t.Fatalf("errors: %+v", r.Errors)
	}
	for _, e := range r.Errors {
		if e.Reached != want[e.N] || e.How == "" {
			t.Errorf("line %d: reached %v (%s), want %v", e.N, e.Reached, e.How, want[e.N])
		}
	}
}

func TestParseGcovJSONRejects(t *testing.T) {
	for _, doc := range []string{`{"format_version": "3", "files": []}`, `not json`} {
		if _, err := ParseGcovJSON(strings.NewReader(doc), "e.c"); err == nil {
			t.Errorf("%q was accepted", doc)
		}
	}
}

func mustOpen(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
