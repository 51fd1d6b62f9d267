package stress

// The exec that pidfd_spawn_run() performs runs in the embryo, not in the
// caller, so fail-nth (the calling thread's count) never reaches its fault
// sites. The embryo does inherit make_it_fail from the thread that created
// it (fork copies it; fail_nth it resets), and with task-filter=Y the
// debugfs attributes (failslab, fail_page_alloc, fail_usercopy) fail only
// tasks with make_it_fail set. So for each attribute and n = 1, 2, ...:
//
//  1. the helper's thread sets its make-it-fail, creates an embryo that
//     inherits it, configures it to run true-static, and forks a raw
//     aligner child (no Go runtime: a Go thread whose futex or signal
//     frame took the fault would crash), which inherits it too; then the
//     thread clears its own;
//  2. the attribute is armed to fail its n-th call (interval n,
//     probability 100, times 1) and the aligner, released, makes calls
//     that reach the attribute until one fails: that leaves the
//     attribute's count (shared by all filtered tasks) at a multiple of n
//     and its times at 0;
//  3. times is set to 1 again: the n-th site of that attribute the embryo
//     reaches fails, in the exec or in true-static's short life after it
//     (the count cannot tell them apart, so the sweep runs until a whole
//     spawn and exit consume no fault);
//  4. pidfd_spawn_run: a failure before the exec's point of no return is
//     a clean errno (ENOMEM, EFAULT, ..., or what execve itself gives for
//     some failed allocations: execFaultErrs), and the embryo
//     stays unstarted and then runs; past
//     it, the started process exits 0 or dies of SIGSEGV or SIGKILL, as
//     after a failed execve. Nothing is left behind either way.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/selftests/internal/cgroup2"
	"github.com/emptypidfd/emptypidfd/selftests/internal/childreport"
	"github.com/emptypidfd/emptypidfd/selftests/internal/embryo"
)

const makeItFailPath = "/proc/thread-self/make-it-fail"

// aligner adds to b the aligner's calls for attr, made up to n times
// until one fails: calls that reach the attribute's fault sites.
func aligner(b *progBuilder, m *mem, attr string, n int) {
	switch attr {
	case "failslab":
		// getcwd takes its buffer from the names slab cache.
		buf := m.alloc(unix.PathMax)
		b.repeat(b.step("getcwd", okOnly, unix.SYS_GETCWD, addr(buf), unix.PathMax), n)
	case "fail_page_alloc":
		// Populating a fresh 64 MiB mapping allocates its 16384 pages
		// in one call.
		const size = 64 << 20
		mm := b.step("mmap", okOnly, unix.SYS_MMAP, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
		p := b.step("populate", okOnly, unix.SYS_MADVISE, 0, size, unix.MADV_POPULATE_WRITE)
		b.from(p, 0, mm).after(p, mm)
	case "fail_usercopy":
		// uname copies its answer to user memory.
		buf := m.alloc(int(unsafe.Sizeof(unix.Utsname{})))
		b.repeat(b.step("uname", okOnly, unix.SYS_UNAME, addr(buf)), n)
	default:
		panic("stress: no aligner for " + attr)
	}
}

// execFaultErrs are what execve itself answers some failed allocations
// with, beyond cleanFault (stock fs/exec.c and fs/binfmt_elf.c, which the
// series does not change): E2BIG when a page of the new stack cannot be
// had (get_arg_page() failing in copy_strings() or copy_string_kernel()),
// ENOEXEC when the ELF program headers cannot be read into memory
// (load_elf_phdrs() failing its kmalloc, which load_elf_binary() reports
// as ENOEXEC).
var execFaultErrs = errs(unix.E2BIG, unix.ENOEXEC)

// execFaultAttrs are the attributes the exec sweep goes through, in order.
var execFaultAttrs = []string{"failslab", "fail_page_alloc", "fail_usercopy"}

// sweepExec sweeps pidfd_spawn_run's exec over the n-th site of attr.
func (f *faulter) sweepExec(attr string, maxN int) faultCallResult {
	r := faultCallResult{Call: "spawn_run.exec/" + attr, Errnos: map[string]int{}}
	fail := func(n int, format string, args ...any) {
		f.res.Failures = append(f.res.Failures, fmt.Sprintf("%s, fault at site %d: %s", r.Call, n, fmt.Sprintf(format, args...)))
	}
	dir := filepath.Join(debugfsDir, attr)
	set := func(file, val string) error { return cgroup2.WriteCtl(filepath.Join(dir, file), val) }
	th := &thread{}
	var err error
	if th.mem, err = newMem(64 << 10); err == nil {
		th.shared, err = sharedPage()
	}
	if err != nil {
		fail(0, "%v", err)
		return r
	}
	// Off between iterations and afterwards: probability 0 fails nothing.
	restore := map[string]string{}
	for _, file := range []string{"probability", "interval", "times"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			fail(0, "reading %s/%s: %v", dir, file, err)
			return r
		}
		restore[file] = strings.TrimSpace(string(b))
	}
	defer func() {
		for _, file := range []string{"probability", "times", "interval"} {
			if err := set(file, restore[file]); err != nil {
				fail(r.Iterations, "restoring %s/%s: %v", dir, file, err)
			}
		}
	}()
	for n := 1; n <= maxN; n++ {
		r.Iterations = n
		base, err := openFDs()
		if err != nil {
			fail(n, "%v", err)
			return r
		}
		outcome, injected, err := f.execOnce(th, attr, n, set)
		if err != nil {
			fail(n, "%v", err)
			return r
		}
		r.Errnos[outcome]++
		f.res.Invariants++
		if injected {
			r.Injected++
			r.Sites = n
			if outcome == "started" {
				r.Tolerated++
			}
		} else if outcome != "started" {
			fail(n, "the spawn ended %s without a fault", outcome)
			return r
		}
		f.res.Invariants++
		if after, err := openFDs(); err != nil || len(after) != len(base) {
			fail(n, "%d fds before the spawn, %d after it (%v): %v", len(base), len(after), err, fdDiff(base, after))
			return r
		}
		f.res.Invariants++
		if c, err := embryo.WaitCharge(f.pidsCg, 0, settle); err != nil || c != 0 {
			fail(n, "%d tasks charged to the pids cgroup after the spawn (%v)", c, err)
			return r
		}
		if !injected {
			r.Converged = true
			break
		}
	}
	return r
}

