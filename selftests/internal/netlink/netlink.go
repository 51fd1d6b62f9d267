// Package netlink is what the guest tests that talk to the kernel over
// netlink share (audit, the proc connector, taskstats): building a message,
// splitting a datagram into messages, attributes, and the request loop that
// waits for the kernel's acknowledgement. It knows no family: each test
// builds its own payloads and reads its own events.
package netlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// A Message is one netlink message of a datagram.
type Message struct {
	Header unix.NlMsghdr
	Data   []byte // the payload after the header, in the datagram's buffer
}

// Encode builds a message: a header with typ, flags, seq and pid, and the
// payloads one after the other. The header's length counts them all; the
// caller pads payloads that need it (Attr does).
func Encode(typ, flags uint16, seq, pid uint32, payload ...[]byte) []byte {
	msg := make([]byte, unix.NLMSG_HDRLEN)
	for _, p := range payload {
		msg = append(msg, p...)
	}
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], flags)
	ne.PutUint32(msg[8:], seq)
	ne.PutUint32(msg[12:], pid)
	return msg
}

// align rounds a message length up to NLMSG_ALIGNTO.
func align(l int) int {
	return (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
}

// ErrTruncated is what Split returns with the messages before a header
// whose length is shorter than a header or runs past the datagram.
var ErrTruncated = errors.New("netlink: truncated message")

// Split returns the messages of a datagram. The last message need not be
// padded. A header that does not fit ends the walk with ErrTruncated and
// the messages read so far.
func Split(b []byte) ([]Message, error) {
	var msgs []Message
	ne := binary.NativeEndian
	for off := 0; off < len(b); {
		if off+unix.NLMSG_HDRLEN > len(b) {
			return msgs, ErrTruncated
		}
		l := int(ne.Uint32(b[off:]))
		if l < unix.NLMSG_HDRLEN || off+l > len(b) {
			return msgs, ErrTruncated
		}
		msgs = append(msgs, Message{
			Header: unix.NlMsghdr{
				Len:   uint32(l),
				Type:  ne.Uint16(b[off+4:]),
				Flags: ne.Uint16(b[off+6:]),
				Seq:   ne.Uint32(b[off+8:]),
				Pid:   ne.Uint32(b[off+12:]),
			},
			Data: b[off+unix.NLMSG_HDRLEN : off+l],
		})
		off += align(l)
	}
	return msgs, nil
}

// Errno is what an NLMSG_ERROR message says: 0 for an acknowledgement,
// else the error. ok is false if m is no NLMSG_ERROR message.
func Errno(m Message) (errno unix.Errno, ok bool) {
	if m.Header.Type != unix.NLMSG_ERROR {
		return 0, false
	}
	if len(m.Data) < 4 {
		return unix.EBADMSG, true
	}
	return unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data))), true
}

// Attr encodes one attribute (struct nlattr and its value), padded to 4
// bytes.
func Attr(typ uint16, val []byte) []byte {
	b := make([]byte, unix.NLA_HDRLEN+len(val), unix.NLA_HDRLEN+(len(val)+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(unix.NLA_HDRLEN+len(val)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[unix.NLA_HDRLEN:], val)
	return b[:cap(b)]
}

// Attrs decodes the attributes in b by type, without NLA_F_NESTED (the
// last of a type wins). It stops at the first that does not fit.
func Attrs(b []byte) map[uint16][]byte {
	attrs := map[uint16][]byte{}
	for len(b) >= unix.NLA_HDRLEN {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.NLA_HDRLEN || l > len(b) {
			break
		}
		attrs[binary.NativeEndian.Uint16(b[2:])&^unix.NLA_F_NESTED] = b[unix.NLA_HDRLEN:l]
		b = b[min(len(b), (l+3)&^3):]
	}
	return attrs
}

// Conn is a netlink socket that makes requests of the kernel.
type Conn struct {
	FD  int
	seq uint32
}

// AckTimeout bounds Request's wait for the acknowledgement on a socket
// with a receive timeout (SO_RCVTIMEO). On one without, each receive
// blocks until the kernel sends something.
const AckTimeout = 5 * time.Second

// Request sends the kernel a message of type typ with payload, flags
// NLM_F_REQUEST|NLM_F_ACK|extra and the next sequence number, and reads
// until the acknowledgement of that number. It returns the payloads of
// the replies with that number (copies), or the errno of a negative
// acknowledgement. Messages of other numbers (events, replies to earlier
// requests) are passed over.
func (c *Conn) Request(typ, extra uint16, payload ...[]byte) ([][]byte, error) {
	c.seq++
	msg := Encode(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|extra, c.seq, 0, payload...)
	if err := unix.Sendto(c.FD, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	var replies [][]byte
	buf := make([]byte, 1<<16)
	deadline := time.Now().Add(AckTimeout)
	for {
		msgs, err := c.Recv(buf)
		if errors.Is(err, unix.EAGAIN) {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("netlink: no acknowledgement of request %d (type %d) within %v", c.seq, typ, AckTimeout)
			}
			continue
		}
		if err != nil && !errors.Is(err, ErrTruncated) {
			return nil, err
		}
		for _, m := range msgs {
			if m.Header.Seq != c.seq {
				continue
			}
			if errno, ok := Errno(m); ok {
				if errno != 0 {
					return nil, errno
				}
				return replies, nil
			}
			replies = append(replies, bytes.Clone(m.Data)) // buf is reused
		}
	}
}

// Recv reads one datagram into buf and splits it (Split). A receive that a
// signal interrupts is made again; one that times out (SO_RCVTIMEO) is
// EAGAIN.
func (c *Conn) Recv(buf []byte) ([]Message, error) {
	for {
		n, _, err := unix.Recvfrom(c.FD, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return Split(buf[:n])
	}
}
