package arena

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

func TestArena(t *testing.T) {
	a := New(t, 100)
	s := a.CString("abc")
	if string(s) != "abc" || unsafe.Slice(&s[0], 4)[3] != 0 {
		t.Errorf("CString: %q", unsafe.Slice(&s[0], 4))
	}
	v := a.Vector(1, 2)
	if len(v) != 2 || unsafe.Slice(&v[0], 3)[2] != 0 {
		t.Errorf("Vector: %v", unsafe.Slice(&v[0], 3))
	}
	b := Place(a, pidfd.SignalsArg{Blocked: 5, Ignored: 7}, 32)
	if len(b) != 32 || *(*uint64)(unsafe.Pointer(&b[0])) != 5 || *(*uint64)(unsafe.Pointer(&b[8])) != 7 || b[24] != 0 || b[31] != 0 {
		t.Errorf("Place: % x", b)
	}
	end := a.AllocEnd(16)
	if Addr(end)+16 != a.Bad() {
		t.Errorf("AllocEnd ends at %#x, the guard page is at %#x", Addr(end)+16, a.Bad())
	}
	// The guard page faults for the kernel too.
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	_, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(p[1]), a.BadPtr(), 1)
	if errno != unix.EFAULT {
		t.Errorf("write from the guard page: %v, want EFAULT", errno)
	}
}
