// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/syscall/exec_pdeathsig_test.go
// (BSD license, Copyright The Go Authors; see PORTED.md): Pdeathsig with a
// Credential, run against spawn.Cmd. Changes are marked "spawn:".

//go:build linux

package spawn_test

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

// spawn: helper commands of the test binary in place of the
// GO_DEATHSIG_PARENT and GO_DEATHSIG_CHILD variables of upstream's
// TestMain.
func init() {
	registerHelperCommand("deathsig-parent", deathSignalParent)
	registerHelperCommand("deathsig-child", deathSignalChild)
}

// TestDeathSignalSetuid verifies that a command run with a different UID still
// receives PDeathsig; it is a regression test for https://go.dev/issue/9686.
func TestDeathSignalSetuid(t *testing.T) {
	// spawn: no testing.Short skip; the copy of the test binary that
	// other users can run comes from otherUsersExecutable.
	tmpBinary := otherUsersExecutable(t)

	helperCommandUsed.LoadOrStore("deathsig-parent", true)
	helperCommandUsed.LoadOrStore("deathsig-child", true) // by the parent
	cmd := spawn.Command(tmpBinary, "deathsig-parent")    // spawn: was testenv.Command
	chldStdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatalf("failed to create new stdin pipe: %v", err)
	}
	chldStdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("failed to create new stdout pipe: %v", err)
	}
	stderr := new(strings.Builder)
	cmd.Stderr = stderr

	err = cmd.Start()
	defer func() {
		chldStdin.Close()
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("stderr:\n%s", stderr)
		}
		// spawn: the parent started the child by the mechanism this
		// kernel allows for Pdeathsig with a Credential.
		mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_PDEATHSIG)
		if mech == spawn.Embryo && !pidfd.HasCommand(pidfd.PIDFD_CONFIG_UIDS) {
			mech = spawn.ForkExec
		}
		if want := fmt.Sprintf("mechanism %v\n", mech); !strings.Contains(stderr.String(), want) {
			t.Errorf("the parent did not say %q: %s", want, why)
		}
	}()
	if err != nil {
		t.Fatalf("failed to start first child process: %v", err)
	}

	chldPipe := bufio.NewReader(chldStdout)

	if got, err := chldPipe.ReadString('\n'); got == "start\n" {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)

		want := "ok\n"
		if got, err = chldPipe.ReadString('\n'); got != want {
			t.Fatalf("expected %q, received %q, %v", want, got, err)
		}
	} else {
		// spawn: no "skip" answer: the parent runs as root (nobody
		// is a number here) or as itself, which Start allows.
		t.Fatalf("did not receive start from child, received %q, %v", got, err)
	}
}

func deathSignalParent(...string) {
	// spawn: nobody by number, as root (the VM has no /etc/passwd);
	// otherwise the current user, as upstream's fallback.
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = nobody, nobody
	}

	cmd := spawn.Command(os.Args[0], "deathsig-child") // spawn: was exec.Command with GO_DEATHSIG_CHILD=1
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	attrs := syscall.SysProcAttr{
		Pdeathsig:  syscall.SIGUSR1,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}
	cmd.SysProcAttr = &attrs

	fmt.Fprintf(os.Stderr, "starting process as uid %d\n", uid)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// spawn: say how the child was started, for the test to check.
	fmt.Fprintf(os.Stderr, "mechanism %v\n", cmd.Mechanism())
	cmd.Wait()
	os.Exit(0)
}

func deathSignalChild(...string) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		fmt.Println("ok")
		os.Exit(0)
	}()
	fmt.Println("start")

	buf := make([]byte, 32)
	os.Stdin.Read(buf)

	// We expected to be signaled before stdin closed
	fmt.Println("not ok")
	os.Exit(1)
}
