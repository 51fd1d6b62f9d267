package pidfd

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// si_code values of SIGCHLD: how a child ended.
const (
	CLD_EXITED = 1
	CLD_KILLED = 2
	CLD_DUMPED = 3
)

// Exit is a child's end as waitid(2) reports it in its siginfo_t.
type Exit struct {
	Pid    int
	Code   int // CLD_EXITED, CLD_KILLED, ...; 0 if no child was reported
	Status int // exit status or signal
}

func (e Exit) String() string {
	switch e.Code {
	case 0:
		return "no child reported"
	case CLD_EXITED:
		return fmt.Sprintf("pid %d exited %d", e.Pid, e.Status)
	case CLD_KILLED, CLD_DUMPED:
		return fmt.Sprintf("pid %d killed by %v", e.Pid, unix.Signal(e.Status))
	}
	return fmt.Sprintf("pid %d code %d status %d", e.Pid, e.Code, e.Status)
}

// Exited says whether the child exited with status.
func (e Exit) Exited(status int) bool { return e.Code == CLD_EXITED && e.Status == status }

// Signaled says whether the child was killed by sig (with or without a core
// dump).
func (e Exit) Signaled(sig unix.Signal) bool {
	return (e.Code == CLD_KILLED || e.Code == CLD_DUMPED) && e.Status == int(sig)
}

// siginfoChild is the head of siginfo_t with the SIGCHLD fields, as the
// kernel lays it out for 64-bit callers.
type siginfoChild struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	UID    uint32
	Status int32
}

// DecodeSiginfo reads the SIGCHLD fields of a siginfo_t that waitid filled;
// a zero siginfo (WNOHANG, no child ready) is the zero Exit.
func DecodeSiginfo(si *unix.Siginfo) Exit {
	c := (*siginfoChild)(unsafe.Pointer(si))
	if c.Signo == 0 {
		return Exit{}
	}
	return Exit{Pid: int(c.Pid), Code: int(c.Code), Status: int(c.Status)}
}

// Waitid is waitid(idtype, id, &si, options, NULL), decoded. It does not
// retry on EINTR.
func Waitid(idtype, id, options int) (Exit, error) {
	var si unix.Siginfo
	if err := unix.Waitid(idtype, id, &si, options, nil); err != nil {
		return Exit{}, err
	}
	return DecodeSiginfo(&si), nil
}
