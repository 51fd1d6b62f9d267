package creds

// PIDFD_CONFIG_SCHED: sched_setattr(0, attr, 0) made by the embryo, its
// scheduling as the started child sees it (childreport's sched_getattr()),
// judged by the embryo's own credentials and limits: what nobody may not
// do is refused for an embryo that dropped to nobody.

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

func TestSched(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_SCHED, "PIDFD_CONFIG_SCHED")
	own, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		attr unix.SchedAttr
		want childreport.Sched
	}{
		{"nice 5", unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: 5}, childreport.Sched{Policy: unix.SCHED_NORMAL, Nice: 5}},
		{"setpriority: KEEP_POLICY", unix.SchedAttr{Flags: unix.SCHED_FLAG_KEEP_POLICY, Nice: -4}, childreport.Sched{Policy: unix.SCHED_NORMAL, Nice: -4}},
		{"SCHED_BATCH", unix.SchedAttr{Policy: unix.SCHED_BATCH, Nice: 2}, childreport.Sched{Policy: unix.SCHED_BATCH, Nice: 2}},
		{"SCHED_IDLE", unix.SchedAttr{Policy: unix.SCHED_IDLE}, childreport.Sched{Policy: unix.SCHED_IDLE}},
		{"SCHED_FIFO 20", unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 20}, childreport.Sched{Policy: unix.SCHED_FIFO, Priority: 20}},
		{"SCHED_RR 1", unix.SchedAttr{Policy: unix.SCHED_RR, Priority: 1}, childreport.Sched{Policy: unix.SCHED_RR, Priority: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := embryo.New(t)
			if err := pidfd.ConfigSched(fd, tc.attr); err != nil {
				t.Fatalf("PIDFD_CONFIG_SCHED: %s", embryo.Name(err))
			}
			rep, err := report(fd, childreport.Path)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Sched != tc.want {
				t.Errorf("the child's scheduling: %+v, want %+v", rep.Sched, tc.want)
			}
		})
	}
	after, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after.Policy != own.Policy || after.Nice != own.Nice {
		t.Errorf("our own scheduling moved: %+v, was %+v", after, own)
	}
}

// As the embryo's credentials of the moment allow: after UIDS to a user
// without CAP_SYS_NICE (and with root's RLIMIT_RTPRIO and RLIMIT_NICE of
// 0), a real-time policy and a lower nice value are EPERM, a higher nice
// value is allowed; the errnos of a bad struct are sched_setattr()'s.
func TestSchedJudgedByTheEmbryo(t *testing.T) {
	requireCommand(t, pidfd.PIDFD_CONFIG_SCHED, "PIDFD_CONFIG_SCHED")
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_RTPRIO, &lim); err != nil || lim.Cur != 0 {
		t.Fatalf("RLIMIT_RTPRIO %+v, %v: want a soft limit of 0, as the guest's init leaves it", lim, err)
	}
	fd := embryo.New(t)
	embryo.Check(t, "uids", pidfd.ConfigUIDs(fd, uidX, uidX, uidX), 0)
	for _, tc := range []struct {
		name string
		attr unix.SchedAttr
		want unix.Errno
	}{
		{"SCHED_FIFO as uid 4242", unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}, unix.EPERM},
		{"nice -1 as uid 4242", unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: -1}, unix.EPERM},
		{"policy 99", unix.SchedAttr{Policy: 99}, unix.EINVAL},
		{"SCHED_FIFO priority 100", unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 100}, unix.EINVAL},
		{"nice 3 as uid 4242", unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: 3}, 0},
	} {
		embryo.Check(t, tc.name, pidfd.ConfigSched(fd, tc.attr), tc.want)
	}
	rep, err := report(fd, childreport.Path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (childreport.Sched{Policy: unix.SCHED_NORMAL, Nice: 3}); rep.Sched != want {
		t.Errorf("the child's scheduling: %+v, want %+v", rep.Sched, want)
	}
}
