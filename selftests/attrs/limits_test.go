package attrs

// Limits set on an embryo that its exec or its child then runs into:
// RLIMIT_CPU (armed on a task that never ran), RLIMIT_STACK lowered after
// ARGV, RLIMIT_NOFILE lowered below installed descriptors, every limit at
// zero; the umask with PIDFD_FD_OPEN; no_new_privs and the authority.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

// runWithin runs the embryo, failing t if the run does not return.
func runWithin(t *testing.T, fd int, d time.Duration) (int, error) {
	t.Helper()
	type res struct {
		pid int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		pid, err := pidfd.SpawnRun(fd, 0)
		ch <- res{pid, err}
	}()
	select {
	case r := <-ch:
		return r.pid, r.err
	case <-time.After(d):
		t.Fatalf("pidfd_spawn_run has not returned after %v", d)
	}
	return 0, nil
}

func setRlimit(t *testing.T, fd, res int, cur, max uint64) {
	t.Helper()
	if err := pidfd.ConfigRlimit(fd, res, unix.Rlimit{Cur: cur, Max: max}); err != nil {
		t.Fatalf("PIDFD_CONFIG_RLIMIT(%d, %d, %d): %s", res, cur, max, embryo.Name(err))
	}
}

// configBurner makes the embryo run this test binary as a CPU burner.
func configBurner(t *testing.T, fd int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	embryo.ConfigProgram(t, fd, exe, []string{exe}, []string{envBurn + "=1"})
}

// TestRlimitCPU: RLIMIT_CPU set on a task that never ran
// (update_rlimit_cpu() on an embryo), then a child that burns CPU. The
// child must die of SIGXCPU or SIGKILL, within bounded time, with no
// splat; with a hard limit of 0 the run may fail (ESRCH) instead.
func TestRlimitCPU(t *testing.T) {
	embryo.Require(t)
	const inf = unix.RLIM_INFINITY
	for _, tc := range []struct{ soft, hard uint64 }{
		{1, 2}, {0, 1}, {0, 0}, {1, 1}, {2, inf}, {0, inf},
	} {
		t.Run(fmt.Sprintf("soft%d-hard%d", tc.soft, tc.hard), func(t *testing.T) {
			fd := embryo.New(t)
			configBurner(t, fd)
			setRlimit(t, fd, unix.RLIMIT_CPU, tc.soft, tc.hard)
			start := time.Now()
			pid, err := runWithin(t, fd, 2*time.Minute)
			if err != nil {
				t.Logf("run: %s after %v", embryo.Name(err), time.Since(start))
				if tc.hard != 0 {
					t.Errorf("run: %s, want a started child", embryo.Name(err))
				}
				return
			}
			ex, werr := embryo.WaitExit(fd, 3*time.Minute)
			t.Logf("pid %d: %v (%v) after %v", pid, ex, werr, time.Since(start))
			if werr != nil {
				t.Fatalf("the burner was not stopped by RLIMIT_CPU %d/%d: %v", tc.soft, tc.hard, werr)
			}
			if ex.Code != pidfd.CLD_KILLED && ex.Code != pidfd.CLD_DUMPED {
				t.Errorf("burner: %v, want killed", ex)
			} else if ex.Status != int(unix.SIGXCPU) && ex.Status != int(unix.SIGKILL) {
				t.Errorf("burner: %v, want SIGXCPU or SIGKILL", ex)
			}
		})
	}
}

