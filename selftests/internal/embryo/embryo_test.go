package embryo

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

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
