package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emptypidfd/emptypidfd/internal/vmrun/progress"
)

const pkg = "example.com/selftests/lifecycle"

// test2json is what "test2json -t -p example.com/selftests/lifecycle" prints
// for a run with a passing test, a failing subtest and a skip.
const test2json = `{"Time":"2025-01-01T00:00:00Z","Action":"start","Package":"example.com/selftests/lifecycle"}
{"Time":"2025-01-01T00:00:00Z","Action":"run","Package":"example.com/selftests/lifecycle","Test":"TestA"}
{"Time":"2025-01-01T00:00:00Z","Action":"output","Package":"example.com/selftests/lifecycle","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Time":"2025-01-01T00:00:01Z","Action":"pass","Package":"example.com/selftests/lifecycle","Test":"TestA","Elapsed":1.5}
{"Time":"2025-01-01T00:00:01Z","Action":"run","Package":"example.com/selftests/lifecycle","Test":"TestB"}
{"Time":"2025-01-01T00:00:01Z","Action":"run","Package":"example.com/selftests/lifecycle","Test":"TestB/sub#01"}
{"Time":"2025-01-01T00:00:02Z","Action":"fail","Package":"example.com/selftests/lifecycle","Test":"TestB/sub#01","Elapsed":0.25}
{"Time":"2025-01-01T00:00:02Z","Action":"fail","Package":"example.com/selftests/lifecycle","Test":"TestB","Elapsed":0.5}
{"Time":"2025-01-01T00:00:02Z","Action":"run","Package":"example.com/selftests/lifecycle","Test":"TestC"}
{"Time":"2025-01-01T00:00:02Z","Action":"skip","Package":"example.com/selftests/lifecycle","Test":"TestC"}
{"Time":"2025-01-01T00:00:02Z","Action":"output","Package":"example.com/selftests/lifecycle","Output":"FAIL\n"}
{"Time":"2025-01-01T00:00:02Z","Action":"fail","Package":"example.com/selftests/lifecycle","Elapsed":2.1}
`

func TestRelay(t *testing.T) {
	var out strings.Builder
	con := &console{w: &out}
	var emitted []event
	final, err := relay(strings.NewReader(test2json), con, pkg, func(e event) error {
		emitted = append(emitted, e)
		return nil
	})
	if err != nil || final != "fail" {
		t.Errorf("relay = %q, %v; want fail, nil", final, err)
	}
	if len(emitted) != 12 {
		t.Errorf("emitted %d events, want all 12", len(emitted))
	}
	want := `vmrun: run example.com/selftests/lifecycle TestA
vmrun: pass example.com/selftests/lifecycle TestA (1.50s)
vmrun: run example.com/selftests/lifecycle TestB
vmrun: run example.com/selftests/lifecycle TestB/sub#01
vmrun: fail example.com/selftests/lifecycle TestB/sub#01 (0.25s)
vmrun: fail example.com/selftests/lifecycle TestB (0.50s)
vmrun: run example.com/selftests/lifecycle TestC
vmrun: skip example.com/selftests/lifecycle TestC (0.00s)
`
	if out.String() != want {
		t.Errorf("console:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestRelayKeepsMarkingWhenEmitFails(t *testing.T) {
	var out strings.Builder
	calls := 0
	_, err := relay(strings.NewReader(test2json), &console{w: &out}, pkg, func(event) error {
		calls++
		return errors.New("9p: connection timed out")
	})
	if err == nil || !strings.Contains(err.Error(), "9p: connection timed out") {
		t.Errorf("relay error = %v, want the emit error", err)
	}
	if calls != 1 {
		t.Errorf("emit called %d times after it failed, want 1", calls)
	}
	if n := strings.Count(out.String(), "vmrun: "); n != 8 {
		t.Errorf("%d marks on the console, want 8:\n%s", n, out.String())
	}
}

func TestConsoleMarkStartsALine(t *testing.T) {
	var out strings.Builder
	con := &console{w: &out}
	if _, err := con.Write([]byte("=== RUN   TestA\npartial")); err != nil {
		t.Fatal(err)
	}
	con.mark(progress.Mark{Action: progress.Start, Package: pkg})
	if _, err := con.Write([]byte(" rest\n")); err != nil {
		t.Fatal(err)
	}
	con.mark(progress.Mark{Action: progress.Start, Package: pkg})
	want := "=== RUN   TestA\npartial\nvmrun: start " + pkg + "\n rest\nvmrun: start " + pkg + "\n"
	if out.String() != want {
		t.Errorf("console = %q, want %q", out.String(), want)
	}
}

func TestLeakScan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report string // the file's content; "-" for no file
		want   string
	}{
		{"no kmemleak", "-", "kmemleak: not in this kernel"},
		{"nothing suspected", "", "kmemleak: no suspected leaks"},
		{"suspects", "unreferenced object 0xffff (size 64):\n  comm \"x\"\n", "kmemleak: suspected leaks:\nunreferenced object 0xffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "debug")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "kmemleak")
			if tc.report != "-" {
				// The test stands in for the kernel: "scan" writes
				// are accepted, the report is what is read back.
				if err := os.WriteFile(file, []byte(tc.report), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var b bytes.Buffer
			leakScanWait = 0
			if tc.report != "-" {
				// Writes of "scan" replace the stand-in's content;
				// put the report back as the kernel would.
				scanHook = func() { os.WriteFile(file, []byte(tc.report), 0o644) }
				defer func() { scanHook = nil }()
			}
			leakScan(&console{w: &b}, file)
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("leakScan printed %q, want it to contain %q", b.String(), tc.want)
			}
		})
	}
}

func TestCopyCoverage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string // under the stand-in gcov dir; nil: no dir
		noOut   bool              // the host asked for no output files
		want    string            // in the console output ("" for none)
		copied  []string          // under dst afterwards
		skipped []string          // not under dst afterwards
	}{
		{name: "no output asked for", noOut: true, files: map[string]string{"k/a.gcda": "x"}, skipped: []string{"k/a.gcda"}},
		{name: "no gcov", want: "gcov: no kernel coverage counters"},
		{
			name:    "counters",
			files:   map[string]string{"w/kernel/a.gcda": "A", "w/fs/b.gcda": "B", "w/kernel/a.gcno": "notes"},
			want:    "gcov: copied 2 counter files",
			copied:  []string{"w/kernel/a.gcda", "w/fs/b.gcda"},
			skipped: []string{"w/kernel/a.gcno"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			src := filepath.Join(root, "gcov")
			for name, content := range tc.files {
				p := filepath.Join(src, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(root, "out")
			if !tc.noOut {
				if err := os.Mkdir(out, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			dst := filepath.Join(out, "gcov")
			var b bytes.Buffer
			copyCoverage(&console{w: &b}, src, dst)
			if tc.want == "" && b.Len() > 0 {
				t.Errorf("copyCoverage printed %q, want nothing", b.String())
			}
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("copyCoverage printed %q, want it to contain %q", b.String(), tc.want)
			}
			for _, name := range tc.copied {
				got, err := os.ReadFile(filepath.Join(dst, name))
				if err != nil || string(got) != tc.files[name] {
					t.Errorf("%s: got %q, %v; want %q", name, got, err, tc.files[name])
				}
			}
			for _, name := range tc.skipped {
				if _, err := os.Stat(filepath.Join(dst, name)); err == nil {
					t.Errorf("%s was copied, want it left out", name)
				}
			}
		})
	}
}
