package vmrun

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCopyDir(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{"results.jsonl": "{}\n", "sub/log.txt": "hello"}
	// QEMU's 9p metadata (security_model=mapped-file) stays behind.
	meta := filepath.Join(src, ".virtfs_metadata", "results.jsonl")
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(meta), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, []byte("mode"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An older file of the same name is replaced.
	if err := os.WriteFile(filepath.Join(dst, "results.jsonl"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyDir(dst, src); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, ".virtfs_metadata")); err == nil {
		t.Errorf("9p metadata copied")
	}
}
