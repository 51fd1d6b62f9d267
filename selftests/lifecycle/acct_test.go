package lifecycle

// v1 finding A15, BSD process accounting: a documented exception. Like the
// other privileged observers of tasks, accounting sees an embryo as a
// task: one destroyed unstarted is accounted as a child that exited
// without exec, and one that started as the program it ran.

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// acctV3 is struct acct_v3 (include/uapi/linux/acct.h), 64 bytes.
type acctV3 struct {
	Flag, Version byte
	Tty           uint16
	Exitcode      uint32
	Uid, Gid      uint32
	Pid, Ppid     uint32
	Btime         uint32
	Etime         float32
	Times         [8]uint16 // utime, stime, mem, io, rw, minflt, majflt, swaps
	Comm          [16]byte
}

func readAcct(path string) ([]acctV3, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	recs := make([]acctV3, len(b)/64)
	if err := binary.Read(bytes.NewReader(b[:len(recs)*64]), binary.LittleEndian, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// creatorComm is this test binary's comm, which an embryo it creates
// carries until it execs: the executable's name, cut to 15 bytes.
func creatorComm() string {
	exe, _ := os.Executable()
	c := filepath.Base(exe)
	return c[:min(len(c), 15)]
}

func comm(r acctV3) string {
	c, _, _ := bytes.Cut(r.Comm[:], []byte{0})
	return string(c)
}

// TestAcctRecords: with process accounting on, an embryo destroyed before
// it started leaves one record (the creator's comm, its pid as ppid, exit
// code 0), and one that started leaves the record of the program it ran,
// as fork's children do. The test counts the creator's children's records.
func TestAcctRecords(t *testing.T) {
	embryo.Require(t)
	file := filepath.Join(t.TempDir(), "acct")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Acct(file); err != nil {
		t.Fatalf("acct(%s): %s (the test kernel has BSD_PROCESS_ACCT)", file, name(err))
	}
	on := true
	off := func() {
		if on {
			unix.Acct("")
			on = false
		}
	}
	t.Cleanup(off)

	// One destroyed unstarted, by the close of its pidfd; the embryo
	// exits on its own, and its record is waited for below.
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		t.Fatal(name(err))
	}
	unix.Close(fd)
	// One started.
	fd2 := embryo.New(t)
	if err := pidfd.ConfigExec(fd2, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		t.Fatal(name(err))
	}
	pid := embryo.Run(t, fd2)
	embryo.Wait(t, fd2)

	self := uint32(os.Getpid())
	var recs []acctV3
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := readAcct(file)
		if err != nil {
			t.Fatal(err)
		}
		recs = recs[:0]
		for _, r := range all {
			if r.Ppid == self {
				recs = append(recs, r)
			}
		}
		if len(recs) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	off()
	for _, r := range recs {
		t.Logf("record: pid %d ppid %d comm %q exit %d version %d", r.Pid, r.Ppid, comm(r), r.Exitcode, r.Version&0x0f)
	}
	if len(recs) != 2 {
		t.Fatalf("%d accounting records with ppid %d, want 2 (the destroyed embryo, the started child)", len(recs), self)
	}
	creator := creatorComm()
	var destroyed, started bool
	for _, r := range recs {
		switch {
		case r.Pid == uint32(pid) && comm(r) == "true-static" && r.Exitcode == 0:
			started = true
		case r.Pid != uint32(pid) && comm(r) == creator && r.Exitcode == 0:
			destroyed = true
		}
	}
	if !destroyed {
		t.Errorf("no record of the destroyed embryo (comm %q, exit 0)", creator)
	}
	if !started {
		t.Errorf("no record of the started child %d (comm true-static, exit 0)", pid)
	}
}
