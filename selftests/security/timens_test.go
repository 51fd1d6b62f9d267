package security

// v1 finding A2: an embryo created by a thread whose time namespace for
// children is not its own starts in that namespace, as after fork.

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type timensResult struct {
	UidMap   string // /proc/self/uid_map
	Before   string // the thread's time namespace before unshare
	Self     string // ... after unshare(CLONE_NEWTIME)
	Children string // its time_for_children after it
	Run      string
	Pid      int
	Child    string // the started child's time namespace
	Exit     pidfd.Exit
}

// helperTimens gives its thread a new time namespace for its children,
// creates an embryo from that thread, runs sleep 30 in it, records the
// child's time namespace and kills it.
func helperTimens(json.RawMessage) (any, error) {
	runtime.LockOSThread()
	var res timensResult
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return nil, err
	}
	res.UidMap = strings.Join(strings.Fields(string(b)), " ")
	if res.Before, err = os.Readlink("/proc/thread-self/ns/time"); err != nil {
		return nil, err
	}
	// Only this thread's time_for_children changes.
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_NEWTIME) (the test kernel has CONFIG_TIME_NS): %v", err)
	}
	if res.Self, err = os.Readlink("/proc/thread-self/ns/time"); err != nil {
		return nil, err
	}
	if res.Children, err = os.Readlink("/proc/thread-self/ns/time_for_children"); err != nil {
		return nil, err
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY) after unshare(CLONE_NEWTIME): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, "/bin/sleep", []string{"sleep", "30"}); err != nil {
		return nil, err
	}
	res.Pid, err = pidfd.SpawnRun(fd, 0)
	res.Run = embryo.Name(err)
	if err != nil {
		return res, nil
	}
	if res.Child, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/time", res.Pid)); err != nil {
		res.Child = "error: " + err.Error()
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		return nil, fmt.Errorf("pidfd_send_signal(SIGKILL) to the started child: %v", err)
	}
	if res.Exit, err = embryo.WaitExit(fd, embryo.Timeout); err != nil {
		return nil, err
	}
	return res, nil
}

// TestTimeNamespace (v1 finding A2): an embryo created by a thread whose
// time namespace for children differs from its own (after
// unshare(CLONE_NEWTIME)) has no mm to join the namespace's vDSO with; v1
// oopsed in vdso_join_timens (the harness fails the run on the console
// report). The started child is in the creating thread's
// time_for_children, as after fork. Unprivileged users reach this through
// a user namespace of their own.
func TestTimeNamespace(t *testing.T) {
	embryo.Require(t)
	for _, tc := range []struct {
		name   string
		userns bool
	}{
		{"root", false},
		{"nobody in a user namespace", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := helper.New(t, "timens", nil)
			if tc.userns {
				// nobody to the rest of the system, root (with every
				// capability) in a user namespace of its own.
				h.AsUser(helper.Nobody, helper.Nobody)
				a := h.Cmd.SysProcAttr
				a.Cloneflags = syscall.CLONE_NEWUSER
				a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
				a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: helper.Nobody, Size: 1}}
				a.GidMappingsEnableSetgroups = true // to drop root's supplementary groups
				a.Credential = &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{}}
			}
			var res timensResult
			h.Result(&res)
			if tc.userns && res.UidMap != "0 65534 1" {
				t.Fatalf("helper's uid_map %q, want \"0 65534 1\"", res.UidMap)
			}
			if res.Self != res.Before || res.Children == res.Self {
				t.Fatalf("after unshare(CLONE_NEWTIME) the thread is in %s (was %s), its children go to %s: want a new namespace for the children only",
					res.Self, res.Before, res.Children)
			}
			if res.Run != "success" || res.Pid <= 0 {
				t.Fatalf("pidfd_spawn_run of sleep 30: %s, pid %d; want success", res.Run, res.Pid)
			}
			if res.Child != res.Children {
				t.Errorf("the child's time namespace is %s, want the creating thread's time_for_children %s", res.Child, res.Children)
			}
			if res.Child == res.Self {
				t.Errorf("the child is in its creator's own time namespace %s, not in time_for_children", res.Self)
			}
			if res.Exit.Pid != res.Pid || !killedBy(res.Exit, unix.SIGKILL) {
				t.Errorf("child: %v, want pid %d killed by SIGKILL (it was still sleeping)", res.Exit, res.Pid)
			}
		})
	}
}