// TestRlimitCPUFailedRuns: RLIMIT_CPU counts the embryo's CPU time from
// its creation, failed exec attempts included, as a forked child's counts
// from the fork (Documentation/userspace-api/pidfd_empty.rst,
// PIDFD_CONFIG_RLIMIT). With a hard limit of 0, the first tick of CPU
// time kills the embryo: a run then fails with ESRCH, the embryo is
// destroyed (its pidfd readable) and nothing is reported to wait(). With a
// soft limit of 0 and room above it, SIGXCPU, which an unstarted embryo
// cannot act on, raises the soft limit a second at a time, as for a
// process that survives SIGXCPU, and the child starts with the raised
// limit.
func TestRlimitCPUFailedRuns(t *testing.T) {
	embryo.Require(t)
	for _, hard := range []uint64{0, 1, unix.RLIM_INFINITY} {
		t.Run(fmt.Sprintf("hard%d", hard), func(t *testing.T) {
			fd := embryo.New(t)
			setRlimit(t, fd, unix.RLIMIT_CPU, 0, hard)
			if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, "/nonexistent/prog", 0); err != nil {
				t.Fatal(err)
			}
			// A hard limit of 0 kills the embryo at the first tick
			// that finds it running, and a failed run is short: on a
			// fast kernel 30 of them can pass between ticks. So at 0,
			// fail runs until the embryo is killed, for up to 30
			// seconds; otherwise 30 runs, little enough CPU time to
			// stay below a hard limit of one second.
			runs, deadline := 30, time.Time{}
			if hard == 0 {
				runs, deadline = math.MaxInt, time.Now().Add(30*time.Second)
			}
			seen := map[string]int{}
			var last string
			for i := 0; i < runs; i++ {
				_, err := runWithin(t, fd, time.Minute)
				last = embryo.Name(err)
				seen[last]++
				if err != unix.ENOENT && err != unix.EINTR {
					break
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					break
				}
			}
			t.Logf("failed runs: %v, the last %s", seen, last)
			if hard == 0 {
				if last != "ESRCH" {
					t.Fatalf("runs %v, the last %s: want ENOENT (or EINTR) until the hard limit of 0 kills the embryo (ESRCH)", seen, last)
				}
				if ev, err := embryo.PollIn(fd, 10*time.Second); err != nil || ev&unix.POLLIN == 0 {
					t.Errorf("the killed embryo's pidfd is not readable (%#x, %v): it was not destroyed", ev, err)
				}
				return
			}
			if last != "ENOENT" && last != "EINTR" {
				t.Fatalf("runs %v, the last %s: an embryo under a hard limit of %d must stay configurable", seen, last, hard)
			}
			out := embryo.Config(t, fd, nil, nil)
			// The soft limit of 0 sends SIGXCPU at the first tick that
			// finds the task running: dropped while it is an embryo
			// (the kernel then raises the soft limit by one), fatal to
			// the reporting child if no tick fell in a failed run. The
			// child ignores it, so that it reports either way.
			xcpu, err := pidfd.SigBit(unix.SIGXCPU)
			if err != nil {
				t.Fatal(err)
			}
			if err := pidfd.ConfigSignals(fd, 0, xcpu); err != nil {
				t.Fatalf("SIGNALS ignoring SIGXCPU: %v", err)
			}
			if _, err := runWithin(t, fd, time.Minute); err != nil {
				t.Fatalf("good run: %s", embryo.Name(err))
			}
			rep, b, rerr := embryo.ParseReport(out)
			if _, err := embryo.WaitExit(fd, time.Minute); err != nil {
				t.Fatalf("child not reaped: %v", err)
			}
			if rerr != nil {
				t.Fatalf("report: %v: %q", rerr, b)
			}
			got := rep.Rlimits[unix.RLIMIT_CPU]
			t.Logf("child's RLIMIT_CPU %+v, configured {Cur:0 Max:%d}", got, hard)
			if got.Max != hard || got.Cur > hard {
				t.Errorf("child's RLIMIT_CPU %+v: want the hard limit %d and a soft limit no higher", got, hard)
			}
		})
	}
}

