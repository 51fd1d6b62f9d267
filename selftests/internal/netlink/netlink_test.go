package netlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEncodeSplit(t *testing.T) {
	a := Encode(unix.NLMSG_DONE, 0, 0, 42, []byte{1, 2, 3}) // 19 bytes, padded to 20 in a datagram
	b := Encode(unix.NLMSG_ERROR, unix.NLM_F_ACK, 7, 0, []byte{4, 5, 6, 7})
	if len(a) != unix.NLMSG_HDRLEN+3 || binary.NativeEndian.Uint32(a) != uint32(len(a)) {
		t.Fatalf("Encode: %d bytes, length field %d; want %d", len(a), binary.NativeEndian.Uint32(a), unix.NLMSG_HDRLEN+3)
	}
	for _, tc := range []struct {
		name    string
		dgram   []byte
		want    []Message
		wantErr error
	}{
		{"one", b, []Message{{unix.NlMsghdr{Len: 20, Type: unix.NLMSG_ERROR, Flags: unix.NLM_F_ACK, Seq: 7}, []byte{4, 5, 6, 7}}}, nil},
		{"padded, then another", append(append(bytes.Clone(a), 0), b...), []Message{
			{unix.NlMsghdr{Len: 19, Type: unix.NLMSG_DONE, Pid: 42}, []byte{1, 2, 3}},
			{unix.NlMsghdr{Len: 20, Type: unix.NLMSG_ERROR, Flags: unix.NLM_F_ACK, Seq: 7}, []byte{4, 5, 6, 7}},
		}, nil},
		{"last one unpadded", a, []Message{{unix.NlMsghdr{Len: 19, Type: unix.NLMSG_DONE, Pid: 42}, []byte{1, 2, 3}}}, nil},
		{"empty", nil, nil, nil},
		{"length past the datagram", append(bytes.Clone(b), b[:10]...), []Message{
			{unix.NlMsghdr{Len: 20, Type: unix.NLMSG_ERROR, Flags: unix.NLM_F_ACK, Seq: 7}, []byte{4, 5, 6, 7}},
		}, ErrTruncated},
		{"length shorter than a header", []byte{4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Split(tc.dgram)
			if !errors.Is(err, tc.wantErr) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Split = %+v, %v; want %+v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestErrno(t *testing.T) {
	ack := make([]byte, 4)
	enoent := -int32(unix.ENOENT)
	nack := binary.NativeEndian.AppendUint32(nil, uint32(enoent))
	for _, tc := range []struct {
		name   string
		m      Message
		errno  unix.Errno
		isErrM bool
	}{
		{"acknowledgement", Message{unix.NlMsghdr{Type: unix.NLMSG_ERROR}, ack}, 0, true},
		{"error", Message{unix.NlMsghdr{Type: unix.NLMSG_ERROR}, nack}, unix.ENOENT, true},
		{"short", Message{unix.NlMsghdr{Type: unix.NLMSG_ERROR}, nack[:2]}, unix.EBADMSG, true},
		{"a reply", Message{unix.NlMsghdr{Type: unix.NLMSG_DONE}, ack}, 0, false},
	} {
		if errno, ok := Errno(tc.m); errno != tc.errno || ok != tc.isErrM {
			t.Errorf("%s: Errno = %v, %v; want %v, %v", tc.name, errno, ok, tc.errno, tc.isErrM)
		}
	}
}

func TestAttrs(t *testing.T) {
	b := append(Attr(1, []byte("abc")), Attr(2|unix.NLA_F_NESTED, nil)...)
	b = append(b, Attr(3, []byte{1, 2, 3, 4})...)
	if len(b) != 8+4+8 {
		t.Fatalf("attributes of 3, 0 and 4 bytes: %d bytes, want 20 (each padded to 4)", len(b))
	}
	got := Attrs(b)
	want := map[uint16][]byte{1: []byte("abc"), 2: {}, 3: {1, 2, 3, 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Attrs = %v, want %v", got, want)
	}
	// A length past the end stops the walk.
	bad := append(Attr(1, []byte("x")), 0xff, 0, 2, 0)
	if got := Attrs(bad); len(got) != 1 || string(got[1]) != "x" {
		t.Errorf("Attrs with a bad second header = %v, want only type 1", got)
	}
}

// Request against NETLINK_ROUTE, which every Linux host answers: a
// reply and its acknowledgement, and a negative acknowledgement.
func TestRequest(t *testing.T) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("NETLINK_ROUTE socket: %v", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(200e6)
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	c := &Conn{FD: fd}
	ifinfo := func(index int32) []byte {
		b := make([]byte, unix.SizeofIfInfomsg)
		binary.NativeEndian.PutUint32(b[4:], uint32(index))
		return b
	}
	lo, err := net.InterfaceByName("lo") // not always 1 (network namespaces)
	if err != nil {
		t.Fatal(err)
	}
	replies, err := c.Request(unix.RTM_GETLINK, 0, ifinfo(int32(lo.Index)))
	if err != nil || len(replies) != 1 || len(replies[0]) < unix.SizeofIfInfomsg {
		t.Fatalf("RTM_GETLINK of lo: %d replies, %v; want one", len(replies), err)
	}
	if name := Attrs(replies[0][unix.SizeofIfInfomsg:])[unix.IFLA_IFNAME]; string(name) != "lo\x00" {
		t.Errorf("RTM_GETLINK of lo: IFLA_IFNAME %q", name)
	}
	if _, err := c.Request(unix.RTM_GETLINK, 0, ifinfo(1<<30)); err != unix.ENODEV {
		t.Errorf("RTM_GETLINK of a missing link: %v, want ENODEV", err)
	}
	if c.seq != 2 {
		t.Errorf("after two requests the sequence number is %d, want 2", c.seq)
	}
}
