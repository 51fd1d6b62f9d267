package spawn

import (
	"errors"

	"golang.org/x/sys/unix"
)

// A StepError says which step of starting a command through an embryo
// failed: the pidfd_config command or pidfd_spawn_run, with its argument.
// It unwraps to the errno, for errors.Is.
type StepError struct {
	Step string // "ARGV", "ENVP", "FD DUP", "CWD", "SIGNALS", "EXEC", "RUN", "pidfd_open"
	Arg  string // "3→5", a path, ...; may be empty
	Err  error
}

func (e *StepError) Error() string {
	s := "spawn: " + e.Step
	if e.Arg != "" {
		s += " " + e.Arg
	}
	return s + ": " + errText(e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// errText names an errno as the kernel's headers do ("EBADF"), anything
// else by its message.
func errText(err error) string {
	var en unix.Errno
	if errors.As(err, &en) && err == error(en) {
		if name := unix.ErrnoName(en); name != "" {
			return name
		}
	}
	return err.Error()
}