// TestRlimitNofileBelowInstalled: RLIMIT_NOFILE lowered below
// descriptors already installed, then PIDFD_FD_DUP and PIDFD_FD_OPEN.
func TestRlimitNofileBelowInstalled(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, nil, nil)
	null, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(null)
	embryo.Check(t, "DUP to 10", pidfd.ConfigFDDup(fd, null, 10, 0), 0)
	setRlimit(t, fd, unix.RLIMIT_NOFILE, 4, 4)
	embryo.Check(t, "DUP to 5 above the lowered limit", pidfd.ConfigFDDup(fd, null, 5, 0), unix.EBADF)
	embryo.Check(t, "DUP to 4 at the lowered limit", pidfd.ConfigFDDup(fd, null, 4, 0), unix.EBADF)
	embryo.Check(t, "OPEN to 6 above the lowered limit", pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, "/dev/null", &unix.OpenHow{Flags: unix.O_RDONLY}, 6), unix.EBADF)
	embryo.Check(t, "DUP to 3", pidfd.ConfigFDDup(fd, null, 3, 0), 0)
	embryo.Check(t, "DUP over 10 (installed, above the limit)", pidfd.ConfigFDDup(fd, null, 10, 0), unix.EBADF)
	embryo.Check(t, "CLOSE of 10", pidfd.ConfigFDClose(fd, 10), 0)
	embryo.Check(t, "DUP to 10 again", pidfd.ConfigFDDup(fd, null, 10, 0), unix.EBADF)
	embryo.Check(t, "RLIMIT_NOFILE 0", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 0, Max: 0}), 0)
	embryo.Check(t, "DUP to 0 with limit 0", pidfd.ConfigFDDup(fd, null, 0, 0), unix.EBADF)
	setRlimit(t, fd, unix.RLIMIT_NOFILE, 4, 4) // root raises back
	pid, err := runWithin(t, fd, time.Minute)
	if err != nil {
		t.Fatalf("run: %s", embryo.Name(err))
	}
	rep, b, rerr := embryo.ParseReport(out)
	ex, _ := embryo.WaitExit(fd, time.Minute)
	if rerr != nil {
		t.Fatalf("pid %d %v: no report: %v %q", pid, ex, rerr, b)
	}
	t.Logf("child fds %v, NOFILE %+v", rep.FDNums(), rep.Rlimits[unix.RLIMIT_NOFILE])
	if got := rep.Rlimits[unix.RLIMIT_NOFILE]; got.Cur != 4 || got.Max != 4 {
		t.Errorf("child RLIMIT_NOFILE %+v, want 4/4", got)
	}
}

// TestRlimitNrOpen: hard RLIMIT_NOFILE up to fs.nr_open and no
// further, and a descriptor at the very top of it.
func TestRlimitNrOpen(t *testing.T) {
	embryo.Require(t)
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		t.Fatal(err)
	}
	nr, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	fd := embryo.New(t)
	embryo.Check(t, "NOFILE nr_open+1", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 16, Max: nr + 1}), unix.EPERM)
	embryo.Check(t, "NOFILE infinity", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 16, Max: unix.RLIM_INFINITY}), unix.EPERM)
	embryo.Check(t, "NOFILE 1<<32", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: 16, Max: 1 << 32}), unix.EPERM)
	embryo.Check(t, "NOFILE nr_open", pidfd.ConfigRlimit(fd, unix.RLIMIT_NOFILE, unix.Rlimit{Cur: nr, Max: nr}), 0)
	embryo.Check(t, "DUP to nr_open", pidfd.ConfigFDDup(fd, 0, int(nr), 0), unix.EBADF)
	embryo.Check(t, "DUP to nr_open-1", pidfd.ConfigFDDup(fd, 0, int(nr-1), 0), 0)
}

