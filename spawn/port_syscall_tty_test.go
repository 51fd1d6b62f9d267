// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/syscall/exec_unix_test.go
// (BSD license, Copyright The Go Authors; see PORTED.md): the tests of
// Foreground and of the SysProcAttr that StartProcess refuses, run against
// spawn.Cmd (through an embryo in the VM). Changes are marked "spawn:".

//go:build linux

package spawn_test

import (
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spawn: syscall.Tcgetpgrp and Tcsetpgrp are exported for syscall's own
// tests only.
func tcgetpgrp(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.TIOCGPGRP) }

func tcsetpgrp(fd, pgrp int) error { return unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, pgrp) }

func TestForeground(t *testing.T) {
	// spawn: upstream skips without /dev/tty; see inPTYSession.
	if inPTYSession(t) {
		return
	}
	signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Reset()

	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("Can't test Foreground. Couldn't open /dev/tty: %s", err)
	}
	defer tty.Close()

	ttyFD := int(tty.Fd())

	fpgrp, err := tcgetpgrp(ttyFD) // spawn: syscall's is internal
	if err != nil {
		t.Fatalf("Tcgetpgrp failed: %v", err)
	}
	if fpgrp == 0 {
		t.Fatalf("Foreground process group is zero")
	}

	ppid, ppgrp := parent()

	cmd := create(t)

	cmd.proc.SysProcAttr = &syscall.SysProcAttr{
		Ctty:       ttyFD,
		Foreground: true,
	}
	cmd.Start()

	cpid, cpgrp := cmd.Info()

	if cpid == ppid {
		t.Fatalf("Parent and child have the same process ID")
	}

	if cpgrp == ppgrp {
		t.Fatalf("Parent and child are in the same process group")
	}

	if cpid != cpgrp {
		t.Fatalf("Child's process group is not the child's process ID")
	}

	// spawn: and the child's group is the terminal's foreground group.
	if fg, err := tcgetpgrp(ttyFD); err != nil || fg != cpgrp {
		t.Fatalf("the terminal's foreground group is %d (%v), want the child's %d", fg, err, cpgrp)
	}

	cmd.Stop()

	// This call fails on darwin/arm64. The failure doesn't matter, though.
	// This is just best effort.
	tcsetpgrp(ttyFD, fpgrp) // spawn: syscall's is internal
}

func TestForegroundSignal(t *testing.T) {
	// spawn: upstream skips without /dev/tty; see inPTYSession.
	if inPTYSession(t) {
		return
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("couldn't open /dev/tty: %s", err)
	}
	defer tty.Close()

	ttyFD := int(tty.Fd())

	fpgrp, err := tcgetpgrp(ttyFD) // spawn: syscall's is internal
	if err != nil {
		t.Fatalf("Tcgetpgrp failed: %v", err)
	}
	if fpgrp == 0 {
		t.Fatalf("Foreground process group is zero")
	}

	defer func() {
		signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
		tcsetpgrp(ttyFD, fpgrp) // spawn: syscall's is internal
		signal.Reset()
	}()

	ch1 := make(chan os.Signal, 1)
	ch2 := make(chan bool)

	signal.Notify(ch1, syscall.SIGTTIN, syscall.SIGTTOU)
	defer signal.Stop(ch1)

	cmd := create(t)

	go func() {
		cmd.proc.SysProcAttr = &syscall.SysProcAttr{
			Ctty:       ttyFD,
			Foreground: true,
		}
		cmd.Start()
		cmd.Stop()
		close(ch2)
	}()

	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	for {
		select {
		case sig := <-ch1:
			t.Errorf("unexpected signal %v", sig)
		case <-ch2:
			// Success.
			return
		case <-timer.C:
			t.Fatal("timed out waiting for child process")
		}
	}
}

// Test a couple of cases that SysProcAttr can't handle. Issue 29458.
func TestInvalidExec(t *testing.T) {
	t.Parallel()
	t.Run("SetCtty-Foreground", func(t *testing.T) {
		t.Parallel()
		cmd := create(t)
		cmd.proc.SysProcAttr = &syscall.SysProcAttr{
			Setctty:    true,
			Foreground: true,
			Ctty:       0,
		}
		if err := cmd.proc.Start(); err == nil {
			t.Error("expected error setting both SetCtty and Foreground")
		}
	})
	t.Run("invalid-Ctty", func(t *testing.T) {
		t.Parallel()
		cmd := create(t)
		cmd.proc.SysProcAttr = &syscall.SysProcAttr{
			Setctty: true,
			Ctty:    3,
		}
		if err := cmd.proc.Start(); err == nil {
			t.Error("expected error with invalid Ctty value")
		}
	})
}
