// Package helper runs a test binary again as a helper process: another
// process than the test (one that did not create an embryo), another user,
// or a sandbox that must not leak into the test binary.
package helper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A test that needs another process (one that did not create the embryo, an
// unprivileged user, a sandbox that must not leak into the test binary, or a
// process without other children) re-executes its own test binary as a
// helper: TestMain hands over to Main, which runs the named Func
// instead of the tests when the environment says so.

const (
	envHelper    = "EMPTYPIDFD_HELPER"
	envHelperArg = "EMPTYPIDFD_HELPER_ARG"
)

// Timeout bounds a helper process.
const Timeout = 3 * time.Minute

// A Func runs in the re-executed test binary. arg is the JSON of what
// the test passed to New; the result goes back as JSON. The helper's
// stdout carries the result: it must write nothing else there.
type Func func(arg json.RawMessage) (any, error)

type helperReply struct {
	Result json.RawMessage `json:",omitempty"`
	Error  string          `json:",omitempty"`
}

// Main is the TestMain of a package with helpers: it runs the tests, or, in
// a re-executed binary, the helper it was started for.
func Main(m *testing.M, helpers map[string]Func) {
	name, ok := os.LookupEnv(envHelper)
	if !ok {
		code := m.Run()
		if copyDir != "" {
			os.RemoveAll(copyDir)
		}
		os.Exit(code)
	}
	var reply helperReply
	if f := helpers[name]; f == nil {
		reply.Error = fmt.Sprintf("no helper %q in this test binary", name)
	} else if res, err := f(json.RawMessage(os.Getenv(envHelperArg))); err != nil {
		reply.Error = err.Error()
	} else if reply.Result, err = json.Marshal(res); err != nil {
		reply.Error = fmt.Sprintf("encoding the result: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(reply); err != nil {
		fmt.Fprintf(os.Stderr, "helper %s: writing the result: %v\n", name, err)
		os.Exit(2)
	}
	if reply.Error != "" {
		os.Exit(1)
	}
	os.Exit(0)
}

// Helper is a re-execution of the test binary running one Func.
type Helper struct {
	Cmd            *exec.Cmd
	name           string
	t              testing.TB
	stdout, stderr bytes.Buffer
	waited         bool
}

// New prepares (does not start) the helper name with arg. The caller
// may set Cmd's Stdin, ExtraFiles and SysProcAttr before starting it; its
// stdout and stderr belong to Helper.
func New(t testing.TB, name string, arg any) *Helper {
	t.Helper()
	return NewTimeout(t, name, arg, Timeout)
}

// NewTimeout is New for a helper that may run longer than Timeout (a soak
// of many cycles): it is killed after d instead.
func NewTimeout(t testing.TB, name string, arg any, d time.Duration) *Helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	b, err := json.Marshal(arg)
	if err != nil {
		t.Fatalf("encoding the helper's argument: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	h := &Helper{name: name, t: t}
	h.Cmd = exec.CommandContext(ctx, exe, "-test.run=^$")
	h.Cmd.Env = append(os.Environ(), envHelper+"="+name, envHelperArg+"="+string(b))
	h.Cmd.Dir = "/"
	h.Cmd.Stdout = &h.stdout
	h.Cmd.Stderr = &h.stderr
	h.Cmd.SysProcAttr = &syscall.SysProcAttr{}
	t.Cleanup(func() {
		if h.Cmd.Process != nil && !h.waited {
			h.Cmd.Process.Kill()
			h.Cmd.Wait()
		}
		cancel()
	})
	return h
}

// Env adds environment variables ("K=V") to the helper's.
func (h *Helper) Env(kv ...string) *Helper {
	h.Cmd.Env = append(h.Cmd.Env, kv...)
	return h
}

var (
	copyOnce sync.Once
	copyDir  string
	copyPath string
	copyErr  error
)

// copyBinary copies the test binary where any user can run it: the directory
// the harness runs it from need not be open to others.
func copyBinary() (string, error) {
	copyOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			copyErr = err
			return
		}
		dir, err := os.MkdirTemp("/tmp", "emptypidfd-helper-")
		if err != nil {
			copyErr = err
			return
		}
		copyDir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			copyErr = err
			return
		}
		// The guest's "/" comes from the initramfs with whatever mode the
		// archive gave it: let other users reach the copy.
		if err := openToOthers("/", "/tmp"); err != nil {
			copyErr = err
			return
		}
		copyPath = filepath.Join(dir, filepath.Base(exe))
		copyErr = copyFile(exe, copyPath, 0o755)
	})
	return copyPath, copyErr
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// CopyFile copies src to dst with mode, failing t on error.
func CopyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	if err := copyFile(src, dst, mode); err != nil {
		t.Fatalf("copying %s to %s: %v", src, dst, err)
	}
}