// TestRlimitStackAfterArgv: ARGV sized for the default
// RLIMIT_STACK, then RLIMIT_STACK lowered: the run must fail with E2BIG
// and leave the embryo configurable; raised again, it runs.
func TestRlimitStackAfterArgv(t *testing.T) {
	embryo.Require(t)
	var own unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_STACK, &own)
	t.Logf("own RLIMIT_STACK %+v", own)
	if own.Cur < 4<<20 {
		t.Skipf("RLIMIT_STACK %d too small for the test", own.Cur)
	}
	fd := embryo.New(t)
	big := strings.Repeat("x", 32<<10-1)
	args := make([]string, 40) // 1.25 MiB: over ARG_MAX, under 1/4 of 8 MiB
	for i := range args {
		args[i] = big
	}
	out := embryo.Config(t, fd, args, nil)
	setRlimit(t, fd, unix.RLIMIT_STACK, 256<<10, own.Max)
	_, err := runWithin(t, fd, time.Minute)
	embryo.Check(t, "run with the lowered stack", err, unix.E2BIG)
	setRlimit(t, fd, unix.RLIMIT_STACK, 0, 0)
	_, err = runWithin(t, fd, time.Minute)
	embryo.Check(t, "run with stack 0", err, unix.E2BIG)
	setRlimit(t, fd, unix.RLIMIT_STACK, own.Cur, own.Max)
	if _, err := runWithin(t, fd, time.Minute); err != nil {
		t.Fatalf("run with the stack back: %s", embryo.Name(err))
	}
	rep, b, rerr := embryo.ParseReport(out)
	ex, _ := embryo.WaitExit(fd, time.Minute)
	if rerr != nil {
		t.Fatalf("%v: no report: %v %q", ex, rerr, b[:min(len(b), 200)])
	}
	if len(rep.Argv) != 41 {
		t.Errorf("argc %d, want 41", len(rep.Argv))
	}
}

// TestRlimitZero: each limit at 0/0 on the embryo, then a run of
// childreport. Whatever happens, the run returns, the child (if any) is
// reaped, and the kernel log stays clean.
func TestRlimitZero(t *testing.T) {
	embryo.Require(t)
	for _, r := range []int{
		unix.RLIMIT_CPU, unix.RLIMIT_FSIZE, unix.RLIMIT_DATA, unix.RLIMIT_STACK,
		unix.RLIMIT_CORE, unix.RLIMIT_RSS, unix.RLIMIT_NPROC, unix.RLIMIT_NOFILE,
		unix.RLIMIT_MEMLOCK, unix.RLIMIT_AS, unix.RLIMIT_LOCKS, unix.RLIMIT_SIGPENDING,
		unix.RLIMIT_MSGQUEUE, unix.RLIMIT_NICE, unix.RLIMIT_RTPRIO, unix.RLIMIT_RTTIME,
	} {
		t.Run(strconv.Itoa(r), func(t *testing.T) {
			fd := embryo.New(t)
			out := embryo.Config(t, fd, nil, nil)
			setRlimit(t, fd, r, 0, 0)
			pid, err := runWithin(t, fd, 2*time.Minute)
			if err != nil {
				t.Logf("resource %d: run %s", r, embryo.Name(err))
				// A failed run leaves it configurable.
				if err != unix.ESRCH {
					embryo.Check(t, "umask after the failed run", pidfd.ConfigUmask(fd, 0o22), 0)
				}
				return
			}
			_, b, _ := embryo.ParseReport(out)
			ex, werr := embryo.WaitExit(fd, 2*time.Minute)
			t.Logf("resource %d: pid %d %v %v (%d bytes of report)", r, pid, ex, werr, len(b))
			if werr != nil {
				t.Errorf("child not reaped: %v", werr)
			}
		})
	}
}

