package lifecycle

// v1 finding A15, taskstats: a documented exception, as BSD accounting
// (acct_test.go). The taskstats exit records, sent over generic netlink to
// the listeners registered for a CPU, see an embryo as a task: one
// destroyed unstarted is reported as the creator's child that exited
// without exec, and one that started as the program it ran.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/netlink"
)

// genlRequest sends a generic netlink command with attributes and returns
// the payloads (after the genl header) of the replies, failing on a
// netlink error.
func genlRequest(c *netlink.Conn, family uint16, cmd uint8, attrs ...[]byte) ([][]byte, error) {
	hdr := []byte{cmd, 1, 0, 0} // struct genlmsghdr: cmd, version 1
	replies, err := c.Request(family, 0, append([][]byte{hdr}, attrs...)...)
	var payloads [][]byte
	for _, r := range replies {
		if len(r) >= unix.GENL_HDRLEN {
			payloads = append(payloads, r[unix.GENL_HDRLEN:])
		}
	}
	return payloads, err
}

// taskstatsListener registers a NETLINK_GENERIC socket for the taskstats
// exit records of every CPU and returns it with the family's id.
func taskstatsListener(t *testing.T) (*netlink.Conn, uint16) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		t.Fatalf("NETLINK_GENERIC socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	c := &netlink.Conn{FD: fd}
	replies, err := genlRequest(c, unix.GENL_ID_CTRL, unix.CTRL_CMD_GETFAMILY,
		netlink.Attr(unix.CTRL_ATTR_FAMILY_NAME, []byte(unix.TASKSTATS_GENL_NAME+"\x00")))
	if err != nil || len(replies) == 0 {
		t.Fatalf("generic netlink family %s: %d replies, %v (the test kernel has CONFIG_TASKSTATS)", unix.TASKSTATS_GENL_NAME, len(replies), err)
	}
	id, ok := netlink.Attrs(replies[0])[unix.CTRL_ATTR_FAMILY_ID]
	if !ok || len(id) < 2 {
		t.Fatalf("no family id in the reply for %s", unix.TASKSTATS_GENL_NAME)
	}
	family := binary.NativeEndian.Uint16(id)
	cpus := fmt.Sprintf("0-%d\x00", runtime.NumCPU()-1)
	if _, err := genlRequest(c, family, unix.TASKSTATS_CMD_GET, netlink.Attr(unix.TASKSTATS_CMD_ATTR_REGISTER_CPUMASK, []byte(cpus))); err != nil {
		t.Fatalf("registering for the taskstats exit records of CPUs %s: %v", cpus[:len(cpus)-1], err)
	}
	return c, family
}

// taskstatsExits reads exit records until quiet passes without one or
// until, and returns their per-pid statistics.
func taskstatsExits(c *netlink.Conn, family uint16, quiet time.Duration, until time.Time) ([]unix.Taskstats, error) {
	var out []unix.Taskstats
	buf := make([]byte, 1<<16)
	for time.Now().Before(until) {
		ev, err := embryo.PollIn(c.FD, quiet)
		if err != nil {
			return out, err
		}
		if ev == 0 {
			return out, nil
		}
		msgs, err := c.Recv(buf)
		if err != nil {
			return out, err
		}
		for _, m := range msgs {
			if m.Header.Type != family || len(m.Data) < unix.GENL_HDRLEN {
				continue
			}
			aggr, ok := netlink.Attrs(m.Data[unix.GENL_HDRLEN:])[unix.TASKSTATS_TYPE_AGGR_PID]
			if !ok {
				continue // a thread group's aggregate (AGGR_TGID)
			}
			raw, ok := netlink.Attrs(aggr)[unix.TASKSTATS_TYPE_STATS]
			if !ok {
				return out, errors.New("a taskstats record without statistics")
			}
			var ts unix.Taskstats
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts)), raw)
			out = append(out, ts)
		}
	}
	return out, nil
}

func taskComm(ts unix.Taskstats) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ts.Ac_comm[0])), len(ts.Ac_comm))
	c, _, _ := bytes.Cut(b, []byte{0})
	return string(c)
}

// TestTaskstatsRecords: with a taskstats listener registered, an embryo
// destroyed before it started is reported on exit as the creator's child
// with the creator's comm and exit code 0, and one that started as the
// program it ran, as fork's children are (pidfd_empty.rst, "Observers").
func TestTaskstatsRecords(t *testing.T) {
	embryo.Require(t)
	c, family := taskstatsListener(t)

	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		t.Fatal(name(err))
	}
	unix.Close(fd) // destroyed unstarted
	fd2 := embryo.New(t)
	if err := pidfd.ConfigExec(fd2, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(name(err))
	}
	pid := embryo.Run(t, fd2)
	embryo.Wait(t, fd2)

	self := uint32(os.Getpid())
	creator := creatorComm()
	var destroyed, started bool
	deadline := time.Now().Add(10 * time.Second)
	for !(destroyed && started) && time.Now().Before(deadline) {
		recs, err := taskstatsExits(c, family, time.Second, deadline)
		if err != nil {
			t.Fatalf("reading taskstats records: %v", err)
		}
		for _, r := range recs {
			if r.Ac_ppid != self {
				continue
			}
			t.Logf("record: pid %d ppid %d comm %q exit %d", r.Ac_pid, r.Ac_ppid, taskComm(r), r.Ac_exitcode)
			switch {
			case r.Ac_pid == uint32(pid) && taskComm(r) == "true-static" && r.Ac_exitcode == 0:
				started = true
			case r.Ac_pid != uint32(pid) && taskComm(r) == creator && r.Ac_exitcode == 0:
				destroyed = true
			}
		}
	}
	if !destroyed {
		t.Errorf("no taskstats record of the destroyed embryo (ppid %d, comm %q, exit 0)", self, creator)
	}
	if !started {
		t.Errorf("no taskstats record of the started child %d (comm true-static, exit 0)", pid)
	}
}