// Nobody is the unprivileged user (and group) helpers run as.
const Nobody = 65534

// AsUser makes the helper run with uid and gid and no supplementary groups,
// from a copy of the test binary that user can execute.
func (h *Helper) AsUser(uid, gid int) *Helper {
	h.t.Helper()
	path, err := copyBinary()
	if err != nil {
		h.t.Fatalf("copying the test binary for user %d: %v", uid, err)
	}
	h.Cmd.Path = path
	h.Cmd.Args[0] = path
	h.Cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	return h
}

// Start starts the helper.
func (h *Helper) Start() {
	h.t.Helper()
	if err := h.Cmd.Start(); err != nil {
		h.t.Fatalf("starting helper %s: %v", h.name, err)
	}
}

// Pid is the helper's pid (after Start).
func (h *Helper) Pid() int { return h.Cmd.Process.Pid }

// Result runs the helper (or waits for it, if started) and decodes its
// result into out (which may be nil), failing t if the helper failed.
func (h *Helper) Result(out any) {
	h.t.Helper()
	var err error
	if h.Cmd.Process == nil {
		err = h.Cmd.Run()
	} else {
		err = h.Cmd.Wait()
	}
	h.waited = true
	var reply helperReply
	if derr := json.Unmarshal(h.stdout.Bytes(), &reply); derr != nil {
		h.t.Fatalf("helper %s: %v; no result (%v) on its stdout %q\nstderr:\n%s", h.name, err, derr, h.stdout.Bytes(), h.stderr.Bytes())
	}
	if reply.Error != "" {
		h.t.Fatalf("helper %s failed: %s\nstderr:\n%s", h.name, reply.Error, h.stderr.Bytes())
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		h.t.Fatalf("helper %s: %v\nstderr:\n%s", h.name, err, h.stderr.Bytes())
	}
	if err != nil {
		h.t.Fatalf("helper %s: %v with a result\nstderr:\n%s", h.name, err, h.stderr.Bytes())
	}
	if out != nil {
		if err := json.Unmarshal(reply.Result, out); err != nil {
			h.t.Fatalf("helper %s: decoding its result %s: %v", h.name, reply.Result, err)
		}
	}
}

// Stderr is what the helper wrote to stderr so far (after Result: all).
func (h *Helper) Stderr() string { return h.stderr.String() }

// DecodeArg decodes a helper's argument.
func DecodeArg(arg json.RawMessage, v any) error {
	if err := json.Unmarshal(arg, v); err != nil {
		return fmt.Errorf("decoding the helper's argument %s: %w", arg, err)
	}
	return nil
}

// openToOthers adds search permission for other users to dirs that lack it.
func openToOthers(dirs ...string) error {
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		mode := fi.Mode() & (os.ModePerm | os.ModeSticky)
		if mode&0o001 != 0 {
			continue
		}
		if err := os.Chmod(d, mode|0o011); err != nil {
			return fmt.Errorf("letting other users search %s (mode %v): %w", d, mode, err)
		}
	}
	return nil
}
