package spawn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

// Aliases of os/exec's error types and values, so that code written for
// os/exec matches spawn's errors unchanged.
type (
	// ExitError reports an unsuccessful exit (exec.ExitError).
	ExitError = exec.ExitError
	// Error is returned by LookPath when it fails (exec.Error).
	Error = exec.Error
)

var (
	// ErrDot: a PATH lookup resolved to the current directory (exec.ErrDot).
	ErrDot = exec.ErrDot
	// ErrNotFound: no executable of that name in $PATH (exec.ErrNotFound).
	ErrNotFound = exec.ErrNotFound
	// ErrWaitDelay: WaitDelay expired before the I/O was done
	// (exec.ErrWaitDelay).
	ErrWaitDelay = exec.ErrWaitDelay
)

// LookPath is exec.LookPath: it searches $PATH for an executable named
// file, and returns ErrDot (wrapped in *Error) for one found relative to
// the current directory.
func LookPath(file string) (string, error) { return exec.LookPath(file) }

// Cmd is an external command being prepared or run; its fields mean what
// exec.Cmd's do. A Cmd cannot be reused after Start, Run, Output or
// CombinedOutput.
type Cmd struct {
	Path        string
	Args        []string
	Env         []string
	Dir         string
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	ExtraFiles  []*os.File
	SysProcAttr *syscall.SysProcAttr

	// Process is the started process, ProcessState its end once Wait
	// has returned.
	Process      *os.Process
	ProcessState *os.ProcessState

	// Err is a lookup error from Command, returned by Start.
	Err error

	// Cancel, with a Cmd from CommandContext, is called when the context
	// is done before the command ends (default: Process.Kill).
	Cancel func() error
	// WaitDelay bounds how long Wait waits, after the process exits or
	// after Cancel, for the I/O to finish and for the process to exit.
	WaitDelay time.Duration

	ctx         context.Context
	startCalled atomic.Bool

	childFiles  []io.Closer // the child's ends: closed after Start
	parentPipes []io.Closer // our ends: closed after Wait
	copiers     []func() error
	copyErr     chan error
	watch       chan watchResult

	searchName string // the bare name Command was given, for the PATH retry
	pidfd      int
	mech       Mechanism
	reason     string
}

// Mechanism is how a Cmd started its process.
type Mechanism int

const (
	// NotStarted: Start has not succeeded (yet).
	NotStarted Mechanism = iota
	// Embryo: pidfd_open(PIDFD_EMPTY), pidfd_config, pidfd_spawn_run.
	Embryo
	// ForkExec: the fallback, os.StartProcess, the fork and exec os/exec
	// uses.
	ForkExec
)

func (m Mechanism) String() string {
	switch m {
	case Embryo:
		return "embryo"
	case ForkExec:
		return "fork+exec"
	}
	return "not started"
}

// Mechanism says how the command was started.
func (c *Cmd) Mechanism() Mechanism { return c.mech }

// FallbackReason says why a command started with ForkExec did not use an
// embryo; "" otherwise.
func (c *Cmd) FallbackReason() string { return c.reason }

// PidFD returns the started process's pidfd, or -1 before Start and after
// Wait. It belongs to the Cmd: poll it, do not close it.
func (c *Cmd) PidFD() int {
	if c.Process == nil || c.ProcessState != nil {
		return -1
	}
	return c.pidfd
}

// Command returns a Cmd to run the named program with the arguments, as
// exec.Command does: a name without a slash is resolved with LookPath now
// (a failure is kept in Err for Start to return).
func Command(name string, arg ...string) *Cmd {
	c := &Cmd{Path: name, Args: append([]string{name}, arg...), pidfd: -1}
	if filepath.Base(name) == name {
		lp, err := LookPath(name)
		if lp != "" {
			c.Path = lp
		}
		if err != nil {
			c.Err = err
		} else {
			c.searchName = name
		}
	}
	return c
}

