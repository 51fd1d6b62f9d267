package spawn

import (
	"syscall"
	"testing"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

// Which SysProcAttr fields fall back depends on the commands the kernel
// has: Credential needs GROUPS, GIDS and UIDS.
func TestUnsupportedAttr(t *testing.T) {
	all := func(int) bool { return true }
	noCreds := func(cmd int) bool { return cmd < pidfd.PIDFD_CONFIG_UIDS }
	noGroups := func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_GROUPS }
	pfd := -1
	for _, tc := range []struct {
		name string
		attr *syscall.SysProcAttr
		has  func(int) bool
		want string
	}{
		{"none", nil, noCreds, ""},
		{"zero", &syscall.SysProcAttr{}, noCreds, ""},
		{"PidFD", &syscall.SysProcAttr{PidFD: &pfd}, noCreds, ""},
		{"Credential", &syscall.SysProcAttr{Credential: &syscall.Credential{}}, all, ""},
		{"Credential without the commands", &syscall.SysProcAttr{Credential: &syscall.Credential{}}, noCreds, "Credential"},
		{"Credential without GROUPS", &syscall.SysProcAttr{Credential: &syscall.Credential{NoSetGroups: true}}, noGroups, "Credential"},
		{"Setsid", &syscall.SysProcAttr{Setsid: true}, all, ""},
		{"Setsid without SETSID", &syscall.SysProcAttr{Setsid: true}, noCreds, "Setsid"},
		{"Setsid and Setctty", &syscall.SysProcAttr{Setsid: true, Setctty: true}, all, ""},
		{"Setctty without CTTY", &syscall.SysProcAttr{Setsid: true, Setctty: true}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_CTTY }, "Setctty"},
		{"Noctty", &syscall.SysProcAttr{Noctty: true}, all, ""},
		{"Noctty without NOCTTY", &syscall.SysProcAttr{Noctty: true}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_NOCTTY }, "Noctty"},
		{"Foreground", &syscall.SysProcAttr{Foreground: true, Ctty: 3}, all, ""},
		{"Foreground without FOREGROUND", &syscall.SysProcAttr{Foreground: true}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_FOREGROUND }, "Foreground"},
		{"Foreground without PGID", &syscall.SysProcAttr{Foreground: true}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_PGID }, "Foreground"},
		{"Ctty alone", &syscall.SysProcAttr{Ctty: 3}, noCreds, ""},
		{"Credential and Chroot", &syscall.SysProcAttr{Credential: &syscall.Credential{}, Chroot: "/x"}, all, ""},
		{"Chroot without ROOT", &syscall.SysProcAttr{Chroot: "/x"}, noCreds, "Chroot"},
		{"Credential and Setpgid", &syscall.SysProcAttr{Credential: &syscall.Credential{}, Setpgid: true, Pgid: 7}, all, ""},
		{"Setpgid without PGID", &syscall.SysProcAttr{Setpgid: true}, noCreds, "Setpgid"},
		{"Pgid alone", &syscall.SysProcAttr{Pgid: 7}, noCreds, ""},
		{"Setpgid and Pdeathsig", &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}, all, ""},
		{"Pdeathsig without PDEATHSIG", &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_PDEATHSIG }, "Pdeathsig"},
		{"Pdeathsig and Cloneflags", &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Cloneflags: syscall.CLONE_NEWUSER}, all, "Cloneflags"},
		{"UseCgroupFD", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: 5}, all, ""},
		{"UseCgroupFD without CGROUP", &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: 5}, func(cmd int) bool { return cmd != pidfd.PIDFD_CONFIG_CGROUP }, "UseCgroupFD"},
		{"CgroupFD alone", &syscall.SysProcAttr{CgroupFD: 5}, noCreds, ""},
	} {
		if got := unsupportedAttrWith(tc.attr, tc.has); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
