package security

// binfmt_misc works for an embryo's exec as for execve (DESIGN.md section
// 3, exec security). File capabilities are not tested: they need a
// filesystem with security.* xattrs, which the test kernel's tmpfs lacks
// (CONFIG_TMPFS_XATTR is not set).

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// binfmtRegister registers a binfmt_misc entry ("name:type:..." as the
// register file takes it, without the leading ':') until t ends, mounting
// binfmt_misc first if it is not.
func binfmtRegister(t *testing.T, name, rule string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(binfmtDir, "register")); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mount("binfmt_misc", binfmtDir, "binfmt_misc", 0, ""); err != nil {
			t.Fatalf("mounting binfmt_misc on %s: %s (the test kernel has CONFIG_BINFMT_MISC)", binfmtDir, embryo.Name(err))
		}
		t.Cleanup(func() { unix.Unmount(binfmtDir, unix.MNT_DETACH) })
	}
	if err := os.WriteFile(filepath.Join(binfmtDir, "register"), []byte(":"+name+":"+rule), 0); err != nil {
		t.Fatalf("registering binfmt_misc entry %q: %v", rule, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(binfmtDir, name), []byte("-1"), 0); err != nil {
			t.Errorf("removing binfmt_misc entry %s: %v", name, err)
		}
	})
}

// TestBinfmtMisc (DESIGN.md section 3, exec security: #! scripts and
// binfmt_misc work as under execve). A binfmt_misc entry hands files named
// *.epfd to childreport; another hands *.epfdx to an interpreter that does
// not exist. For root and nobody, fork+execve and the embryo must agree: a
// *.epfd file runs childreport with the argv binfmt_misc builds
// (interpreter, file name, then the caller's argv after argv[0]) and the
// same credentials; a *.epfdx file fails with ENOENT, and the embryo's run
// returns it. A kernel whose embryo exec skips binfmt_misc gets ENOEXEC
// for the first.
func TestBinfmtMisc(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	binfmtRegister(t, "emptypidfd", "E::epfd::"+childreport.Path+":")
	binfmtRegister(t, "emptypidfd-missing", "E::epfdx::/nonexistent/emptypidfd-interpreter:")
	for _, name := range []string{"prog.epfd", "prog.epfdx"} {
		if err := os.WriteFile(fx.path(name), []byte("not a program: binfmt_misc picks the interpreter by the name\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(fx.path(name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	argv := []string{"prog", "arg"}
	for _, tc := range []struct {
		name string
		prog string
		want unix.Errno
	}{
		{"registered interpreter", fx.path("prog.epfd"), 0},
		{"missing interpreter", fx.path("prog.epfdx"), unix.ENOENT},
	} {
		for _, u := range both {
			t.Run(tc.name+"/"+u.name, func(t *testing.T) {
				h := helper.New(t, "pair", pairArg{Prog: tc.prog, Argv: argv, Env: []string{"K=v"}})
				if u.uid != 0 {
					h.AsUser(u.uid, u.gid)
				}
				var res pairResult
				h.Result(&res)
				want := embryo.ErrnoName(tc.want)
				if res.Fork.Errno != want {
					t.Fatalf("fork+execve of %s: %s, want %s: the fixture is void", tc.prog, res.Fork.Errno, want)
				}
				if res.Embryo.Errno != want {
					t.Fatalf("embryo run of %s: %s, want %s (as fork+execve)", tc.prog, res.Embryo.Errno, want)
				}
				if tc.want != 0 {
					return
				}
				wantArgv := []string{childreport.Path, tc.prog, "arg"}
				for _, o := range []struct {
					way string
					o   outcome
				}{{"fork+execve", res.Fork}, {"embryo", res.Embryo}} {
					if o.o.Report == nil || o.o.Status != 0 {
						t.Errorf("%s: child %s without a report: %s", o.way, o.o.Exit, o.o.Err)
						continue
					}
					if !reflect.DeepEqual(o.o.Report.Argv, wantArgv) {
						t.Errorf("%s: argv %q, want %q (binfmt_misc's)", o.way, o.o.Report.Argv, wantArgv)
					}
					if got := ids(t, o.o.Report, "Uid"); got != all4(u.uid) {
						t.Errorf("%s: Uid %v, want %v", o.way, got, all4(u.uid))
					}
				}
				if res.Fork.Report != nil && res.Embryo.Report != nil {
					sameReports(t, res.Fork.Report, res.Embryo.Report)
				}
			})
		}
	}
}
