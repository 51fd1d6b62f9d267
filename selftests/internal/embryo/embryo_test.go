package embryo

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

func TestMain(m *testing.M) {
	Main(m, map[string]HelperFunc{
		"echo": func(arg json.RawMessage) (any, error) {
			var v struct {
				S   string
				Uid int
			}
			if err := DecodeArg(arg, &v); err != nil {
				return nil, err
			}
			v.Uid = os.Getuid()
			return v, nil
		},
		"fail": func(json.RawMessage) (any, error) { return nil, errors.New("as asked") },
	})
}

// These run on the host: the helpers' machinery, not the kernel feature.

func TestHelperRoundTrip(t *testing.T) {
	var out struct {
		S   string
		Uid int
	}
	NewHelper(t, "echo", map[string]string{"S": "hello"}).Result(&out)
	if out.S != "hello" || out.Uid != os.Getuid() {
		t.Errorf("echo helper: %+v", out)
	}
}

func TestHelperAsNobody(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skipf("running as uid %d: only root can start a helper as another user", os.Getuid())
	}
	var out struct {
		S   string
		Uid int
	}
	NewHelper(t, "echo", map[string]string{"S": "x"}).AsUser(Nobody, Nobody).Result(&out)
	if out.Uid != Nobody {
		t.Errorf("helper ran as uid %d, want %d", out.Uid, Nobody)
	}
}

func TestHelperFailureIsReported(t *testing.T) {
	// Result fails its test; run the helper by hand to see the reply.
	h := NewHelper(t, "fail", nil)
	err := h.Cmd.Run()
	h.waited = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("failing helper: %v, want exit status 1", err)
	}
	var reply helperReply
	if err := json.Unmarshal(h.stdout.Bytes(), &reply); err != nil || reply.Error != "as asked" {
		t.Errorf("reply %+v (%v), want the helper's error", reply, err)
	}
}

func TestArena(t *testing.T) {
	a := NewArena(t, 100)
	s := a.CString("abc")
	if string(s) != "abc" || unsafe.Slice(&s[0], 4)[3] != 0 {
		t.Errorf("CString: %q", unsafe.Slice(&s[0], 4))
	}
	v := a.Vector(1, 2)
	if len(v) != 2 || unsafe.Slice(&v[0], 3)[2] != 0 {
		t.Errorf("Vector: %v", unsafe.Slice(&v[0], 3))
	}
	b := Place(a, pidfd.SignalsArg{Blocked: 5, Ignored: 7}, 24)
	if len(b) != 24 || *(*uint64)(unsafe.Pointer(&b[0])) != 5 || *(*uint64)(unsafe.Pointer(&b[8])) != 7 || b[16] != 0 {
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
	_, _, errno := unix.Syscall(unix.SYS_WRITE, uintptr(p[1]), uintptr(a.BadPtr()), 1)
	if errno != unix.EFAULT {
		t.Errorf("write from the guard page: %v, want EFAULT", errno)
	}
}

func TestForkExecAndWait(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh on this host: %v", err)
	}
	_, fd, err := ForkExec(sh, []string{"sh", "-c", "exit 3"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if ex := Wait(t, fd); !ex.Exited(3) {
		t.Errorf("%v, want exit 3", ex)
	}
	_, _, err = ForkExec("/nonexistent", []string{"x"}, nil, nil)
	if Errno(err) != unix.ENOENT {
		t.Errorf("fork+exec of a missing file: %v, want ENOENT", err)
	}
}

func TestPipeDeadline(t *testing.T) {
	r, w := Pipe(t)
	w.Write([]byte("x"))
	start := time.Now()
	b, err := ReadAll(r, 200*time.Millisecond)
	if err == nil || string(b) != "x" || time.Since(start) > 5*time.Second {
		t.Errorf("ReadAll with the write end open: %q, %v after %v; want a deadline error", b, err, time.Since(start))
	}
}

func TestCheckAndNames(t *testing.T) {
	if Name(nil) != "success" || Name(unix.EINVAL) != "EINVAL" || ErrnoName(0) != "success" {
		t.Errorf("names: %s %s %s", Name(nil), Name(unix.EINVAL), ErrnoName(0))
	}
	if Errno(errors.New("x")) == unix.EINVAL || Errno(nil) != 0 {
		t.Errorf("Errno")
	}
	m := ParseFdinfo("pos:\t0\nPid:\t-1\nEmbryo:\t1\n")
	if !reflect.DeepEqual(m, map[string]string{"pos": "0", "Pid": "-1", "Embryo": "1"}) {
		t.Errorf("ParseFdinfo: %v", m)
	}
}

func TestRequireVerdict(t *testing.T) {
	other := errors.New("pidfd: probing PIDFD_EMPTY: EPERM")
	for _, tc := range []struct {
		name         string
		err          error
		empty, stock string
		skip         bool
		msg          string
	}{
		{"stock kernel, not allowed: fail", pidfd.ErrNotSupported, "absent", "0", false, "built without the empty pidfds series"},
		{"stock kernel, not allowed: names the opt-in", pidfd.ErrNotSupported, "absent", "0", false, "EMPTYPIDFD_ALLOW_STOCK_KERNEL=1"},
		{"stock kernel, allowed: skip loudly", pidfd.ErrNotSupported, "absent", "1", true, "STOCK KERNEL RUN"},
		{"headers promise it, kernel lacks it", pidfd.ErrNotSupported, "present", "0", false, "booted another kernel"},
		{"headers promise it, kernel lacks it, stock allowed", pidfd.ErrNotSupported, "present", "1", false, "booted another kernel"},
		{"probe broke", other, "present", "0", false, "EPERM"},
		{"probe broke, stock allowed", other, "absent", "1", false, "EPERM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip, msg := verdict(tc.err, tc.empty, tc.stock)
			if skip != tc.skip || !strings.Contains(msg, tc.msg) {
				t.Errorf("verdict = %v, %q; want skip %v, a message mentioning %q", skip, msg, tc.skip, tc.msg)
			}
		})
	}
}
