// Copyright 2015 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/syscall/exec_linux_test.go
// (BSD license, Copyright The Go Authors; see PORTED.md): the tests of
// the SysProcAttr fields spawn honours through an embryo (Credential,
// UseCgroupFD), run against spawn.Cmd. Changes are marked "spawn:".

//go:build linux

package spawn_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func init() {
	registerHelperCommand("id", cmdID)            // spawn: for TestGroupCleanup
	registerHelperCommand("cgroup", cmdOwnCgroup) // spawn: for TestUseCgroupFD
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

// cgroup2Mount is where the cgroup v2 hierarchy is mounted.
// spawn: upstream assumes /sys/fs/cgroup; the test VM's init mounts v1
// hierarchies there, and cgroup2 elsewhere if at all: mount one (until t
// ends) if none is.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	dir := t.TempDir()
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		t.Skipf("no cgroup2 mounted, and mounting one failed: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// ownCgroupV2 is our cgroup v2 path, from the "0::" line of
// /proc/self/cgroup.
// spawn: upstream skips unless that is the only line; the test VM has v1
// hierarchies beside v2.
func ownCgroupV2(selfCg []byte) ([]byte, bool) {
	for _, line := range bytes.Split(selfCg, []byte("\n")) {
		if cg, ok := bytes.CutPrefix(line, []byte("0::")); ok {
			return cg, true
		}
	}
	return nil, false
}

// cmdOwnCgroup prints its cgroup v2 path line ("0::/...").
// spawn: upstream's TestUseCgroupFD child prints all of /proc/self/cgroup.
func cmdOwnCgroup(...string) {
	selfCg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cg, ok := ownCgroupV2(selfCg)
	if !ok {
		fmt.Fprintf(os.Stderr, "no v2 line in %q\n", selfCg)
		os.Exit(2)
	}
	fmt.Printf("0::%s\n", cg)
}

func prepareCgroupFD(t *testing.T) (int, string) {
	t.Helper()

	const O_PATH = 0x200000 // Same for all architectures, but for some reason not defined in syscall for 386||amd64.

	// Requires cgroup v2.
	prefix := cgroup2Mount(t) // spawn: was the constant "/sys/fs/cgroup"
	selfCg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		if os.IsNotExist(err) || os.IsPermission(err) {
			t.Skip(err)
		}
		t.Fatal(err)
	}

	cg, ok := ownCgroupV2(selfCg) // spawn: the v2 line among v1 ones
	if !ok {
		t.Skipf("cgroup v2 not available (/proc/self/cgroup contents: %q)", selfCg)
	}

	// Need an ability to create a sub-cgroup.
	subCgroup, err := os.MkdirTemp(prefix+string(bytes.TrimSpace(cg)), "subcg-")
	if err != nil {
		// ErrPermission or EROFS (#57262) when running in an unprivileged container.
		// ErrNotExist when cgroupfs is not mounted in chroot/schroot.
		if os.IsNotExist(err) || testenv.SyscallIsNotSupported(err) {
			t.Skipf("skipping: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Rmdir(subCgroup) })

	cgroupFD, err := syscall.Open(subCgroup, O_PATH, 0)
	if err != nil {
		t.Fatal(&os.PathError{Op: "open", Path: subCgroup, Err: err})
	}
	t.Cleanup(func() { syscall.Close(cgroupFD) })

	return cgroupFD, "/" + path.Base(subCgroup)
}

func TestUseCgroupFD(t *testing.T) {
	fd, suffix := prepareCgroupFD(t)

	// spawn: the helper command in place of the GO_WANT_HELPER_PROCESS
	// branch; helperCommand checks the mechanism (CGROUP in the VM).
	cmd := helperCommand(t, "cgroup")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		UseCgroupFD: true,
		CgroupFD:    fd,
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		// spawn: never in the test VM, whose kernel and privileges
		// have all it needs: a refusal there is a failure.
		if testenv.SyscallIsNotSupported(err) && !errors.Is(err, syscall.EINVAL) && os.Getenv("VMTEST_IN_GUEST") != "1" {
			// Can be one of:
			// - clone3 not supported (old kernel);
			// - clone3 not allowed (by e.g. seccomp);
			// - lack of CAP_SYS_ADMIN.
			t.Skipf("clone3 with CLONE_INTO_CGROUP not available: %v", err)
		}
		t.Fatalf("Cmd failed with err %v, output: %s", err, out)
	}
	// NB: this wouldn't work with cgroupns.
	if !bytes.HasSuffix(bytes.TrimSpace(out), []byte(suffix)) {
		t.Fatalf("got: %q, want: a line that ends with %q", out, suffix)
	}
}