// execOnce is one iteration of sweepExec: it returns how the spawn ended
// ("started" for a process that exited 0, "killed_SIGSEGV" and the like
// for one that a fault past the point of no return killed, an errno's
// name for a run that failed before it and whose embryo then ran), and
// whether the fault was consumed.
func (f *faulter) execOnce(th *thread, attr string, n int, set func(file, val string) error) (string, bool, error) {
	if err := setMakeItFail(true); err != nil {
		return "", false, err
	}
	fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
	if err == nil {
		err = configTrue(fd)
	}
	if err != nil {
		setMakeItFail(false)
		if fd >= 0 {
			unix.Close(fd)
		}
		return "", false, fmt.Errorf("a filtered embryo (not armed): %w", err)
	}
	defer unix.Close(fd)
	// The aligner waits for a byte on go, then makes its calls.
	var goPipe [2]int
	if err := unix.Pipe2(goPipe[:], unix.O_CLOEXEC); err != nil {
		setMakeItFail(false)
		return "", false, err
	}
	defer unix.Close(goPipe[0])
	defer unix.Close(goPipe[1])
	th.mem.reset()
	b := newProg()
	b.blockSignals(th.mem)
	w := b.step("wait-go", okOnly, unix.SYS_READ, uintptr(goPipe[0]), addr(th.mem.alloc(1)), 1)
	aligner(b, th.mem, attr, 4*n+64)
	for i := w + 1; i < int(b.p.n); i++ {
		b.after(i, w)
	}
	fr, err := th.forkRun(b, 0, func(int) error {
		// Release the aligner whatever happens here.
		defer unix.Write(goPipe[1], []byte{1})
		if err := setMakeItFail(false); err != nil {
			return err
		}
		for _, kv := range [][2]string{{"times", "0"}, {"interval", strconv.Itoa(n)}, {"probability", "100"}, {"times", "1"}} {
			if err := set(kv[0], kv[1]); err != nil {
				return fmt.Errorf("arming %s: %s=%s: %w", attr, kv[0], kv[1], err)
			}
		}
		return nil
	})
	if err != nil {
		set("probability", "0")
		setMakeItFail(false)
		return "", false, fmt.Errorf("the aligner: %w\n%s", err, b.dump(fr))
	}
	if left, err := readAttr(attr, "times"); err != nil || left != 0 {
		set("probability", "0")
		return "", false, fmt.Errorf("aligning %s's count to a multiple of %d: times is %d after the aligner (%v)\n%s", attr, n, left, err, b.dump(fr))
	}
	if err := set("times", "1"); err != nil {
		return "", false, err
	}
	pid, runErr := pidfd.SpawnRun(fd, 0)
	outcome := "started"
	if runErr == nil {
		ex, err := embryo.WaitExit(fd, waitTimeout)
		if err != nil {
			set("probability", "0")
			return "", false, fmt.Errorf("waiting for pid %d: %w", pid, err)
		}
		if !ex.Exited(0) {
			outcome = exitName(ex)
			// Past the point of no return a failed exec kills the
			// process, as after execve (DESIGN.md section 3); a
			// fault in the program's own start (static glibc's TLS
			// allocation by brk) is the program's to answer: it
			// exits (127).
			if !ex.Signaled(unix.SIGSEGV) && !ex.Signaled(unix.SIGKILL) && ex.Code != pidfd.CLD_EXITED {
				set("probability", "0")
				return outcome, true, fmt.Errorf("the started process (pid %d) ended %v: neither an exit nor the kill a failed exec past its point of no return gives", pid, ex)
			}
		}
	}
	left, err := readAttr(attr, "times")
	if err2 := set("probability", "0"); err == nil {
		err = err2
	}
	if err != nil {
		return "", false, err
	}
	injected := left == 0
	if runErr != nil {
		e := errnoOf(runErr)
		outcome = errnoName(e)
		switch {
		case !injected:
			return outcome, false, fmt.Errorf("pidfd_spawn_run failed with %s without a fault", outcome)
		case !cleanFault.has(e) && !execFaultErrs.has(e):
			return outcome, true, fmt.Errorf("pidfd_spawn_run failed with %s: not an errno a failed allocation or copy gives (%v, or execve's %v)", outcome, cleanFault, execFaultErrs)
		}
		// Before the point of no return: the embryo is unstarted and
		// runs, now that nothing fails.
		if em, err := pidfd.IsEmbryo(fd); err != nil || !em {
			return outcome, true, fmt.Errorf("after pidfd_spawn_run failed with %s, the embryo is not unstarted (Embryo %v, %v)", outcome, em, err)
		}
		if err := runAndReap(fd); err != nil {
			return outcome, true, fmt.Errorf("after pidfd_spawn_run failed with %s, running it again: %w", outcome, err)
		}
	}
	return outcome, injected, nil
}

