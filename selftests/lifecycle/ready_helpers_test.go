package lifecycle

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// startReady starts the helper name with arg in the cgroup cg, with a
// pipe as its fd 3, on which it says when it is ready, and its stdin a
// pipe that the caller closes to let it return. It returns what the
// helper said, and fails t if it said nothing within embryo.Timeout.
func startReady(t *testing.T, name string, arg any, cg string) (*helper.Helper, io.WriteCloser, string) {
	t.Helper()
	r, w := embryo.Pipe(t)
	cgfd := openCgroup(t, cg)
	defer unix.Close(cgfd)
	h := helper.New(t, name, arg)
	intoCgroup(h, cgfd)
	h.Cmd.ExtraFiles = []*os.File{w}
	stdin, err := h.Cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	w.Close()
	b, err := embryo.ReadAll(r, embryo.Timeout)
	if err != nil || len(b) == 0 {
		h.Cmd.Process.Kill()
		h.Result(nil)
		t.Fatalf("the helper %s did not say it was ready: read %q, %v", name, b, err)
	}
	return h, stdin, string(b)
}

// fifoWriter returns a function that opens the FIFO at path for writing,
// once, which lets an open of it for reading return.
func fifoWriter(t *testing.T, path string) func() {
	done := false
	return func() {
		if done {
			return
		}
		done = true
		wfd, err := unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("opening the FIFO %s for writing: %v", path, err)
			return
		}
		unix.Close(wfd)
	}
}
