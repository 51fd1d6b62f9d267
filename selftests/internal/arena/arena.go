// Package arena hands out memory outside the Go heap for the argument
// structs, strings and vectors a test builds by hand for pidfd.Config.
package arena

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// An Arena is memory outside the Go heap (from mmap) for argument structs,
// strings and string arrays built by hand: it never moves, so its addresses
// can be stored in the structs' 64-bit pointer fields, and a test can
// change it after a call to see that the kernel copied it. It is followed by
// an inaccessible page, for EFAULT.
type Arena struct {
	mem  []byte // read-write
	bad  []byte // PROT_NONE, right after mem
	all  []byte
	used int
	end  int // Alloc stays below; AllocEnd hands out [end, len(mem))
}

// New maps size bytes (rounded up to pages) and a guard page after
// them, unmapped when t ends.
func New(t testing.TB, size int) *Arena {
	t.Helper()
	page := unix.Getpagesize()
	size = (size + page - 1) &^ (page - 1)
	all, err := unix.Mmap(-1, 0, size+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	if err := unix.Mprotect(all[size:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(all) })
	return &Arena{mem: all[:size:size], bad: all[size:], all: all, end: size}
}

// Alloc returns n zeroed bytes, 16-byte aligned.
func (a *Arena) Alloc(n int) []byte {
	off := (a.used + 15) &^ 15
	if off+n > a.end {
		panic("embryo: arena exhausted")
	}
	a.used = off + n
	b := a.mem[off : off+n : off+n]
	clear(b)
	return b
}

// AllocEnd returns n zeroed bytes ending right before the guard page. Each
// call reuses the same last bytes of the arena.
func (a *Arena) AllocEnd(n int) []byte {
	if len(a.mem)-n < a.used {
		panic("embryo: arena exhausted")
	}
	a.end = min(a.end, len(a.mem)-n)
	b := a.mem[len(a.mem)-n:]
	clear(b)
	return b
}

// Addr is the address of b's first byte.
func Addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }

// Ptr is the address of b's first byte, for pidfd.Config (arena memory
// never moves, so an address of it may be held as a uintptr).
func Ptr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// Bad is the address of the guard page: any access faults.
func (a *Arena) Bad() uint64 { return Addr(a.bad) }

// BadPtr is Bad as a uintptr, for pidfd.Config.
func (a *Arena) BadPtr() uintptr { return Ptr(a.bad) }

// CString copies s, NUL-terminated, into the arena and returns its bytes
// (without the NUL) so the test can change them later.
func (a *Arena) CString(s string) []byte {
	b := a.Alloc(len(s) + 1)
	copy(b, s)
	return b[: len(s) : len(s)+1]
}

// CStringAddr is the address of a new copy of s.
func (a *Arena) CStringAddr(s string) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(a.CString(s)))))
}

// Vector stores the pointers followed by a NULL and returns the array's
// slots (the NULL excluded).
func (a *Arena) Vector(ptrs ...uint64) []uint64 {
	b := a.Alloc(8 * (len(ptrs) + 1))
	v := unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(ptrs)+1)
	copy(v, ptrs)
	return v[: len(ptrs) : len(ptrs)+1]
}

// VectorAddr is the address of a vector's first slot.
func VectorAddr(v []uint64) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(v))))
}

// Strings stores ss as C strings and a NULL-terminated array of them and
// returns the array's address.
func (a *Arena) Strings(ss ...string) uint64 {
	ptrs := make([]uint64, len(ss))
	for i, s := range ss {
		ptrs[i] = a.CStringAddr(s)
	}
	return VectorAddr(a.Vector(ptrs...))
}

// Place copies v into the arena at the start of size zeroed bytes (size may
// exceed v's, to test a larger struct) and returns those bytes.
func Place[T any](a *Arena, v T, size int) []byte {
	return place(a.Alloc(max(size, int(unsafe.Sizeof(v)))), v)
}

// PlaceEnd is Place with the bytes ending right before the guard page.
func PlaceEnd[T any](a *Arena, v T, size int) []byte {
	return place(a.AllocEnd(max(size, int(unsafe.Sizeof(v)))), v)
}

func place[T any](b []byte, v T) []byte {
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&v)), unsafe.Sizeof(v)))
	return b
}
