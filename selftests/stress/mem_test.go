package stress

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mem is memory outside the Go heap (mmap) for the structs, strings and
// vectors the ops pass to the kernel by address, followed by a PROT_NONE
// guard page: a pointer into it, or a string or struct that runs into it,
// is an unmapped pointer (EFAULT). It is package arena's Arena for the
// helper processes, which have no testing.TB: the workers, the peer and
// the fault helper all build arguments here. Its addresses stay valid in
// a raw fork child (a private copy of the mapping), so the programs of
// forkchild_test.go point into it too.
//
// Allocations before setMark persist; reset frees the rest, so an op
// starts with the scratch part empty. The last tailRoom bytes are never
// handed out by alloc: tail places objects that end right at the guard
// page.
type mem struct {
	all  []byte // the mapping, guard page included
	buf  []byte // the read-write part
	used int
	mark int
}

const tailRoom = 16 << 10

func newMem(size int) (*mem, error) {
	page := unix.Getpagesize()
	size = (size + tailRoom + page - 1) &^ (page - 1)
	all, err := unix.Mmap(-1, 0, size+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap of %d bytes: %w", size+page, err)
	}
	if err := unix.Mprotect(all[size:], unix.PROT_NONE); err != nil {
		unix.Munmap(all)
		return nil, fmt.Errorf("mprotect of the guard page: %w", err)
	}
	return &mem{all: all, buf: all[:size:size]}, nil
}

func (m *mem) free() { unix.Munmap(m.all) }

// setMark makes what was allocated so far survive reset.
func (m *mem) setMark() { m.mark = m.used }

// reset frees everything allocated after the mark.
func (m *mem) reset() { m.used = m.mark }

// alloc returns n zeroed bytes, 16-byte aligned. It panics when the
// memory is exhausted: the sizes the ops use are bounded.
func (m *mem) alloc(n int) []byte {
	off := (m.used + 15) &^ 15
	if off+n > len(m.buf)-tailRoom {
		panic(fmt.Sprintf("stress: mem exhausted (%d of %d bytes used, %d more wanted)", off, len(m.buf)-tailRoom, n))
	}
	m.used = off + n
	b := m.buf[off : off+n : off+n]
	clear(b)
	return b
}

// tail returns n zeroed bytes that end right before the guard page. Every
// call hands out the same last bytes.
func (m *mem) tail(n int) []byte {
	if n > tailRoom {
		panic("stress: tail larger than tailRoom")
	}
	b := m.buf[len(m.buf)-n:]
	clear(b)
	return b
}

// bad is the address of the guard page.
func (m *mem) bad() uintptr { return addr(m.all[len(m.buf):]) }

// addr is the address of b's first byte (mem never moves).
func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// cstr copies s, NUL-terminated, and returns its address.
func (m *mem) cstr(s string) uintptr {
	b := m.alloc(len(s) + 1)
	copy(b, s)
	return addr(b)
}

// vec stores ptrs and a NULL after them and returns the array's address.
func (m *mem) vec(ptrs ...uintptr) uintptr {
	b := m.alloc(8 * (len(ptrs) + 1))
	v := unsafe.Slice((*uintptr)(unsafe.Pointer(&b[0])), len(ptrs)+1)
	copy(v, ptrs)
	return addr(b)
}

// strs stores ss as C strings and a NULL-terminated array of them.
func (m *mem) strs(ss ...string) uintptr {
	ptrs := make([]uintptr, len(ss))
	for i, s := range ss {
		ptrs[i] = m.cstr(s)
	}
	return m.vec(ptrs...)
}

// put copies b into size zeroed bytes (at least len(b)) and returns their
// address.
func (m *mem) put(b []byte, size int) uintptr { return addr(m.putb(b, size)) }

// putb is put returning the bytes.
func (m *mem) putb(b []byte, size int) []byte {
	dst := m.alloc(max(size, len(b)))
	copy(dst, b)
	return dst
}

// putTail copies b so that it ends right at the guard page.
func (m *mem) putTail(b []byte) uintptr {
	dst := m.tail(len(b))
	copy(dst, b)
	return addr(dst)
}

// raw returns the bytes of v, the struct as the kernel reads it.
func raw[T any](v T) []byte {
	b := make([]byte, unsafe.Sizeof(v))
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)))
	return b
}

// sharedPage maps one page shared with the raw fork children, which
// write their results there.
func sharedPage() ([]byte, error) {
	b, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap of a shared page: %w", err)
	}
	return b, nil
}
