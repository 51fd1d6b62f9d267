package spawn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Start starts the command without waiting for it; Wait must follow to
// release its resources.
func (c *Cmd) Start() error {
	if c.startCalled.Swap(true) {
		return errors.New("exec: already started")
	}
	started := false
	defer func() {
		closeAll(c.childFiles)
		c.childFiles = nil
		if !started {
			closeAll(c.parentPipes)
			c.parentPipes = nil
			c.copiers = nil
		}
	}()
	if c.Path == "" && c.Err == nil {
		c.Err = errors.New("exec: no command")
	}
	if c.Err != nil {
		return c.Err
	}
	if c.Cancel != nil && c.ctx == nil {
		return errors.New("exec: command with a non-nil Cancel was not created with CommandContext")
	}
	if c.ctx != nil {
		select {
		case <-c.ctx.Done():
			return c.ctx.Err()
		default:
		}
	}

	reason := c.embryoUnusable()
	// An embryo opens a nil stream's /dev/null itself (PIDFD_FD_OPEN):
	// one call, where opening it here, handing it over and closing it
	// take five. Not with Noctty or Setctty, which name the child's
	// terminal by our descriptor of the file that becomes it.
	var nulls nullStreams
	if reason == "" && (c.SysProcAttr == nil || !c.SysProcAttr.Noctty && !c.SysProcAttr.Setctty) {
		nulls = c.nilStreams()
	}
	files := make([]*os.File, 0, 3+len(c.ExtraFiles))
	var in, out, errf *os.File
	var err error
	if !nulls.has(0) {
		if in, err = c.stdin(); err != nil {
			return err
		}
	}
	if !nulls.has(1) {
		if out, err = c.writer(c.Stdout); err != nil {
			return err
		}
	}
	if c.Stderr != nil && sameWriter(c.Stderr, c.Stdout) {
		errf = out
	} else if !nulls.has(2) {
		if errf, err = c.writer(c.Stderr); err != nil {
			return err
		}
	}
	files = append(files, in, out, errf)
	files = append(files, c.ExtraFiles...)

	if reason == "" {
		env, err := c.envVector()
		if err != nil {
			return err
		}
		if err := c.startEmbryo(c.candidates(), env, files, nulls); err != nil {
			return err
		}
		c.mech = Embryo
	} else {
		env, err := c.environ()
		if err != nil {
			return err
		}
		if err := c.checkDir(); err != nil {
			return err
		}
		c.reason = reason
		if err := c.startForkExec(c.candidates(), env, files); err != nil {
			return err
		}
		c.mech = ForkExec
	}
	started = true

	if len(c.copiers) > 0 {
		c.copyErr = runAll(c.copiers)
		c.copiers = nil
	}
	if (c.Cancel != nil || c.WaitDelay != 0) && c.ctx != nil && c.ctx.Done() != nil {
		c.watch = make(chan watchResult)
		go c.watchCtx(c.watch)
	}
	return nil
}

// candidates lists the programs to try: Path, then, for a name Command
// resolved in $PATH, the later $PATH entries that name it (absolute ones
// only: a relative one is ErrDot's business).
func (c *Cmd) candidates() []string {
	cands := []string{c.Path}
	if c.searchName == "" {
		return cands
	}
	past := false
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, c.searchName)
		if !filepath.IsAbs(p) {
			continue
		}
		if p == c.Path {
			past = true
			continue
		}
		if past {
			cands = append(cands, p)
		}
	}
	return cands
}

// retryable says whether an exec error lets the PATH search go on, as
// execvp's: the candidate is missing or not executable for the kernel.
func retryable(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EACCES)
}

// checkDir fails as os.StartProcess does before it forks when Dir cannot
// be found: only without a SysProcAttr, whose Chroot or Credential may make
// Dir the child's to find. An embryo's CWD command finds it anyway; only
// its error asks (see startEmbryo).
func (c *Cmd) checkDir() error {
	if c.Dir == "" || c.SysProcAttr != nil {
		return nil
	}
	_, err := os.Stat(c.Dir)
	var pe *os.PathError
	if errors.As(err, &pe) {
		pe.Op = "chdir"
	}
	return err
}