// CommandContext is Command with a context: when ctx is done before the
// command ends, Cancel is called (by default it kills the process).
func CommandContext(ctx context.Context, name string, arg ...string) *Cmd {
	if ctx == nil {
		panic("nil Context")
	}
	c := Command(name, arg...)
	c.ctx = ctx
	c.Cancel = func() error { return c.Process.Kill() }
	return c
}

// String describes c for debugging, as exec.Cmd.String does.
func (c *Cmd) String() string {
	if c.Err != nil {
		return strings.Join(c.Args, " ")
	}
	var b strings.Builder
	b.WriteString(c.Path)
	for _, a := range c.Args[1:] {
		b.WriteByte(' ')
		b.WriteString(a)
	}
	return b.String()
}

func (c *Cmd) argv() []string {
	if len(c.Args) > 0 {
		return c.Args
	}
	return []string{c.Path}
}

// Environ returns a copy of the environment the command would run with
// now.
func (c *Cmd) Environ() []string {
	env, _ := c.environ()
	// environ may return c.Env itself.
	return slices.Clone(env)
}

// environ is os/exec's rule: nil Env is the caller's environment, plus PWD
// for a Dir; duplicates resolve to the last; an entry with a NUL is
// dropped and reported.
func (c *Cmd) environ() ([]string, error) {
	env, err := c.rawEnviron()
	env, dupErr := dedupEnv(env)
	if err == nil {
		err = dupErr
	}
	return env, err
}

// rawEnviron is the environment before dedupEnv: Env, or for a nil Env
// the caller's with PWD for a Dir (and the error of making Dir absolute).
func (c *Cmd) rawEnviron() ([]string, error) {
	if c.Env != nil {
		return c.Env, nil
	}
	env := os.Environ()
	if c.Dir == "" {
		return env, nil
	}
	pwd, err := filepath.Abs(c.Dir)
	if err != nil {
		return env, err
	}
	return append(env, "PWD="+pwd), nil
}

// envCache keeps the environments the last embryos were given, each as
// rawEnviron returned it and as laid out for the kernel. A program mostly
// starts its commands with one environment, or a few, its own or ones it
// built: comparing with the kept ones costs a comparison of string headers
// where their contents are shared, and spares dedupEnv, a check of every
// byte for a NUL, a copy and two allocations. Only an environment that an
// embryo took (its ENVP command succeeded) and of at most maxKeptEnv bytes
// is kept, in the next of envCacheSlots slots in turn; it stays referenced
// until replaced.
var envCache struct {
	slots [envCacheSlots]atomic.Pointer[envVector]
	next  atomic.Uint32
}

const (
	envCacheSlots = 4
	maxKeptEnv    = 64 << 10
)

// envVector is an environment laid out for an embryo: raw is our own
// slice of it (the caller may change theirs), vec its layout.
type envVector struct {
	raw  []string
	vec  *pidfd.Vector
	kept bool // it came from envCache
}

// envVector is environ() laid out for an embryo's ENVP command: a kept one
// if it is equal, else a new one, to be kept (keepEnv) once an embryo has
// taken it.
func (c *Cmd) envVector() (*envVector, error) {
	raw, err := c.rawEnviron()
	if err != nil {
		return nil, err
	}
	for i := range envCache.slots {
		if e := envCache.slots[i].Load(); e != nil && slices.Equal(e.raw, raw) {
			return e, nil
		}
	}
	// Our own copy first, and the layout made from it: a caller that
	// changes its slice meanwhile (a race, as with os/exec) must not
	// leave a kept copy that differs from its layout.
	if c.Env != nil {
		raw = slices.Clone(raw)
	}
	env, err := dedupEnv(raw)
	if err != nil {
		return nil, err
	}
	vec, err := pidfd.NewVector(env)
	if err != nil {
		// dedupEnv has dropped every entry with a NUL.
		return nil, &StepError{Step: "ENVP", Err: err}
	}
	return &envVector{raw: raw, vec: vec}, nil
}

