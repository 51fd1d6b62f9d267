// Package upstream runs the kernel tree's own pidfd, clone3 and exec
// selftests (built on the host by scripts/kselftests.sh and put in the
// initramfs at /kselftests) and reports each TAP result as a subtest.
//
// A result that cannot pass in the test VM for a reason outside this
// project's code is listed, with the reason, in testdata/known-issues.txt;
// nothing else may fail, and a listed result that passes again is reported
// so the list does not go stale.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emptypidfd/emptypidfd/internal/ktap"
	"github.com/emptypidfd/emptypidfd/selftests/internal/guest"
)

const (
	root      = "/kselftests"
	ksftSkip  = 4 // exit status of a kselftest that skipped entirely
	perBinary = 10 * time.Minute
)

// knownIssues maps "collection:binary" or "collection:binary:result name" to
// the reason it cannot pass in the VM.
func knownIssues(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("testdata/known-issues.txt")
	if err != nil {
		t.Fatalf("known issues list: %v", err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, reason, ok := strings.Cut(line, " ")
		if !ok || strings.TrimSpace(reason) == "" {
			t.Fatalf("known-issues.txt: %q has no reason", line)
		}
		m[key] = strings.TrimSpace(reason)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("known issues list: %v", err)
	}
	return m
}

func TestKselftests(t *testing.T) {
	guest.Require(t)
	list, err := os.ReadFile(filepath.Join(root, "kselftest-list.txt"))
	if err != nil {
		t.Fatalf("no kselftests in the initramfs: %v", err)
	}
	known := knownIssues(t)
	used := map[string]bool{}
	for _, entry := range strings.Fields(string(list)) {
		collection, bin, ok := strings.Cut(entry, ":")
		if !ok {
			t.Fatalf("kselftest-list.txt: bad entry %q", entry)
		}
		t.Run(collection+"/"+bin, func(t *testing.T) {
			runBinary(t, collection, bin, known, used)
		})
	}
	for key := range known {
		if !used[key] {
			t.Errorf("known-issues.txt lists %q, which did not fail: remove it", key)
		}
	}
}

func runBinary(t *testing.T, collection, bin string, known map[string]string, used map[string]bool) {
	key := collection + ":" + bin
	if reason, ok := known[key]; ok {
		used[key] = true
		t.Skipf("not run: %s (selftests/upstream/testdata/known-issues.txt)", reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), perBinary)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./"+bin)
	cmd.Dir = filepath.Join(root, collection)
	out, err := cmd.CombinedOutput()
	t.Logf("%s exited: %v; output:\n%s", bin, err, out)
	var exitErr *exec.ExitError
	status := 0
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		status = exitErr.ExitCode()
	default:
		t.Fatalf("running %s: %v", bin, err)
	}
	rep, perr := ktap.Parse(bytes.NewReader(out))
	if perr != nil {
		t.Fatal(perr)
	}
	failedKnown := false
	for _, res := range rep.Results {
		name := res.Name
		if name == "" {
			name = fmt.Sprintf("#%d", res.Number)
		}
		t.Run(name, func(t *testing.T) {
			switch res.Status {
			case ktap.Fail:
				if reason, ok := known[key+":"+res.Name]; ok {
					used[key+":"+res.Name] = true
					failedKnown = true
					t.Skipf("known to fail in the VM: %s", reason)
				}
				t.Errorf("not ok %d %s", res.Number, res.Name)
			case ktap.Skip:
				t.Skipf("skipped by the selftest: %s", res.Directive)
			}
		})
	}
	if status == ksftSkip && len(rep.Results) == 0 {
		t.Skipf("%s skipped itself (exit %d)", bin, status)
	}
	if bad, why := rep.Failed(); bad && !failedKnown {
		t.Errorf("%s: %s", bin, why)
	}
	if status != 0 && status != ksftSkip && !failedKnown {
		t.Errorf("%s exited with status %d", bin, status)
	}
}
