package stress

// The peer: a helper process beside each worker (started by TestStress,
// not by the worker: it is no child of the creator and not in its
// cgroup), connected to it by a SOCK_SEQPACKET socket pair. The worker
// hands it an embryo's fd with SCM_RIGHTS, or has it take the fd with
// pidfd_getfd; the peer then tries what another process may not do with
// it and answers with the errnos (opSCM, opPeerGetfd).

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// Requests.
const (
	peerSCM   uint32 = 1 // the fd comes with the request (SCM_RIGHTS)
	peerGetfd uint32 = 2 // the peer takes fd Fd of process Pid with pidfd_getfd
)

// The reply's fields: one errno each (rEmbryo: 1 if the peer's fdinfo of
// the fd says "Embryo: 1", 0 if not, 255 if it could not read it).
const (
	rGetfd = iota
	rConfig
	rRun
	rWaitid
	rSignal
	rEmbryo
	rClose
	numReplies
)

type peerReply [numReplies]unix.Errno

// peerClient is the worker's end.
type peerClient struct {
	mu sync.Mutex
	fd int
}

// peerTimeout bounds the wait for the peer's reply.
const peerTimeout = 60 * time.Second

func (p *peerClient) call(op uint32, fd int) (peerReply, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var r peerReply
	req := make([]byte, 12)
	binary.NativeEndian.PutUint32(req[0:], op)
	binary.NativeEndian.PutUint32(req[4:], uint32(fd))
	binary.NativeEndian.PutUint32(req[8:], uint32(os.Getpid()))
	var oob []byte
	if op == peerSCM {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(p.fd, req, oob, nil, 0); err != nil {
		return r, fmt.Errorf("sending to the peer: %w", err)
	}
	ev, err := embryo.PollIn(p.fd, peerTimeout)
	if err != nil || ev == 0 {
		return r, fmt.Errorf("no reply from the peer within %v (%v)", peerTimeout, err)
	}
	buf := make([]byte, 4*numReplies)
	n, err := unix.Read(p.fd, buf)
	if err != nil || n != len(buf) {
		return r, fmt.Errorf("reading the peer's reply: %d bytes, %v", n, err)
	}
	for i := range r {
		r[i] = unix.Errno(binary.NativeEndian.Uint32(buf[4*i:]))
	}
	return r, nil
}

type peerResult struct {
	Requests int
}

// helperPeer serves requests on fd 3 until the worker closes its end.
func helperPeer(json.RawMessage) (any, error) {
	if err := pidfd.Probe(); err != nil {
		return nil, fmt.Errorf("probing empty pidfds: %w", err)
	}
	var res peerResult
	req := make([]byte, 12)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(peerFD, req, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("peer: recvmsg: %w", err)
		}
		if n == 0 {
			return res, nil
		}
		res.Requests++
		op := binary.NativeEndian.Uint32(req[0:])
		fdnum := int(int32(binary.NativeEndian.Uint32(req[4:])))
		pid := int(int32(binary.NativeEndian.Uint32(req[8:])))
		var r peerReply
		fd := -1
		switch op {
		case peerSCM:
			fd, err = rightsFD(oob[:oobn])
			if err != nil {
				return res, fmt.Errorf("peer: %w", err)
			}
		case peerGetfd:
			pfd, err := pidfd.Open(pid, 0)
			if err != nil {
				return res, fmt.Errorf("peer: pidfd_open(%d): %w", pid, err)
			}
			fd, err = unix.PidfdGetfd(pfd, fdnum, 0)
			unix.Close(pfd)
			r[rGetfd] = errnoOf(err)
			if err != nil {
				fd = -1
			}
		default:
			return res, fmt.Errorf("peer: unknown request %d", op)
		}
		if fd >= 0 {
			r = peerTry(fd, r)
		}
		out := make([]byte, 4*numReplies)
		for i, e := range r {
			binary.NativeEndian.PutUint32(out[4*i:], uint32(e))
		}
		if _, err := unix.Write(peerFD, out); err != nil {
			return res, fmt.Errorf("peer: replying: %w", err)
		}
	}
}

// peerTry tries on another process's embryo fd what only its creator
// may do, and closes it.
func peerTry(fd int, r peerReply) peerReply {
	r[rConfig] = errnoOf(pidfd.ConfigSignals(fd, 0, 0))
	_, err := pidfd.SpawnRun(fd, 0)
	r[rRun] = errnoOf(err)
	_, err = pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED|unix.WNOHANG)
	r[rWaitid] = errnoOf(err)
	r[rSignal] = errnoOf(unix.PidfdSendSignal(fd, 0, nil, 0))
	r[rEmbryo] = 255
	if b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd)); err == nil {
		r[rEmbryo] = 0
		if pidfd.ParseFdinfo(string(b))["Embryo"] == "1" {
			r[rEmbryo] = 1
		}
		if !strings.Contains(string(b), "Pid:") {
			r[rEmbryo] = 254 // not a pidfd's fdinfo
		}
	}
	r[rClose] = errnoOf(unix.Close(fd))
	return r
}

func rightsFD(oob []byte) (int, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return -1, fmt.Errorf("control message: %d messages, %v", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, fmt.Errorf("SCM_RIGHTS: %d fds, %v", len(fds), err)
	}
	return fds[0], nil
}
