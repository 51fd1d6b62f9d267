package spawn_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/spawn"
)

// A drop-in for exec.Command: the same calls, run through an embryo where
// the kernel has empty pidfds.
func ExampleCommand_output() {
	out, err := spawn.Command("bash", "-c", `echo "hello from $0"`).Output()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output: hello from bash
}

// Mechanism says which path Start took, FallbackReason why it was not an
// embryo.
func ExampleCmd_Mechanism() {
	cmd := spawn.Command("true")
	if err := cmd.Run(); err != nil {
		fmt.Println(err)
		return
	}
	// Embryo where the kernel has empty pidfds, else ForkExec with the
	// reason.
	fmt.Println(cmd.Mechanism() == spawn.Embryo || cmd.FallbackReason() != "")
	// Output: true
}

// The exit status comes back as os/exec's *exec.ExitError.
func ExampleExitError() {
	err := spawn.Command("bash", "-c", "exit 3").Run()
	var ee *spawn.ExitError // the same type as *exec.ExitError
	if errors.As(err, &ee) {
		fmt.Println("exit code", ee.ExitCode())
	}
	// Output: exit code 3
}

// A step that fails says which one; errors.Is matches the errno on both
// paths.
func ExampleStepError() {
	f := os.NewFile(9999, "not open") // cannot become the child's fd 3
	cmd := spawn.Command("true")
	cmd.ExtraFiles = []*os.File{f}
	err := cmd.Run()
	var step *spawn.StepError
	if errors.As(err, &step) && !strings.HasPrefix(step.Error(), "spawn: FD DUP ") {
		fmt.Println("unexpected step:", step)
	}
	fmt.Println(errors.Is(err, syscall.EBADF))
	// Output: true
}

// The pidfd is the handle: an event loop polls it, readable once the
// child has exited; Wait then reaps it.
func ExampleCmd_PidFD() {
	cmd := spawn.Command("sleep", "0.1")
	if err := cmd.Start(); err != nil {
		fmt.Println(err)
		return
	}
	fds := []unix.PollFd{{Fd: int32(cmd.PidFD()), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		fmt.Println(n, err, fds[0].Revents&unix.POLLIN != 0)
		break
	}
	fmt.Println(cmd.Wait(), cmd.PidFD())
	// Output:
	// 1 <nil> true
	// <nil> -1
}