// keepEnv keeps e, which an embryo took, for the next Starts, unless it is
// kept already or too large.
func keepEnv(e *envVector) {
	if e.kept {
		return
	}
	size := 0
	for _, s := range e.raw {
		size += len(s) + 1
	}
	if size > maxKeptEnv {
		return
	}
	e.kept = true
	envCache.slots[(envCache.next.Add(1)-1)%envCacheSlots].Store(e)
}

// dedupEnv keeps the last entry of each key and drops empty entries and
// those that hold a NUL (with an error), as os/exec's does. An
// environment that needs none of it, the usual one, comes back as it is,
// without an allocation: up to smallEnv entries are checked with a hash
// table on the stack (where os/exec builds a map and a new slice on each
// Start).
func dedupEnv(env []string) ([]string, error) {
	if len(env) <= smallEnv && !needsDedup(env) {
		return env, nil
	}
	return dedupEnvMap(env)
}

// dedupEnvMap is dedupEnv with a map, for any environment.
func dedupEnvMap(env []string) ([]string, error) {
	var err error
	seen := make(map[string]bool, len(env))
	keep := make([]bool, len(env))
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		if strings.IndexByte(kv, 0) >= 0 {
			err = errors.New("exec: environment variable contains NUL")
			continue
		}
		eq := strings.IndexByte(kv, '=')
		if eq == 0 { // a key that starts with '=' (Windows habit)
			eq = strings.IndexByte(kv[1:], '=') + 1
		}
		if eq < 0 {
			keep[i] = kv != ""
			continue
		}
		if k := kv[:eq]; !seen[k] {
			seen[k] = true
			keep[i] = true
		}
	}
	out := make([]string, 0, len(env))
	for i, kv := range env {
		if keep[i] {
			out = append(out, kv)
		}
	}
	return out, err
}

// smallEnv is the most entries needsDedup checks.
const smallEnv = 256

// envKey is kv's key, what precedes its first '=' (its second if it
// starts with one), and false if it has none.
func envKey(kv string) (string, bool) {
	eq := strings.IndexByte(kv, '=')
	if eq == 0 {
		eq = strings.IndexByte(kv[1:], '=') + 1
	}
	if eq < 0 {
		return "", false
	}
	return kv[:eq], true
}

// needsDedup reports whether dedupEnv would change env (at most smallEnv
// entries): an entry that is empty or holds a NUL, or a key that two
// entries share. Open addressing by the keys' FNV-1a hash, in a table
// twice the most entries.
func needsDedup(env []string) bool {
	var table [2 * smallEnv]uint16 // 1 + the index of the entry whose key is there; 0 if free
	for i, kv := range env {
		if kv == "" || strings.IndexByte(kv, 0) >= 0 {
			return true
		}
		k, ok := envKey(kv)
		if !ok {
			continue
		}
		h := uint32(2166136261)
		for j := 0; j < len(k); j++ {
			h = (h ^ uint32(k[j])) * 16777619
		}
		for j := h % uint32(len(table)); ; j = (j + 1) % uint32(len(table)) {
			if table[j] == 0 {
				table[j] = uint16(i + 1)
				break
			}
			if other, _ := envKey(env[table[j]-1]); other == k {
				return true
			}
		}
	}
	return false
}

