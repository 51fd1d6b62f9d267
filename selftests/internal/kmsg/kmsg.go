// Package kmsg reads the kernel log (/dev/kmsg) from a point on, for the
// guest selftests that check that nothing logged a kernel error (BUG:,
// WARNING:, ...) while they ran. What counts as an error is the caller's.
package kmsg

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Overwritten is the line Read returns where the kernel overwrote records
// before they were read (EPIPE): a gap in the log.
const Overwritten = "(kmsg: records were overwritten before they were read)"

// A Reader reads the kernel log records written after it was opened.
type Reader struct{ fd int }

// Open opens /dev/kmsg without blocking and seeks to its end, failing t if
// it cannot; the file is closed when t ends.
func Open(t testing.TB) *Reader {
	t.Helper()
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/kmsg: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		t.Fatalf("lseek(/dev/kmsg, 0, SEEK_END): %v", err)
	}
	return &Reader{fd: fd}
}

// Read returns the message (Message) of each record logged since the last
// read, up to the end of the log (EAGAIN), with an Overwritten line where
// records were lost (EPIPE); it retries EINTR. Another error ends it: it
// returns the lines read so far with the error.
func (r *Reader) Read() ([]string, error) {
	return readRecords(func(b []byte) (int, error) { return unix.Read(r.fd, b) })
}

// Lines is Read, failing t (Fatalf) on an error.
func (r *Reader) Lines(t testing.TB) []string {
	t.Helper()
	lines, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// readRecords is Read with read(2) on /dev/kmsg as read: each call returns
// one record.
func readRecords(read func([]byte) (int, error)) ([]string, error) {
	var lines []string
	buf := make([]byte, 8192) // a record is at most CONSOLE_EXT_LOG_MAX (8 KiB)
	for {
		n, err := read(buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return lines, nil
		case errors.Is(err, unix.EPIPE): // records overwritten: read on
			lines = append(lines, Overwritten)
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return lines, fmt.Errorf("reading /dev/kmsg: %w", err)
		}
		lines = append(lines, Message(string(buf[:n])))
	}
}

// Message is the message of a /dev/kmsg record
// ("prio,seq,ts,flags;message\n KEY=value\n..."): without the prefix and
// the dictionary lines that follow it (the kernel escapes a newline within
// the message).
func Message(rec string) string {
	_, msg, _ := strings.Cut(rec, ";")
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}