// TestUmaskOpen: PIDFD_FD_OPEN with O_CREAT honours the umask set
// just before it; the creator's own umask does not change.
func TestUmaskOpen(t *testing.T) {
	embryo.Require(t)
	dir := t.TempDir()
	fd := embryo.New(t)
	old := unix.Umask(0o022)
	unix.Umask(old)
	for i, tc := range []struct {
		mask, mode, want uint32
	}{
		{0o077, 0o666, 0o600}, {0, 0o666, 0o666}, {0o027, 0o777, 0o750}, {0o777, 0o666, 0},
	} {
		embryo.Check(t, "UMASK", pidfd.ConfigUmask(fd, tc.mask), 0)
		p := filepath.Join(dir, fmt.Sprintf("f%d", i))
		how := &unix.OpenHow{Flags: unix.O_CREAT | unix.O_WRONLY, Mode: uint64(tc.mode)}
		embryo.Check(t, "OPEN O_CREAT "+p, pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, p, how, 3), 0)
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o7777 != tc.want {
			t.Errorf("umask %#o mode %#o: created %#o, want %#o", tc.mask, tc.mode, st.Mode&0o7777, tc.want)
		}
		// mkdir-like: O_TMPFILE
		how = &unix.OpenHow{Flags: unix.O_TMPFILE | unix.O_WRONLY, Mode: uint64(tc.mode)}
		if err := pidfd.ConfigFDOpen(fd, unix.AT_FDCWD, dir, how, 4); err == nil {
			// fstat needs the file; check through fdinfo is hard: skip.
		}
	}
	now := unix.Umask(old)
	if now != old {
		t.Errorf("the creator's umask changed from %#o to %#o", old, now)
	}
}

