package security

// The process attributes pidfd_config sets on an embryo: resource limits
// (PIDFD_CONFIG_RLIMIT), the umask (PIDFD_CONFIG_UMASK), no_new_privs
// (PIDFD_CONFIG_NO_NEW_PRIVS) and credentials (PIDFD_CONFIG_GROUPS, _GIDS,
// _UIDS), as the started child sees them, with the permission checks of
// setrlimit(), setgroups(), setresgid() and setresuid() judged by the
// embryo's credentials, and with set-user-ID programs.

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
	"github.com/emptypidfd/emptypidfd/selftests/internal/helper"
)

// attrStep is one configuration call; exactly one field is set.
type attrStep struct {
	Rlimit *rlimitStep `json:",omitempty"`
	Umask  *uint32     `json:",omitempty"`
	NNP    bool        `json:",omitempty"`
	UIDs   *[3]uint32  `json:",omitempty"`
	GIDs   *[3]uint32  `json:",omitempty"`
	Groups []uint32    `json:",omitempty"`
	// SetGroups marks a Groups step (Groups may be empty).
	SetGroups bool   `json:",omitempty"`
	Root      string `json:",omitempty"`
}

type rlimitStep struct {
	Resource int
	Cur, Max uint64
}

func (s attrStep) String() string {
	switch {
	case s.Rlimit != nil:
		return fmt.Sprintf("RLIMIT(%d, %d, %d)", s.Rlimit.Resource, s.Rlimit.Cur, s.Rlimit.Max)
	case s.Umask != nil:
		return fmt.Sprintf("UMASK(%#o)", *s.Umask)
	case s.UIDs != nil:
		return fmt.Sprintf("UIDS%v", *s.UIDs)
	case s.GIDs != nil:
		return fmt.Sprintf("GIDS%v", *s.GIDs)
	case s.SetGroups:
		return fmt.Sprintf("GROUPS%v", s.Groups)
	case s.Root != "":
		return fmt.Sprintf("ROOT(%s)", s.Root)
	default:
		return "NO_NEW_PRIVS"
	}
}

func (s attrStep) apply(fd int) error {
	switch {
	case s.Rlimit != nil:
		return pidfd.ConfigRlimit(fd, s.Rlimit.Resource, unix.Rlimit{Cur: s.Rlimit.Cur, Max: s.Rlimit.Max})
	case s.Umask != nil:
		return pidfd.ConfigUmask(fd, *s.Umask)
	case s.UIDs != nil:
		return pidfd.ConfigUIDs(fd, s.UIDs[0], s.UIDs[1], s.UIDs[2])
	case s.GIDs != nil:
		return pidfd.ConfigGIDs(fd, s.GIDs[0], s.GIDs[1], s.GIDs[2])
	case s.SetGroups:
		return pidfd.ConfigGroups(fd, s.Groups)
	case s.Root != "":
		return pidfd.ConfigRoot(fd, unix.AT_FDCWD, s.Root, 0)
	default:
		return pidfd.ConfigNoNewPrivs(fd)
	}
}

func rlimitOf(resource int, cur, max uint64) attrStep {
	return attrStep{Rlimit: &rlimitStep{resource, cur, max}}
}

func umaskOf(m uint32) attrStep { return attrStep{Umask: &m} }

var nnp = attrStep{NNP: true}

func uidsOf(r, e, s uint32) attrStep { return attrStep{UIDs: &[3]uint32{r, e, s}} }
func gidsOf(r, e, s uint32) attrStep { return attrStep{GIDs: &[3]uint32{r, e, s}} }
func groupsOf(g ...uint32) attrStep  { return attrStep{Groups: g, SetGroups: true} }

const keep = pidfd.KeepID

type attrsArg struct {
	Prog  string
	Steps []attrStep
}

type attrsResult struct {
	Steps  []string // errno name of each step, "success"
	Embryo outcome  // Errno "not run" if a step failed
	// The helper's own attributes after the spawn.
	Umask  uint32
	NNP    int
	Core   unix.Rlimit
	UIDs   [3]int
	Groups int // how many supplementary groups
}