// configTrue configures fd to run true-static.
func configTrue(fd int) error {
	if err := pidfd.ConfigExec(fd, unix.AT_FDCWD, childreport.TruePath, 0); err != nil {
		return fmt.Errorf("EXEC: %s", errnoName(errnoOf(err)))
	}
	if err := pidfd.ConfigArgv(fd, []string{"true-static"}); err != nil {
		return fmt.Errorf("ARGV: %s", errnoName(errnoOf(err)))
	}
	return nil
}

// setMakeItFail sets this thread's make-it-fail. Setting it to 0 is
// retried: while it is 1, the write's own copy from user memory may take
// the armed fault (EFAULT), after which nothing is armed.
func setMakeItFail(on bool) error {
	val := []byte{'0'}
	if on {
		val[0] = '1'
	}
	var err error
	for i := 0; i < 3; i++ {
		if err = cgroup2.WriteCtl(makeItFailPath, string(val)); err == nil {
			return nil
		}
		if !errors.Is(err, unix.EFAULT) && !errors.Is(err, unix.ENOMEM) {
			break
		}
	}
	return fmt.Errorf("setting %s to %s: %w", makeItFailPath, val, err)
}

// readAttr reads an integer debugfs attribute of a fault capability.
func readAttr(attr, file string) (int, error) {
	b, err := os.ReadFile(filepath.Join(debugfsDir, attr, file))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// exitName names how a started process that did not exit 0 ended, in one
// word for the figures: "killed_SIGSEGV", "exited_1".
func exitName(ex pidfd.Exit) string {
	switch ex.Code {
	case pidfd.CLD_KILLED, pidfd.CLD_DUMPED:
		return "killed_" + unix.SignalName(unix.Signal(ex.Status))
	case pidfd.CLD_EXITED:
		return "exited_" + strconv.Itoa(ex.Status)
	}
	return strings.ReplaceAll(ex.String(), " ", "_")
}