// TestNoNewPrivs: one way, no effect on the creator's authority,
// and the child has it.
func TestNoNewPrivs(t *testing.T) {
	embryo.Require(t)
	fd := embryo.New(t)
	out := embryo.Config(t, fd, nil, nil)
	for i := 0; i < 3; i++ {
		embryo.Check(t, "NO_NEW_PRIVS", pidfd.ConfigNoNewPrivs(fd), 0)
	}
	embryo.Check(t, "UMASK after NNP", pidfd.ConfigUmask(fd, 0o027), 0)
	embryo.Check(t, "RLIMIT after NNP", pidfd.ConfigRlimit(fd, unix.RLIMIT_CORE, unix.Rlimit{}), 0)
	if v, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); v != 0 {
		t.Errorf("the creator got no_new_privs")
	}
	rep := embryo.RunToExit(t, fd, out, 0)
	if rep.Status["NoNewPrivs"] != "1" {
		t.Errorf("child NoNewPrivs %q, want 1", rep.Status["NoNewPrivs"])
	}
	// After the start: the same pidfd configures nothing.
	for _, c := range []struct {
		what string
		err  error
	}{
		{"NNP", pidfd.ConfigNoNewPrivs(fd)},
		{"UMASK", pidfd.ConfigUmask(fd, 0)},
		{"RLIMIT", pidfd.ConfigRlimit(fd, unix.RLIMIT_CORE, unix.Rlimit{})},
	} {
		t.Logf("%s after the start: %s", c.what, embryo.Name(c.err))
		if c.err == nil {
			t.Errorf("%s on a started process succeeded", c.what)
		}
	}
	// A non-embryo pidfd.
	self, err := pidfd.Open(os.Getpid(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(self)
	embryo.Check(t, "NNP on an ordinary pidfd", pidfd.ConfigNoNewPrivs(self), unix.EINVAL)
	embryo.Check(t, "RLIMIT on an ordinary pidfd", pidfd.ConfigRlimit(self, unix.RLIMIT_CORE, unix.Rlimit{}), unix.EINVAL)
}

// TestABI: sizes, pointers and reserved fields of the three
// commands.
func TestABI(t *testing.T) {
	embryo.Require(t)
	pg := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 3*pg, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	// The third page is a hole.
	if err := unix.Mprotect(mem[2*pg:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	base := uintptr(unsafe.Pointer(&mem[0]))
	hole := base + uintptr(2*pg)
	put := func(off int, a pidfd.RlimitArg) uintptr {
		*(*pidfd.RlimitArg)(unsafe.Pointer(&mem[off])) = a
		return base + uintptr(off)
	}
	clear(mem[:2*pg])
	fd := embryo.New(t)
	cfg := func(cmd int, arg uintptr, size int) error { return pidfd.Config(fd, cmd, arg, size) }
	ok := pidfd.RlimitArg{Resource: unix.RLIMIT_CORE, Cur: 0, Max: 0}

	embryo.Check(t, "NNP arg 1 size 0", cfg(pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, 1, 0), unix.EINVAL)
	embryo.Check(t, "NNP NULL size 8", cfg(pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, 0, 8), unix.EINVAL)
	embryo.Check(t, "NNP hole size 0", cfg(pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, hole, 0), unix.EINVAL)
	embryo.Check(t, "NNP NULL size huge", cfg(pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, 0, 1<<40), unix.EINVAL)

	embryo.Check(t, "RLIMIT size 0", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, ok), 0), unix.EINVAL)
	embryo.Check(t, "RLIMIT size 23", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, ok), 23), unix.EINVAL)
	embryo.Check(t, "RLIMIT NULL", cfg(pidfd.PIDFD_CONFIG_RLIMIT, 0, 24), unix.EFAULT)
	embryo.Check(t, "RLIMIT hole", cfg(pidfd.PIDFD_CONFIG_RLIMIT, hole, 24), unix.EFAULT)
	embryo.Check(t, "RLIMIT straddling the hole", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(2*pg-24, ok), 32), unix.EFAULT)
	embryo.Check(t, "RLIMIT size page+1", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, ok), pg+1), unix.E2BIG)
	embryo.Check(t, "RLIMIT size page, zero tail", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, ok), pg), 0)
	mem[100] = 1
	embryo.Check(t, "RLIMIT size page, non-zero tail", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, ok), pg), unix.E2BIG)
	mem[100] = 0
	embryo.Check(t, "RLIMIT __spare", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, pidfd.RlimitArg{Resource: unix.RLIMIT_CORE, Spare: 1}), 24), unix.EINVAL)
	embryo.Check(t, "RLIMIT resource 16", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, pidfd.RlimitArg{Resource: 16}), 24), unix.EINVAL)
	embryo.Check(t, "RLIMIT resource ~0", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, pidfd.RlimitArg{Resource: ^uint32(0)}), 24), unix.EINVAL)
	embryo.Check(t, "RLIMIT cur > max", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, pidfd.RlimitArg{Resource: unix.RLIMIT_CORE, Cur: 2, Max: 1}), 24), unix.EINVAL)
	embryo.Check(t, "RLIMIT cur inf > max", cfg(pidfd.PIDFD_CONFIG_RLIMIT, put(0, pidfd.RlimitArg{Resource: unix.RLIMIT_CORE, Cur: unix.RLIM_INFINITY, Max: 5}), 24), unix.EINVAL)

	u := func(v uint64) uintptr { *(*uint64)(unsafe.Pointer(&mem[0])) = v; return base }
	embryo.Check(t, "UMASK size 4", cfg(pidfd.PIDFD_CONFIG_UMASK, u(0o22), 4), unix.EINVAL)
	embryo.Check(t, "UMASK size 7", cfg(pidfd.PIDFD_CONFIG_UMASK, u(0o22), 7), unix.EINVAL)
	embryo.Check(t, "UMASK 01000", cfg(pidfd.PIDFD_CONFIG_UMASK, u(0o1000), 8), unix.EINVAL)
	embryo.Check(t, "UMASK 1<<63", cfg(pidfd.PIDFD_CONFIG_UMASK, u(1<<63), 8), unix.EINVAL)
	embryo.Check(t, "UMASK 0777", cfg(pidfd.PIDFD_CONFIG_UMASK, u(0o777), 8), 0)
	embryo.Check(t, "UMASK hole", cfg(pidfd.PIDFD_CONFIG_UMASK, hole, 8), unix.EFAULT)
	embryo.Check(t, "cmd 10", cfg(pidfd.PIDFD_CONFIG_NO_NEW_PRIVS+1, 0, 0), unix.EINVAL)
	embryo.Check(t, "cmd 0", cfg(0, 0, 0), unix.EINVAL)
	embryo.Check(t, "cmd ~0", cfg(-1, 0, 0), unix.EINVAL)
	_ = childreport.Path
}
