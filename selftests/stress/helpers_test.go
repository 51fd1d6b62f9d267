package stress

// The helper home: TestMain, the helper processes by name, and what
// several files use.

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// helpers are the helper processes the tests start (helper.New), by
// name; helper.Main runs them in the re-executed test binary.
var helpers = map[string]helper.Func{
	"stressworker": helperWorker, // engine_test.go
	"stresspeer":   helperPeer,   // peer_test.go
	"stressfaults": helperFaults, // faults_test.go
	"stresssoak":   helperSoak,   // soak_test.go
}

func TestMain(m *testing.M) { helper.Main(m, helpers) }

func errnoOf(err error) unix.Errno { return embryo.Errno(err) }

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}
