package lifecycle

// Only the creating process may configure or start its embryo, however
// another process got the fd.

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

type receiverArg struct {
	How string // "scm", "inherit" or "getfd"
	Fd  int    // getfd: the embryo's fd number in the parent
}

type receiverResult struct {
	Fdinfo                            string
	Exec, Signals, Unknown, Run, RunF string
	SendSignal                        string
}

// helperReceiver gets an embryo it did not create and tries to configure
// and start it.
func helperReceiver(raw json.RawMessage) (any, error) {
	var arg receiverArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	var fd int
	switch arg.How {
	case "scm":
		var err error
		if fd, err = embryo.RecvFD(3, embryo.Timeout); err != nil {
			return nil, err
		}
	case "inherit":
		fd = 3
	case "getfd":
		pp, err := pidfd.Open(os.Getppid(), 0)
		if err != nil {
			return nil, fmt.Errorf("pidfd_open(parent): %v", err)
		}
		if fd, err = unix.PidfdGetfd(pp, arg.Fd, 0); err != nil {
			return nil, fmt.Errorf("pidfd_getfd(parent, %d): %v", arg.Fd, err)
		}
	default:
		return nil, fmt.Errorf("unknown way %q", arg.How)
	}
	var res receiverResult
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return nil, err
	}
	res.Fdinfo = strings.TrimSpace(string(b))
	res.Exec = name(pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0))
	res.Signals = name(pidfd.ConfigSignals(fd, 0, 0))
	res.Unknown = name(pidfd.Config(fd, 99, 0, 0))
	_, err = pidfd.SpawnRun(fd, 0)
	res.Run = name(err)
	_, err = pidfd.SpawnRun(fd, 1)
	res.RunF = name(err)
	res.SendSignal = name(unix.PidfdSendSignal(fd, 0, nil, 0))
	return res, nil
}

// TestOnlyCreatorMayConfigure hands an embryo to another process in each
// way a descriptor travels, and checks that it can neither configure nor
// start it, while the creator still can.
func TestOnlyCreatorMayConfigure(t *testing.T) {
	embryo.Require(t)
	for _, how := range []string{"scm", "inherit", "getfd"} {
		t.Run(how, func(t *testing.T) {
			fd := embryo.New(t)
			out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
			h := helper.New(t, "receiver", receiverArg{How: how, Fd: fd})
			var sp [2]int
			switch how {
			case "scm":
				var err error
				if sp, err = embryo.Socketpair(); err != nil {
					t.Fatal(err)
				}
				defer unix.Close(sp[0])
				s := os.NewFile(uintptr(sp[1]), "sock")
				defer s.Close()
				h.Cmd.ExtraFiles = []*os.File{s}
			case "inherit":
				// What fork() of the creator leaves: the same open
				// file in another process.
				dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				f := os.NewFile(uintptr(dup), "embryo")
				defer f.Close()
				h.Cmd.ExtraFiles = []*os.File{f}
			}
			h.Start()
			if how == "scm" {
				if err := embryo.SendFD(sp[0], fd); err != nil {
					t.Fatalf("sending the embryo: %v", err)
				}
			}
			var res receiverResult
			h.Result(&res)
			if m := pidfd.ParseFdinfo(res.Fdinfo); m["Embryo"] != "1" {
				t.Errorf("the receiver's fdinfo lacks Embryo:\\t1:\n%s", res.Fdinfo)
			}
			for _, c := range []struct{ what, got string }{
				{"PIDFD_CONFIG_EXEC", res.Exec},
				{"PIDFD_CONFIG_SIGNALS", res.Signals},
				{"unknown command (EPERM comes first)", res.Unknown},
				{"pidfd_spawn_run", res.Run},
				{"pidfd_spawn_run(flags 1) (EPERM comes first)", res.RunF},
			} {
				if c.got != "EPERM" {
					t.Errorf("receiver's %s: %s, want EPERM", c.what, c.got)
				}
			}
			if res.SendSignal != "ESRCH" {
				t.Errorf("receiver's pidfd_send_signal(0): %s, want ESRCH", res.SendSignal)
			}
			// The creator's configuration is intact (the receiver's
			// EXEC of true-static did not land) and it can start it.
			embryo.Run(t, fd)
			if rep := embryo.Report(t, out); rep.PPid != os.Getpid() {
				t.Errorf("the child's parent is %d, want the creator %d", rep.PPid, os.Getpid())
			}
			if ex := embryo.Wait(t, fd); !ex.Exited(0) {
				t.Errorf("child: %v, want exit 0", ex)
			}
		})
	}
}