// helperAttrs configures an embryo with the steps, runs it if every step
// succeeded, and reports the child's report and its own state after.
func helperAttrs(raw json.RawMessage) (any, error) {
	var arg attrsArg
	if err := helper.DecodeArg(raw, &arg); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	var res attrsResult
	r, w, err := embryo.NewPipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %s", embryo.Name(err))
	}
	defer unix.Close(fd)
	if err := configProgram(fd, arg.Prog, []string{"childreport"}); err != nil {
		w.Close()
		return nil, err
	}
	if err := pidfd.ConfigFDDup(fd, int(w.Fd()), 1, 0); err != nil {
		w.Close()
		return nil, fmt.Errorf("PIDFD_FD_DUP: %s", embryo.Name(err))
	}
	w.Close()
	ok := true
	for _, s := range arg.Steps {
		err := s.apply(fd)
		res.Steps = append(res.Steps, embryo.Name(err))
		ok = ok && err == nil
	}
	res.Embryo.Errno = "not run"
	if ok {
		if _, err := pidfd.SpawnRun(fd, 0); err != nil {
			res.Embryo.Errno = embryo.Name(err)
		} else {
			res.Embryo = finish(r, fd)
		}
	}
	res.Umask = uint32(unix.Umask(0))
	unix.Umask(int(res.Umask))
	var err2 error
	if res.NNP, err2 = unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err2 != nil {
		return nil, err2
	}
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &res.Core); err != nil {
		return nil, err
	}
	res.UIDs[0], res.UIDs[1], res.UIDs[2] = unix.Getresuid()
	groups, err := unix.Getgroups()
	if err != nil {
		return nil, err
	}
	res.Groups = len(groups)
	return res, nil
}