// Run starts the command and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its standard output; an *ExitError
// carries the start and end of its standard error if Stderr was nil.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	var out bytes.Buffer
	c.Stdout = &out
	var saved *headTail
	if c.Stderr == nil {
		saved = &headTail{n: 32 << 10}
		c.Stderr = saved
	}
	err := c.Run()
	if ee, ok := err.(*ExitError); ok && saved != nil {
		ee.Stderr = saved.Bytes()
	}
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns its standard output and
// standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	if c.Stderr != nil {
		return nil, errors.New("exec: Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}

// StdinPipe returns a pipe to the command's standard input, closed by Wait
// after the command exits (close it earlier to send EOF).
func (c *Cmd) StdinPipe() (io.WriteCloser, error) {
	if c.Stdin != nil {
		return nil, errors.New("exec: Stdin already set")
	}
	if c.Process != nil {
		return nil, errors.New("exec: StdinPipe after process started")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.Stdin = r
	c.childFiles = append(c.childFiles, r)
	c.parentPipes = append(c.parentPipes, w)
	return w, nil
}

// StdoutPipe returns a pipe from the command's standard output, closed by
// Wait after the command exits: read it all before calling Wait.
func (c *Cmd) StdoutPipe() (io.ReadCloser, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	if c.Process != nil {
		return nil, errors.New("exec: StdoutPipe after process started")
	}
	return c.outPipe(&c.Stdout)
}

// StderrPipe is StdoutPipe for standard error.
func (c *Cmd) StderrPipe() (io.ReadCloser, error) {
	if c.Stderr != nil {
		return nil, errors.New("exec: Stderr already set")
	}
	if c.Process != nil {
		return nil, errors.New("exec: StderrPipe after process started")
	}
	return c.outPipe(&c.Stderr)
}

func (c *Cmd) outPipe(field *io.Writer) (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	*field = w
	c.childFiles = append(c.childFiles, w)
	c.parentPipes = append(c.parentPipes, r)
	return r, nil
}

// stdin returns the child's fd 0: Stdin itself if it is a file, /dev/null
// for nil, else a pipe fed by a goroutine.
func (c *Cmd) stdin() (*os.File, error) {
	switch r := c.Stdin.(type) {
	case nil:
		f, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		c.childFiles = append(c.childFiles, f)
		return f, nil
	case *os.File:
		return r, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.childFiles = append(c.childFiles, pr)
	c.parentPipes = append(c.parentPipes, pw)
	src := c.Stdin
	c.copiers = append(c.copiers, func() error {
		_, err := io.Copy(pw, src)
		if brokenPipe(err) {
			// The child did not read all of its input: that is its
			// business, as with os/exec (go.dev/issue/9173).
			err = nil
		}
		if cerr := pw.Close(); err == nil {
			err = cerr
		}
		return err
	})
	return pr, nil
}

func brokenPipe(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "write" && pe.Path == "|1" && errors.Is(pe.Err, syscall.EPIPE)
}

// writer returns the child's end for an output stream: w itself if it is a
// file, /dev/null for nil, else a pipe drained into w by a goroutine.
func (c *Cmd) writer(w io.Writer) (*os.File, error) {
	switch f := w.(type) {
	case nil:
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		c.childFiles = append(c.childFiles, null)
		return null, nil
	case *os.File:
		return f, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	c.childFiles = append(c.childFiles, pw)
	c.parentPipes = append(c.parentPipes, pr)
	c.copiers = append(c.copiers, func() error {
		_, err := io.Copy(w, pr)
		pr.Close() // a failed write leaves the child's writes to fail
		return err
	})
	return pw, nil
}

// sameWriter compares two writers without panicking on incomparable types.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() { recover() }()
	return a == b
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

// headTail keeps the first and the last n bytes written to it.
type headTail struct {
	n       int
	head    []byte
	tail    []byte // a ring of n bytes once full
	next    int    // where the ring is written next
	dropped int64
}

func (h *headTail) Write(p []byte) (int, error) {
	total := len(p)
	if room := h.n - len(h.head); room > 0 {
		k := min(room, len(p))
		h.head = append(h.head, p[:k]...)
		p = p[k:]
	}
	if extra := len(p) - h.n; extra > 0 {
		h.dropped += int64(extra)
		p = p[extra:]
	}
	for len(p) > 0 {
		if len(h.tail) < h.n {
			k := min(h.n-len(h.tail), len(p))
			h.tail = append(h.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := copy(h.tail[h.next:], p)
		h.dropped += int64(k)
		h.next = (h.next + k) % h.n
		p = p[k:]
	}
	return total, nil
}

func (h *headTail) Bytes() []byte {
	if h.dropped == 0 {
		return append(h.head, h.tail...)
	}
	var b bytes.Buffer
	b.Write(h.head)
	b.WriteString("\n... omitting " + strconv.FormatInt(h.dropped, 10) + " bytes ...\n")
	b.Write(h.tail[h.next:])
	b.Write(h.tail[:h.next])
	return b.Bytes()
}
