// Package security checks that an embryo's exec makes every check execve
// makes, with the embryo's credentials: each case runs through fork+execve
// and through an embryo, side by side in the same helper process, as root
// and as an unprivileged user, and both must end the same way (the same
// errno, or the same state in the child's report). Set-id programs elevate
// exactly as with execve, and not under no_new_privs; Landlock can deny the
// exec; seccomp filters and no_new_privs pass to the child (DESIGN.md
// section 3, "Exec security").
package security

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// fixture holds the programs the cases run, on tmpfs mounts of their own
// (set-id allowed on one, exec forbidden on the other), open to every user.
type fixture struct {
	exec, noexec string
}

func (f fixture) path(name string) string { return filepath.Join(f.exec, name) }

func mountTmpfs(t *testing.T, dir string, flags uintptr) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, "mode=0755"); err != nil {
		t.Fatalf("mounting a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	base := sharedTempDir(t, "emptypidfd-security-")
	f := fixture{exec: filepath.Join(base, "exec"), noexec: filepath.Join(base, "noexec")}
	// A fresh mount, so that set-id bits count whatever /tmp's options.
	mountTmpfs(t, f.exec, 0)
	mountTmpfs(t, f.noexec, unix.MS_NOEXEC)

	helper.CopyFile(t, childreport.Path, f.path("ok"), 0o755)
	helper.CopyFile(t, childreport.Path, f.path("noexec-bit"), 0o644)
	helper.CopyFile(t, childreport.Path, filepath.Join(f.noexec, "ok"), 0o755)
	helper.CopyFile(t, childreport.Path, f.path("busy"), 0o755)
	if err := os.Mkdir(f.path("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"script":         "#!" + childreport.Path + "\n",
		"script-missing": "#!/nonexistent/interpreter\n",
		"garbage":        "garbage\x00\x01\x02\x03 this is no executable format\n",
	} {
		if err := os.WriteFile(f.path(name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f.path(name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]uint32{"setuid": unix.S_ISUID | 0o755, "setgid": unix.S_ISGID | 0o755} {
		helper.CopyFile(t, childreport.Path, f.path(name), 0o755)
		if err := os.Chown(f.path(name), 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(f.path(name), mode); err != nil {
			t.Fatal(err)
		}
	}
	// Open for writing while the cases run: ETXTBSY for any exec.
	busy, err := os.OpenFile(f.path("busy"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	return f
}

type user struct {
	name     string
	uid, gid int
}

var (
	root   = user{"root", 0, 0}
	nobody = user{"nobody", helper.Nobody, helper.Nobody}
	both   = []user{root, nobody}
)

func ids(t *testing.T, rep *childreport.Report, name string) [4]int {
	t.Helper()
	v, err := rep.IDs(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func statusInt(t *testing.T, rep *childreport.Report, name string) int {
	t.Helper()
	v, err := rep.Int(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func all4(id int) [4]int { return [4]int{id, id, id, id} }

// compared are the report fields fork+exec and the embryo must agree on.
var compared = []string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
	"NoNewPrivs", "Seccomp", "Seccomp_filters", "SigBlk", "SigIgn", "SigCgt", "Umask"}

func sameReports(t *testing.T, fork, emb *childreport.Report) {
	t.Helper()
	if !reflect.DeepEqual(fork.Argv, emb.Argv) {
		t.Errorf("argv: fork+exec %q, embryo %q", fork.Argv, emb.Argv)
	}
	if !reflect.DeepEqual(fork.Env, emb.Env) {
		t.Errorf("env: fork+exec %q, embryo %q", fork.Env, emb.Env)
	}
	if !reflect.DeepEqual(fork.FDNums(), emb.FDNums()) {
		t.Errorf("fds: fork+exec %v, embryo %v", fork.FDNums(), emb.FDNums())
	}
	if fork.Cwd != emb.Cwd {
		t.Errorf("cwd: fork+exec %q, embryo %q", fork.Cwd, emb.Cwd)
	}
	if fork.ATSecure != emb.ATSecure {
		t.Errorf("AT_SECURE: fork+exec %d, embryo %d", fork.ATSecure, emb.ATSecure)
	}
	for _, k := range compared {
		if fork.Status[k] != emb.Status[k] {
			t.Errorf("%s: fork+exec %q, embryo %q", k, fork.Status[k], emb.Status[k])
		}
	}
}

func TestExecMatrix(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	argv := []string{"prog", "arg"}
	env := []string{"K=v"}

	type check func(t *testing.T, u user, rep *childreport.Report)
	plain := func(t *testing.T, u user, rep *childreport.Report) {
		if got := ids(t, rep, "Uid"); got != all4(u.uid) {
			t.Errorf("Uid %v, want %v", got, all4(u.uid))
		}
		if got := ids(t, rep, "Gid"); got != all4(u.gid) {
			t.Errorf("Gid %v, want %v", got, all4(u.gid))
		}
		if rep.ATSecure != 0 {
			t.Errorf("AT_SECURE %d, want 0", rep.ATSecure)
		}
		if u.uid != 0 {
			if c, _ := rep.Hex("CapEff"); c != 0 {
				t.Errorf("CapEff %#x for an unprivileged user, want 0", c)
			}
		}
	}
	for _, tc := range []struct {
		name    string
		prog    string
		argv    []string
		sandbox sandbox
		users   []user
		want    unix.Errno
		check   check
	}{
		{name: "a program", prog: fx.path("ok"), users: both, check: func(t *testing.T, u user, rep *childreport.Report) {
			plain(t, u, rep)
			if statusInt(t, rep, "NoNewPrivs") != 0 || statusInt(t, rep, "Seccomp") != 0 {
				t.Errorf("NoNewPrivs %s Seccomp %s, want 0 0", rep.Status["NoNewPrivs"], rep.Status["Seccomp"])
			}
		}},
		{name: "no execute bit", prog: fx.path("noexec-bit"), users: both, want: unix.EACCES},
		{name: "a directory", prog: fx.path("dir"), users: both, want: unix.EACCES},
		{name: "on a noexec mount", prog: filepath.Join(fx.noexec, "ok"), users: both, want: unix.EACCES},
		{name: "open for writing", prog: fx.path("busy"), users: both, want: unix.ETXTBSY},
		{name: "#! script", prog: fx.path("script"), users: both, check: func(t *testing.T, u user, rep *childreport.Report) {
			plain(t, u, rep)
			if want := []string{childreport.Path, fx.path("script"), "arg"}; !reflect.DeepEqual(rep.Argv, want) {
				t.Errorf("argv %q, want %q", rep.Argv, want)
			}
		}},
		{name: "#! script with a missing interpreter", prog: fx.path("script-missing"), users: both, want: unix.ENOENT},
		{name: "garbage", prog: fx.path("garbage"), users: both, want: unix.ENOEXEC},
		{name: "set-uid root", prog: fx.path("setuid"), users: both, check: func(t *testing.T, u user, rep *childreport.Report) {
			if got, want := ids(t, rep, "Uid"), [4]int{u.uid, 0, 0, 0}; got != want {
				t.Errorf("Uid %v, want %v (euid 0)", got, want)
			}
			if want := uint64(min(u.uid, 1)); rep.ATSecure != want {
				t.Errorf("AT_SECURE %d, want %d", rep.ATSecure, want)
			}
		}},
		{name: "set-gid root", prog: fx.path("setgid"), users: []user{nobody}, check: func(t *testing.T, u user, rep *childreport.Report) {
			if got, want := ids(t, rep, "Gid"), [4]int{u.gid, 0, 0, 0}; got != want {
				t.Errorf("Gid %v, want %v (egid 0)", got, want)
			}
			if rep.ATSecure != 1 {
				t.Errorf("AT_SECURE %d, want 1", rep.ATSecure)
			}
		}},
		{name: "set-uid root under no_new_privs", prog: fx.path("setuid"), sandbox: sandbox{NNP: true}, users: both,
			check: func(t *testing.T, u user, rep *childreport.Report) {
				plain(t, u, rep)
				if statusInt(t, rep, "NoNewPrivs") != 1 {
					t.Errorf("NoNewPrivs %s, want 1", rep.Status["NoNewPrivs"])
				}
			}},
		{name: "Landlock denies execute", prog: fx.path("ok"), sandbox: sandbox{Landlock: "/bin"}, users: both, want: unix.EACCES},
		{name: "Landlock allows execute", prog: childreport.Path, sandbox: sandbox{Landlock: "/bin"}, users: both, check: plain},
		{name: "Landlock denies a #! interpreter", prog: fx.path("script"), sandbox: sandbox{Landlock: fx.exec}, users: both, want: unix.EACCES},
		{name: "seccomp filter", prog: fx.path("ok"), sandbox: sandbox{Seccomp: true}, users: both,
			check: func(t *testing.T, u user, rep *childreport.Report) {
				plain(t, u, rep)
				if statusInt(t, rep, "Seccomp") != 2 || statusInt(t, rep, "Seccomp_filters") != 1 {
					t.Errorf("Seccomp %s Seccomp_filters %s, want 2 1", rep.Status["Seccomp"], rep.Status["Seccomp_filters"])
				}
				// Root needs no no_new_privs for a filter: the child
				// must not gain it either.
				if want := min(u.uid, 1); statusInt(t, rep, "NoNewPrivs") != want {
					t.Errorf("NoNewPrivs %s, want %d", rep.Status["NoNewPrivs"], want)
				}
			}},
		{name: "seccomp filter and no_new_privs", prog: fx.path("setuid"), sandbox: sandbox{Seccomp: true, NNP: true}, users: both,
			check: func(t *testing.T, u user, rep *childreport.Report) {
				plain(t, u, rep)
				if statusInt(t, rep, "Seccomp") != 2 || statusInt(t, rep, "NoNewPrivs") != 1 {
					t.Errorf("Seccomp %s NoNewPrivs %s, want 2 1", rep.Status["Seccomp"], rep.Status["NoNewPrivs"])
				}
			}},
	} {
		for _, u := range tc.users {
			t.Run(tc.name+"/"+u.name, func(t *testing.T) {
				a := pairArg{Prog: tc.prog, Argv: argv, Env: env, Sandbox: tc.sandbox}
				h := helper.New(t, "pair", a)
				if u.uid != 0 {
					h.AsUser(u.uid, u.gid)
				}
				var res pairResult
				h.Result(&res)
				want := embryo.ErrnoName(tc.want)
				for _, o := range []struct {
					way string
					o   outcome
				}{{"fork+execve", res.Fork}, {"embryo", res.Embryo}} {
					if o.o.Errno != want {
						t.Errorf("%s: %s, want %s", o.way, o.o.Errno, want)
						continue
					}
					if tc.want != 0 {
						continue
					}
					if o.o.Report == nil || o.o.Status != 0 {
						t.Errorf("%s: child %s without a report: %s", o.way, o.o.Exit, o.o.Err)
						continue
					}
					if tc.check != nil {
						t.Run(o.way, func(t *testing.T) { tc.check(t, u, o.o.Report) })
					}
				}
				if res.Fork.Errno != res.Embryo.Errno {
					t.Errorf("fork+execve: %s, embryo: %s: not the same outcome", res.Fork.Errno, res.Embryo.Errno)
				} else if res.Fork.Report != nil && res.Embryo.Report != nil {
					sameReports(t, res.Fork.Report, res.Embryo.Report)
				}
			})
		}
	}
}

// TestExecHoldsNoWriteDenial: configuring EXEC neither opens nor
// write-denies the program (tools must stay updatable); the checks,
// ETXTBSY included, happen at run, on what the path names then.
func TestExecHoldsNoWriteDenial(t *testing.T) {
	embryo.Require(t)
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	helper.CopyFile(t, childreport.Path, prog, 0o755)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, []string{"exit", "0"}, nil)
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, prog, 0); err != nil {
		t.Fatalf("EXEC: %s", embryo.Name(err))
	}
	w, err := os.OpenFile(prog, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("opening the configured program for writing: %v (EXEC must not deny writes)", err)
	}
	_, err = pidfd.SpawnRun(fd, 0)
	embryo.Check(t, "pidfd_spawn_run while the program is open for writing", err, unix.ETXTBSY)
	w.Close()

	// The path is resolved at run: replace the program by another.
	helper.CopyFile(t, childreport.TruePath, prog+".new", 0o755)
	if err := os.Rename(prog+".new", prog); err != nil {
		t.Fatal(err)
	}
	embryo.Run(t, fd)
	b, err := embryo.ReadAll(out, embryo.Timeout)
	if ex := embryo.Wait(t, fd); !ex.Exited(0) {
		t.Errorf("child: %v, want exit 0", ex)
	}
	if err != nil || len(b) != 0 {
		t.Errorf("the child wrote %q (%v): childreport ran, not the program the path named at run (true-static)", b, err)
	}
}
