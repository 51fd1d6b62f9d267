package lifecycle

// Config calls of every kind race with the embryo's death by cgroup.kill,
// sometimes while the cgroup is frozen. A dying embryo does not wait for a
// config call under way (TestDyingEmbryoDoesNotWaitForConfig), so each of
// these calls may find the embryo's task, descriptor table, fs_struct and
// signal handlers going away under it; the kernel log (KASAN, lockdep) is
// the judge, and every call ends with success or ESRCH.

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

func init() { helpers["killvsconfig"] = helperKillVsConfig }

type killVsConfigArg struct {
	A, B   string // the embryo is made in A, the creator then moves to B
	Rounds int
	Seed   int64
}

type killVsConfigResult struct {
	Rounds int            // rounds in which A emptied after cgroup.kill
	Errs   map[string]int // how the spinning calls ended
	Stuck  string         // the first round in which A did not empty
}

// The config calls each spinner repeats until one fails.
var killVsConfigCalls = []struct {
	name string
	call func(fd int, argv []string) error
}{
	{"signals", func(fd int, _ []string) error { return pidfd.ConfigSignals(fd, 1<<(unix.SIGHUP-1), 0) }},
	{"argv", func(fd int, argv []string) error { return pidfd.ConfigArgv(fd, argv) }},
	{"exec", func(fd int, _ []string) error { return pidfd.ConfigExec(fd, unix.AT_FDCWD, "/bin/true", 0) }},
	{"dup", func(fd int, _ []string) error { return pidfd.ConfigFDDup(fd, 0, 7, 0) }},
	{"close_range", func(fd int, _ []string) error { return pidfd.ConfigFDCloseRange(fd, 5, 9, 0) }},
	{"inherit", func(fd int, _ []string) error { return pidfd.ConfigFDInherit(fd) }},
	{"open", func(fd int, _ []string) error {
		return pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, "/dev/null", &unix.OpenHow{Flags: unix.O_RDWR}, 3)
	}},
	{"cwd", func(fd int, _ []string) error { return pidfd.ConfigCwd(fd, unix.AT_FDCWD, "/tmp", 0) }},
}

func helperKillVsConfig(raw json.RawMessage) (any, error) {
	var arg killVsConfigArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewSource(arg.Seed))
	res := killVsConfigResult{Errs: map[string]int{}}
	var mu sync.Mutex
	argv := make([]string, 200)
	for i := range argv {
		argv[i] = strings.Repeat("x", 100)
	}
	for i := 0; i < arg.Rounds; i++ {
		if err := writeCtl(filepath.Join(arg.A, "cgroup.procs"), "0"); err != nil {
			return res, fmt.Errorf("moving to A: %s", name(err))
		}
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return res, fmt.Errorf("round %d: pidfd_open(0, PIDFD_EMPTY): %s", i, name(err))
		}
		if err := writeCtl(filepath.Join(arg.B, "cgroup.procs"), "0"); err != nil {
			unix.Close(fd)
			return res, fmt.Errorf("moving to B: %s", name(err))
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for _, c := range killVsConfigCalls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					if err := c.call(fd, argv); err != nil {
						mu.Lock()
						res.Errs[c.name+": "+name(err)]++
						mu.Unlock()
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
		freeze := i%3 == 1
		if freeze {
			writeCtl(filepath.Join(arg.A, "cgroup.freeze"), "1")
		}
		if err := writeCtl(filepath.Join(arg.A, "cgroup.kill"), "1"); err != nil {
			return res, fmt.Errorf("cgroup.kill: %s", name(err))
		}
		if freeze {
			time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
			writeCtl(filepath.Join(arg.A, "cgroup.freeze"), "0")
		}
		_, emptied := waitCgroupEvent(arg.A, "populated", "0", killWithin)
		if !emptied {
			res.Stuck = fmt.Sprintf("round %d: A still populated %v after cgroup.kill; wchans %s", i, killWithin, taskWchans(os.Getpid()))
		}
		stop.Store(true)
		wg.Wait()
		unix.Close(fd)
		if !emptied {
			return res, nil
		}
		res.Rounds++
	}
	return res, nil
}

// TestKillVsConfigStress: 150 rounds; in each, eight threads repeat one
// config command each (signals, argv, exec, dup, close_range, inherit,
// open, cwd) on a fresh embryo while cgroup.kill (every third round
// under cgroup.freeze) destroys it. The embryo's cgroup empties every
// time, and every call ends with ESRCH once the embryo is gone.
func TestKillVsConfigStress(t *testing.T) {
	embryo.Require(t)
	const rounds = 150
	kmsg := openKmsg(t)
	cgA, cgB := newCgroup2(t), newCgroup2(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	h := helper.New(t, "killvsconfig", killVsConfigArg{A: cgA, B: cgB, Rounds: rounds, Seed: seed})
	h.Start()
	var res killVsConfigResult
	h.Result(&res)
	t.Logf("%d rounds; the calls ended with %v", res.Rounds, res.Errs)
	if res.Rounds != rounds {
		t.Errorf("%d of %d rounds done; %s", res.Rounds, rounds, res.Stuck)
	}
	for k, n := range res.Errs {
		if !strings.HasSuffix(k, ": ESRCH") {
			t.Errorf("%d calls ended with %s; want ESRCH only", n, k)
		}
	}
	for _, line := range kmsg.read(t) {
		if strings.Contains(line, "WARNING:") || strings.Contains(line, "BUG:") {
			t.Errorf("kernel log: %s", line)
		}
	}
}
