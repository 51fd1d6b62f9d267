// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/syscall/exec_linux_test.go
// (BSD license, Copyright The Go Authors; see PORTED.md): the tests of
// the SysProcAttr fields spawn honours through an embryo, run against
// spawn.Cmd. Changes are marked "spawn:".

//go:build linux

package spawn_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
)

func init() {
	registerHelperCommand("id", cmdID) // spawn: for TestGroupCleanup
}

// cmdID prints its ids as id(1) starts its output ("uid=0(root)
// gid=0(root)"), without names (the VM has no /etc/passwd), then its
// supplementary groups.
// spawn: the test binary in place of id(1), which the VM does not have.
func cmdID(...string) {
	groups, err := syscall.Getgroups()
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Printf("uid=%d gid=%d groups=%v\n", os.Getuid(), os.Getgid(), groups)
}

func TestGroupCleanup(t *testing.T) {
	// spawn: the root check of upstream's test (which skips otherwise).
	if os.Getuid() != 0 {
		t.Skip("we need root for credential")
	}
	cmd := helperCommand(t, "id") // spawn: was testenv.Command(t, "id")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{
			Uid: 0,
			Gid: 0,
		},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("Cmd failed with err %v, output: %s", err, out)
	}
	strOut := strings.TrimSpace(string(out))
	t.Logf("id: %s", strOut)

	expected := "uid=0 gid=0" // spawn: no names (cmdID)
	// Just check prefix because some distros reportedly output a
	// context parameter; see https://golang.org/issue/16224.
	// Alpine does not output groups; see https://golang.org/issue/19938.
	if !strings.HasPrefix(strOut, expected) {
		t.Errorf("expected prefix: %q", expected)
	}
	// spawn: the groups are cleaned up: Credential without Groups is
	// setgroups(0, NULL), as upstream's test name says.
	if !strings.HasSuffix(strOut, "groups=[]") {
		t.Errorf("groups left: %q, want none", strOut)
	}
}