// Wait waits for the command to exit and for its I/O to be copied, and
// releases what the Cmd holds. Its error is nil, an *ExitError for an
// unsuccessful exit, or an error of the I/O, the context or WaitDelay, as
// exec.Cmd.Wait's.
func (c *Cmd) Wait() error {
	if c.Process == nil {
		return errors.New("exec: not started")
	}
	if c.ProcessState != nil {
		return errors.New("exec: Wait was already called")
	}
	state, err := c.waitProcess()
	if err == nil && !state.Success() {
		err = &ExitError{ProcessState: state}
	}
	c.ProcessState = state

	var timer *time.Timer
	if c.watch != nil {
		w := <-c.watch
		timer = w.timer
		if err == nil && w.err != nil {
			err = w.err
		}
	}
	if cerr := c.awaitCopiers(timer); err == nil {
		err = cerr
	}
	closeAll(c.parentPipes)
	c.parentPipes = nil
	return err
}

// waitProcess reaps the child through Process (for the ProcessState and
// its rusage; os.FindProcess gave it a pidfd of its own, which it waits
// on) and closes our pidfd.
func (c *Cmd) waitProcess() (*os.ProcessState, error) {
	state, err := c.Process.Wait()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	return state, err
}

// runAll runs the copiers and returns a channel that yields the first
// error once all have returned.
func runAll(fns []func() error) chan error {
	done := make(chan error, 1)
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		go func() { errs <- fn() }()
	}
	go func() {
		var first error
		for range fns {
			if err := <-errs; first == nil {
				first = err
			}
		}
		done <- first
	}()
	return done
}

type watchResult struct {
	err   error
	timer *time.Timer // runs out WaitDelay after the context was done
}

// watchCtx hands Wait its result, calling Cancel when the context is done
// first, and after WaitDelay more kills the process and stops the I/O.
func (c *Cmd) watchCtx(result chan<- watchResult) {
	select {
	case result <- watchResult{}:
		return
	case <-c.ctx.Done():
	}
	var err error
	if c.Cancel != nil {
		switch cerr := c.Cancel(); {
		case cerr == nil:
			err = c.ctx.Err()
		case errors.Is(cerr, os.ErrProcessDone):
		default:
			err = fmt.Errorf("exec: canceling Cmd: %w", cerr)
		}
	}
	if c.WaitDelay == 0 {
		result <- watchResult{err: err}
		return
	}
	timer := time.NewTimer(c.WaitDelay)
	select {
	case result <- watchResult{err: err, timer: timer}:
		return
	case <-timer.C:
	}
	killed := false
	if kerr := c.Process.Kill(); kerr == nil {
		killed = true
	} else if !errors.Is(kerr, os.ErrProcessDone) {
		err = fmt.Errorf("exec: killing Cmd: %w", kerr)
	}
	if c.copyErr != nil {
		select {
		case cerr := <-c.copyErr:
			if err == nil && !killed {
				err = cerr
			}
		default:
			// A grandchild may hold the pipes: close ours (after the
			// signals, so the child dies of them, not of SIGPIPE).
			closeAll(c.parentPipes)
			<-c.copyErr
			if err == nil {
				err = ErrWaitDelay
			}
		}
		c.copyErr = nil
	}
	result <- watchResult{err: err}
}

// awaitCopiers waits for the copying goroutines, up to WaitDelay (timer,
// when watchCtx started it) before closing their pipes.
func (c *Cmd) awaitCopiers(timer *time.Timer) error {
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		c.copyErr = nil
	}()
	if c.copyErr == nil {
		return nil
	}
	if timer == nil {
		if c.WaitDelay == 0 {
			return <-c.copyErr
		}
		select {
		case err := <-c.copyErr:
			return err
		default:
		}
		timer = time.NewTimer(c.WaitDelay)
	}
	select {
	case err := <-c.copyErr:
		return err
	case <-timer.C:
		closeAll(c.parentPipes)
		<-c.copyErr
		return ErrWaitDelay
	}
}

// nullStreams is a set of the child's descriptors 0, 1 and 2 that are to be
// /dev/null, opened by the embryo: 0 for reading, 1 and 2 for writing, as
// os/exec opens them for nil Stdin, Stdout and Stderr.
type nullStreams uint8

func (n nullStreams) has(fd int) bool { return n&(1<<fd) != 0 }

// nilStreams is the set of c's nil Stdin, Stdout and Stderr.
func (c *Cmd) nilStreams() nullStreams {
	var n nullStreams
	for fd, s := range []any{c.Stdin, c.Stdout, c.Stderr} {
		if s == nil {
			n |= 1 << fd
		}
	}
	return n
}
