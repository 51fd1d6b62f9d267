package embryo

import (
	"syscall"
)

// ForkExec starts path the classic way, fork+execve (syscall.ForkExec, from
// the calling thread), as the reference an embryo is compared with. files[i]
// becomes the child's fd i (-1: closed). It returns the child's pid and a
// pidfd for it from CLONE_PIDFD; the error is the exec's errno.
func ForkExec(path string, argv, env []string, files []int) (pid, pidfd int, err error) {
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = uintptr(f) // -1 becomes ^0, which ForkExec closes
	}
	pfd := -1
	pid, err = syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   env,
		Files: fds,
		Sys:   &syscall.SysProcAttr{PidFD: &pfd},
	})
	if err != nil {
		return -1, -1, err
	}
	return pid, pfd, nil
}