func TestAttrs(t *testing.T) {
	embryo.Require(t)
	fx := newFixture(t)
	type check func(t *testing.T, u user, rep *childreport.Report)
	rlimitIs := func(t *testing.T, rep *childreport.Report, r int, cur, max uint64) {
		t.Helper()
		if got, want := rep.Rlimits[r], (unix.Rlimit{Cur: cur, Max: max}); got != want {
			t.Errorf("rlimit %d: child has %+v, want %+v", r, got, want)
		}
	}
	umaskIs := func(t *testing.T, rep *childreport.Report, want int) {
		t.Helper()
		if m, err := rep.Octal("Umask"); err != nil || m != want {
			t.Errorf("Umask %s (%v), want %#o", rep.Status["Umask"], err, want)
		}
	}
	const mib = 1 << 20
	for _, tc := range []struct {
		name  string
		prog  string
		steps []attrStep
		users []user
		want  []string // each step's errno name; nil: all succeed
		check check
	}{
		{
			name:  "limits, umask and no_new_privs reach the child",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 64, 128), rlimitOf(unix.RLIMIT_CORE, 0, 0), rlimitOf(unix.RLIMIT_FSIZE, mib, 2*mib), umaskOf(0o077), nnp},
			users: both,
			check: func(t *testing.T, u user, rep *childreport.Report) {
				rlimitIs(t, rep, unix.RLIMIT_NOFILE, 64, 128)
				rlimitIs(t, rep, unix.RLIMIT_CORE, 0, 0)
				rlimitIs(t, rep, unix.RLIMIT_FSIZE, mib, 2*mib)
				umaskIs(t, rep, 0o077)
				if statusInt(t, rep, "NoNewPrivs") != 1 {
					t.Errorf("NoNewPrivs %s, want 1", rep.Status["NoNewPrivs"])
				}
			},
		},
		{
			name:  "a hard limit raised again needs CAP_SYS_RESOURCE",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 50, 100), rlimitOf(unix.RLIMIT_NOFILE, 50, 200)},
			users: []user{root},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				rlimitIs(t, rep, unix.RLIMIT_NOFILE, 50, 200)
			},
		},
		{
			name:  "a hard limit raised again needs CAP_SYS_RESOURCE",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 50, 100), rlimitOf(unix.RLIMIT_NOFILE, 50, 200)},
			users: []user{nobody},
			want:  []string{"success", "EPERM"},
		},
		{
			name:  "a soft limit raised to the hard one",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 50, 100), rlimitOf(unix.RLIMIT_NOFILE, 100, 100)},
			users: both,
			check: func(t *testing.T, u user, rep *childreport.Report) {
				rlimitIs(t, rep, unix.RLIMIT_NOFILE, 100, 100)
			},
		},
		{
			name:  "bad arguments",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(16, 0, 0), rlimitOf(1<<31, 0, 0), rlimitOf(unix.RLIMIT_CORE, 2, 1), umaskOf(0o1000), umaskOf(0o4022)},
			users: both,
			want:  []string{"EINVAL", "EINVAL", "EINVAL", "EINVAL", "EINVAL"},
		},
		{
			// The control: the set-uid program elevates without it.
			name:  "set-uid root",
			prog:  fx.path("setuid"),
			steps: []attrStep{umaskOf(0o027)},
			users: []user{nobody},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got, want := ids(t, rep, "Uid"), [4]int{u.uid, 0, 0, 0}; got != want {
					t.Errorf("Uid %v, want %v (euid 0)", got, want)
				}
				if rep.ATSecure != 1 {
					t.Errorf("AT_SECURE %d, want 1", rep.ATSecure)
				}
				umaskIs(t, rep, 0o027)
			},
		},
		{
			name:  "set-uid root under configured no_new_privs",
			prog:  fx.path("setuid"),
			steps: []attrStep{nnp},
			users: []user{nobody},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got := ids(t, rep, "Uid"); got != all4(u.uid) {
					t.Errorf("Uid %v, want %v: no_new_privs must keep the set-uid bit from elevating", got, all4(u.uid))
				}
				if rep.ATSecure != 0 {
					t.Errorf("AT_SECURE %d, want 0", rep.ATSecure)
				}
				if statusInt(t, rep, "NoNewPrivs") != 1 {
					t.Errorf("NoNewPrivs %s, want 1", rep.Status["NoNewPrivs"])
				}
			},
		},
		{
			// Execve leaves limits alone for a set-uid program: a
			// caller cannot raise what the elevated child gets.
			name:  "set-uid root keeps the limits set",
			prog:  fx.path("setuid"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 40, 80), rlimitOf(unix.RLIMIT_CORE, 0, 0)},
			users: []user{nobody},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got := ids(t, rep, "Uid")[1]; got != 0 {
					t.Errorf("euid %d, want 0", got)
				}
				rlimitIs(t, rep, unix.RLIMIT_NOFILE, 40, 80)
				rlimitIs(t, rep, unix.RLIMIT_CORE, 0, 0)
			},
		},
		{
			name:  "credentials reach the child",
			prog:  fx.path("ok"),
			steps: []attrStep{groupsOf(2000, 1000), gidsOf(1234, 1234, 1234), uidsOf(helper.Nobody, helper.Nobody, helper.Nobody)},
			users: []user{root},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got := ids(t, rep, "Uid"); got != all4(helper.Nobody) {
					t.Errorf("Uid %v, want %v", got, all4(helper.Nobody))
				}
				if got := ids(t, rep, "Gid"); got != all4(1234) {
					t.Errorf("Gid %v, want %v", got, all4(1234))
				}
				if got := strings.Join(strings.Fields(rep.Status["Groups"]), " "); got != "1000 2000" {
					t.Errorf("Groups %q, want \"1000 2000\"", got)
				}
				if c, err := rep.Hex("CapEff"); err != nil || c != 0 {
					t.Errorf("CapEff %s (%v), want 0: a change away from uid 0 clears the capabilities", rep.Status["CapEff"], err)
				}
			},
		},
		{
			// Each as the system call made by nobody: EPERM.
			name:  "credentials an unprivileged creator does not hold",
			prog:  fx.path("ok"),
			steps: []attrStep{uidsOf(0, keep, keep), uidsOf(keep, 0, keep), uidsOf(keep, keep, 0), gidsOf(0, keep, keep), groupsOf(), groupsOf(0), uidsOf(helper.Nobody, helper.Nobody, helper.Nobody)},
			users: []user{nobody},
			// A no-op is no raise (the embryo runs only when every
			// step succeeded, so there is no child to look at).
			want: []string{"EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "EPERM", "success"},
		},
		{
			// Once root is dropped, the embryo's own credentials
			// judge every step after: no way back, no groups, no
			// raised hard limit.
			name:  "after a drop the embryo's credentials judge",
			prog:  fx.path("ok"),
			steps: []attrStep{rlimitOf(unix.RLIMIT_NOFILE, 50, 100), uidsOf(helper.Nobody, helper.Nobody, helper.Nobody), uidsOf(0, 0, 0), gidsOf(5, 5, 5), groupsOf(), rlimitOf(unix.RLIMIT_NOFILE, 50, 200)},
			users: []user{root},
			want:  []string{"success", "success", "EPERM", "EPERM", "EPERM", "EPERM"},
		},
		{
			name:  "set-uid root after a drop",
			prog:  fx.path("setuid"),
			steps: []attrStep{gidsOf(helper.Nobody, helper.Nobody, helper.Nobody), uidsOf(helper.Nobody, helper.Nobody, helper.Nobody)},
			users: []user{root},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got, want := ids(t, rep, "Uid"), [4]int{helper.Nobody, 0, 0, 0}; got != want {
					t.Errorf("Uid %v, want %v", got, want)
				}
				if rep.ATSecure != 1 {
					t.Errorf("AT_SECURE %d, want 1", rep.ATSecure)
				}
			},
		},
		{
			name:  "set-uid root after a drop under no_new_privs",
			prog:  fx.path("setuid"),
			steps: []attrStep{uidsOf(helper.Nobody, helper.Nobody, helper.Nobody), nnp},
			users: []user{root},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if got := ids(t, rep, "Uid"); got != all4(helper.Nobody) {
					t.Errorf("Uid %v, want %v", got, all4(helper.Nobody))
				}
			},
		},
		{
			// The program's path is resolved in the new root at
			// the run: /ok exists only there.
			name:  "ROOT: the exec resolves in the new root",
			prog:  "/ok",
			steps: []attrStep{{Root: fx.exec}},
			users: []user{root},
			check: func(t *testing.T, u user, rep *childreport.Report) {
				if rep.Argv[0] != "childreport" {
					t.Errorf("argv %q", rep.Argv)
				}
			},
		},
		{
			name:  "ROOT needs CAP_SYS_CHROOT",
			prog:  fx.path("ok"),
			steps: []attrStep{{Root: fx.exec}},
			users: []user{nobody},
			want:  []string{"EPERM"},
		},
		{
			name:  "ROOT after a drop is judged as the embryo",
			prog:  fx.path("ok"),
			steps: []attrStep{uidsOf(helper.Nobody, helper.Nobody, helper.Nobody), {Root: fx.exec}},
			users: []user{root},
			want:  []string{"success", "EPERM"},
		},
		{
			name:  "bad ids",
			prog:  fx.path("ok"),
			steps: []attrStep{groupsOf(10, ^uint32(0))},
			users: both,
			want:  []string{"EINVAL"},
		},
	} {
		for _, u := range tc.users {
			t.Run(tc.name+"/"+u.name, func(t *testing.T) {
				h := helper.New(t, "attrs", attrsArg{Prog: tc.prog, Steps: tc.steps})
				if u.uid != 0 {
					h.AsUser(u.uid, u.gid)
				}
				var res attrsResult
				h.Result(&res)
				want := tc.want
				if want == nil {
					for range tc.steps {
						want = append(want, "success")
					}
				}
				for i, s := range tc.steps {
					if i >= len(res.Steps) || res.Steps[i] != want[i] {
						t.Errorf("%s: %v, want %s", s, res.Steps, want[i])
					}
				}
				// The creator's own attributes never change.
				if res.NNP != 0 {
					t.Errorf("the creator has no_new_privs after the spawn")
				}
				if res.Umask == 0o077 || res.Umask == 0o027 {
					t.Errorf("the creator's umask is %#o after the spawn", res.Umask)
				}
				if res.Core.Max == 0 {
					t.Errorf("the creator's RLIMIT_CORE is %+v after the spawn", res.Core)
				}
				if want := [3]int{u.uid, u.uid, u.uid}; res.UIDs != want {
					t.Errorf("the creator's uids are %v after the spawn, want %v", res.UIDs, want)
				}
				if tc.check == nil {
					return
				}
				o := res.Embryo
				if o.Errno != "success" || o.Report == nil || o.Status != 0 {
					t.Fatalf("embryo: %s %s, no report: %s", o.Errno, o.Exit, o.Err)
				}
				tc.check(t, u, o.Report)
			})
		}
	}
}
