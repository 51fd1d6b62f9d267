package kmsg

import (
	"errors"
	"os"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMessage(t *testing.T) {
	for rec, want := range map[string]string{
		"4,123,456789,-;WARNING: x\n SUBSYSTEM=y\n DEVICE=+z\n": "WARNING: x",
		"6,1,2,-;hello\n":             "hello",
		"6,1,2,c;a;b\n":               "a;b",
		"6,1,2,-;escaped\\x0anewline": "escaped\\x0anewline",
		"no separator":                "",
	} {
		if got := Message(rec); got != want {
			t.Errorf("Message(%q) = %q, want %q", rec, got, want)
		}
	}
}

// fakeRead returns a read function that hands out each step in turn: a
// record, or an error; past the last step, EAGAIN.
func fakeRead(steps ...any) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		if len(steps) == 0 {
			return -1, unix.EAGAIN
		}
		s := steps[0]
		steps = steps[1:]
		if err, ok := s.(error); ok {
			return -1, err
		}
		return copy(b, s.(string)), nil
	}
}

func TestReadRecords(t *testing.T) {
	lines, err := readRecords(fakeRead("6,1,0,-;one\n", unix.EINTR, unix.EPIPE, "4,5,0,-;two\n SUBSYSTEM=x\n"))
	want := []string{"one", Overwritten, "two"}
	if err != nil || !reflect.DeepEqual(lines, want) {
		t.Errorf("readRecords = %q, %v; want %q", lines, err, want)
	}
	if lines, err := readRecords(fakeRead()); err != nil || len(lines) != 0 {
		t.Errorf("readRecords of nothing new = %q, %v", lines, err)
	}
	lines, err = readRecords(fakeRead("6,1,0,-;one\n", unix.EIO, "6,2,0,-;not read\n"))
	if !errors.Is(err, unix.EIO) || !reflect.DeepEqual(lines, []string{"one"}) {
		t.Errorf("readRecords with EIO = %q, %v; want [one] and EIO", lines, err)
	}
}

// TestReadPipe reads through Reader.Read from a nonblocking pipe, which
// like /dev/kmsg says EAGAIN when there is nothing to read.
func TestReadPipe(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	w := os.NewFile(uintptr(p[1]), "w")
	defer w.Close()
	r := &Reader{fd: p[0]}
	if lines := r.Lines(t); len(lines) != 0 {
		t.Errorf("Lines of an empty pipe = %q", lines)
	}
	w.WriteString("6,7,8,-;a record\n")
	if lines := r.Lines(t); !reflect.DeepEqual(lines, []string{"a record"}) {
		t.Errorf("Lines = %q, want [a record]", lines)
	}
}
