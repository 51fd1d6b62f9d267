package spawn_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

const nobody = 65534

// otherUsersExecutable copies the test binary where any user can run it
// (the directory the harness runs it from, and in the VM "/" itself, need
// not be open to others) and returns its path.
func otherUsersExecutable(t *testing.T) string {
	t.Helper()
	for _, d := range []string{"/", os.TempDir()} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode() & (os.ModePerm | os.ModeSticky); mode&0o001 == 0 {
			if err := os.Chmod(d, mode|0o011); err != nil {
				t.Fatalf("letting other users search %s: %v", d, err)
			}
		}
	}
	// Not t.TempDir(): its parent directory is closed to others.
	dir, err := os.MkdirTemp("", "spawn-credential-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(testenv.Executable(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, "spawn.test")
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Credential goes through the embryo where the kernel has the credential
// commands, and the child runs with what a forked child gets from
// setgroups, setgid and setuid.
func TestCredential(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("we need root for credential")
	}
	mech, why := wantMechanismFor(t, pidfd.PIDFD_CONFIG_UIDS)
	exe := otherUsersExecutable(t)
	own, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cred syscall.Credential
		want string
	}{
		{"drop to nobody with groups", syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{2, 1}}, "uid=65534 gid=65534 groups=[1 2]"},
		{"drop to nobody without groups", syscall.Credential{Uid: nobody, Gid: 1000}, "uid=65534 gid=1000 groups=[]"},
		{"NoSetGroups keeps the caller's", syscall.Credential{Uid: 1000, Gid: 1000, NoSetGroups: true}, fmt.Sprintf("uid=1000 gid=1000 groups=%v", own)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := tc.cred
			cmd := spawn.Command(exe, "id")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &cred}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if cmd.Mechanism() != mech {
				t.Errorf("started by %v (%s), want %v: %s", cmd.Mechanism(), cmd.FallbackReason(), mech, why)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("child: %q, want %q", got, tc.want)
			}
		})
	}
	// The caller's own ids are untouched.
	if os.Getuid() != 0 || os.Geteuid() != 0 {
		t.Errorf("the caller is uid %d euid %d after the spawns", os.Getuid(), os.Geteuid())
	}
}

// A credential the caller does not hold is the embryo's EPERM as a
// *StepError naming the command, or fork's error on the fallback path.
func TestCredentialRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("we need root for credential")
	}
	exe := otherUsersExecutable(t)
	// The creator is nobody: a child of ours, started as nobody.
	helperCommandUsed.LoadOrStore("credrefused", true)
	cmd := spawn.Command(exe, "credrefused")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "EPERM" {
		t.Errorf("a Credential of root as nobody: %q, want EPERM", got)
	}
}

func init() {
	registerHelperCommand("credrefused", cmdCredRefused)
}

// cmdCredRefused, run as nobody, asks for root and prints the errno.
func cmdCredRefused(...string) {
	exe, err := os.Executable()
	if err != nil {
		println(err.Error())
		os.Exit(1)
	}
	cmd := spawn.Command(exe, "id")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0}}
	err = cmd.Run()
	switch {
	case err == nil:
		println("started as root")
	case errors.Is(err, syscall.EPERM):
		println("EPERM")
	default:
		println(err.Error())
	}
}
