// Package attrs attacks the attribute commands, PIDFD_CONFIG_RLIMIT,
// PIDFD_CONFIG_UMASK and PIDFD_CONFIG_NO_NEW_PRIVS, as a hostile review
// of the patch that added them did: privilege, limits the exec or the
// child runs into, races with the embryo's destruction, the argument ABI.
// (What the child sees of each attribute, as root and as nobody, is
// selftests/security's TestAttrs.)
package attrs

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// envBurn makes the re-executed test binary burn CPU forever (the child
// of the RLIMIT_CPU tests).
const envBurn = "ATTRS_BURN"

var helpers = map[string]helper.Func{
	"authority": helperAuthority, // authority_test.go
	"hammer":    helperHammer,    // race_test.go
}

func TestMain(m *testing.M) {
	if os.Getenv(envBurn) != "" {
		burn()
	}
	helper.Main(m, helpers)
}

//go:noinline
func spin(x uint64) uint64 {
	for i := 0; i < 1<<20; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

func burn() {
	// The Go runtime ignores SIGXCPU; the burner takes its default
	// action, as a C program would.
	var sa [4]uint64 // SIG_DFL
	unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGXCPU), uintptr(unsafe.Pointer(&sa[0])), 0, 8, 0, 0)
	var x uint64 = 1
	for {
		x = spin(x)
	}
}

// hammerOnce makes one random new-command call on fd and returns its errno.
func hammerOnce(fd int, r *rand.Rand) error {
	switch r.Intn(6) {
	case 0:
		return pidfd.ConfigRlimit(fd, unix.RLIMIT_CPU, unix.Rlimit{Cur: uint64(r.Intn(3)), Max: unix.RLIM_INFINITY})
	case 1:
		return pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: uint64(16 + r.Intn(100)), Max: 1024})
	case 2:
		return pidfd.ConfigRlimit(fd, r.Intn(16), unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
	case 3:
		return pidfd.ConfigUmask(fd, uint32(r.Intn(0o1000)))
	case 4:
		return pidfd.ConfigNoNewPrivs(fd)
	default:
		return pidfd.ConfigRlimit(fd, unix.RLIMIT_STACK, unix.Rlimit{Cur: uint64(r.Intn(8<<20) + 1), Max: unix.RLIM_INFINITY})
	}
}

type hammerArg struct {
	Embryos int // created, each with its own hammering threads
	Threads int // per embryo
	Forever bool
	ExitMs  int // exit_group after this long (if not Forever)
}

// helperHammer creates embryos and hammers them with the new commands
// from several threads until it is killed (Forever) or exits with
// exit_group() under the calls (ExitMs). It prints nothing on its own:
// its end is the test.
func helperHammer(raw json.RawMessage) (any, error) {
	var arg hammerArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	var calls atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < arg.Embryos; i++ {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return nil, fmt.Errorf("pidfd_open(PIDFD_EMPTY): %s", embryo.Name(err))
		}
		for j := 0; j < arg.Threads; j++ {
			wg.Add(1)
			go func(seed int64) {
				defer wg.Done()
				runtime.LockOSThread()
				r := rand.New(rand.NewSource(seed))
				for {
					err := hammerOnce(fd, r)
					calls.Add(1)
					if err != nil && err != unix.EBUSY && err != unix.ESRCH && err != unix.EINTR {
						fmt.Fprintf(os.Stderr, "unexpected %s\n", embryo.Name(err))
					}
				}
			}(int64(i*100 + j))
		}
	}
	if arg.Forever {
		select {}
	}
	time.Sleep(time.Duration(arg.ExitMs) * time.Millisecond)
	// exit_group() while the calls are in flight: the embryos are
	// orphaned (destroyed) under them.
	unix.Exit(0)
	return nil, nil
}
