package embryo

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Socketpair returns a connected pair of AF_UNIX stream sockets.
func Socketpair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	return fds, err
}

// SendFD sends fd over the socket (SCM_RIGHTS).
func SendFD(sock, fd int) error {
	return unix.Sendmsg(sock, []byte{'F'}, unix.UnixRights(fd), nil, 0)
}

// RecvFD receives one descriptor sent with SendFD, waiting up to timeout.
func RecvFD(sock int, timeout time.Duration) (int, error) {
	// PollIn retries a poll the runtime's preemption signal (SIGURG)
	// interrupts: EINTR is no answer.
	ev, err := PollIn(sock, timeout)
	if err != nil {
		return -1, fmt.Errorf("poll: %w", err)
	}
	if ev == 0 {
		return -1, fmt.Errorf("no descriptor within %v", timeout)
	}
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("recvmsg: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return -1, fmt.Errorf("parsing control message: %w", err)
	}
	if len(msgs) != 1 {
		return -1, fmt.Errorf("%d control messages, want 1", len(msgs))
	}
	got, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return -1, fmt.Errorf("parsing SCM_RIGHTS: %w", err)
	}
	if len(got) != 1 {
		return -1, fmt.Errorf("%d descriptors, want 1", len(got))
	}
	return got[0], nil
}
