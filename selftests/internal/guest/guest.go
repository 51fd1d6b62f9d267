// Package guest holds what the in-VM selftests share: knowing that they run
// inside the test VM, and reading what the host harness told the guest.
package guest

import (
	"os"
	"strings"
	"testing"
)

// ExpectFile is where the host harness (vmtest/) tells the guest what the
// booted kernel's exported headers promise, one "NAME=value" per line.
const ExpectFile = "/etc/emptypidfd/expect"

// Require skips t unless it runs inside the test VM. The selftests act on
// the kernel they run on; on the host they would test the wrong kernel.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv("VMTEST_IN_GUEST") != "1" {
		t.Skip("runs only inside the test VM: use 'make vmtest'")
	}
}

// Expect returns the value the host harness recorded for name.
func Expect(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(ExpectFile)
	if err != nil {
		t.Fatalf("reading what the harness expects: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == name {
			return v
		}
	}
	t.Fatalf("%s does not say what to expect of %s", ExpectFile, name)
	return ""
}
