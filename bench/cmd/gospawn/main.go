// Command gospawn is the Go half of the spawn benchmark: the methods a Go
// program has, timed exactly as bench/spawnbench.c times the C ones, with the
// same flags, the same rounds in a random order and the same output (see
// that file for all three).
//
//	-m osexec   exec.Command(prog).Run()
//	-m spawn    spawn.Command(prog).Run(): the same Cmd, through an embryo
//	            (package spawn); a Cmd that fell back to fork+exec is an
//	            error, not a measurement
//	-m embryo   pidfd_open(0, PIDFD_EMPTY), pidfd_config(EXEC, ARGV),
//	            pidfd_spawn_run, waitid(P_PIDFD): raw golang.org/x/sys/unix
//	            calls, with the numbers and structs of package pidfd
//
// and their realistic variants, with the suffix _full: stdin, stdout and
// stderr from one *os.File open on /dev/null, a 30-variable environment
// and the program's directory as working directory (os/exec: Stdin,
// Stdout, Stderr, Env and Dir, the same fields for spawn; embryo:
// pidfd_config ENVP, FD DUP x3, CWD).
//
//	-m osexec_attrs, spawn_attrs
//	            the realistic variant with a SysProcAttr: Setsid, a
//	            Credential (our ids, no supplementary groups), Chroot "/",
//	            UseCgroupFD (our own cgroup v2, on a cgroup2 mounted for
//	            the run if none is) and Pdeathsig; they need root, and
//	            are reported unavailable without (see newAttrs)
//
// Threads are goroutines (GOMAXPROCS is the CPU count).
//
// With -x the methods are interleaved spawn by spawn rather than cell by
// cell: each round, for each goroutine count, every method is warmed up,
// then each step makes one spawn of every method in turn, on all the
// goroutines at once (a barrier between methods), in an order drawn anew
// for each step; with -xb N, N spawns of each method in a row. A drift of the machine then falls on every method alike,
// spawn by spawn, where the cell by cell schedule spreads it only over
// the rounds. But spawn by spawn, what one spawn leaves for the next
// falls on the other methods as often as on its own, which a program
// that spawns one way never sees; blocks (-xb 16) keep each method
// mostly after itself. Its output is the same: a line per method,
// goroutine count and round.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/bench/results"
	"github.com/emptypidfd/emptypidfd/pidfd"
	"github.com/emptypidfd/emptypidfd/spawn"
)

type config struct {
	methods  []string
	prog     string
	rssMiB   int
	threads  []int
	rounds   int
	seed     uint64
	iters    int
	targetMS int
	minIters int
	maxIters int
	warmup   int
	warmupMS int
	// interleave runs the methods spawn by spawn (-x), or block spawns
	// of each in a row (-xb).
	interleave bool
	block      int
	spawns     map[string]func() error // by method
	// unavailable says why a method cannot run here, by method.
	unavailable map[string]string
	spawnOnce   func() error // of the cell that runs now
}

func main() {
	os.Exit(gospawn())
}

func gospawn() int {
	defer func() {
		for _, f := range cleanups {
			f()
		}
	}()
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "gospawn: %v\n", err)
		return 2
	}
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "gospawn: %v\n", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("gospawn", flag.ContinueOnError)
	methods := fs.String("m", "", "comma-separated methods: osexec, spawn, embryo, each with or without _full")
	fs.StringVar(&cfg.prog, "p", "", "program to spawn (absolute path)")
	fs.IntVar(&cfg.rssMiB, "r", 0, "MiB the caller maps and touches first")
	threads := fs.String("t", "1", "comma-separated goroutine counts")
	fs.IntVar(&cfg.rounds, "R", 3, "rounds: each cell once per round, in a random order")
	fs.Uint64Var(&cfg.seed, "s", 1, "seed of the random order")
	fs.IntVar(&cfg.iters, "n", 0, "spawns per goroutine and repetition (0: from -T)")
	fs.IntVar(&cfg.targetMS, "T", 1000, "target time of a repetition in ms, without -n")
	fs.IntVar(&cfg.minIters, "i", 10, "fewest spawns per goroutine, without -n")
	fs.IntVar(&cfg.maxIters, "I", 2000, "most spawns per goroutine, without -n")
	fs.IntVar(&cfg.warmup, "w", 3, "fewest warm-up spawns per goroutine")
	fs.IntVar(&cfg.warmupMS, "W", 200, "least warm-up time in ms")
	fs.BoolVar(&cfg.interleave, "x", false, "interleave the methods spawn by spawn (see the package doc)")
	fs.IntVar(&cfg.block, "xb", 1, "with -x, spawns of a method in a row in each step")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.prog == "" {
		return nil, errors.New("-p is required")
	}
	for _, s := range strings.Split(*threads, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-t: bad thread count %q", s)
		}
		cfg.threads = append(cfg.threads, n)
	}
	switch {
	case cfg.block < 1:
		return nil, errors.New("-xb must be positive")
	case cfg.interleave && cfg.iters%cfg.block != 0:
		return nil, fmt.Errorf("-n %d is not a whole number of -xb %d blocks", cfg.iters, cfg.block)
	case cfg.rounds < 1, cfg.iters < 0, cfg.targetMS < 1, cfg.minIters < 1, cfg.warmup < 0, cfg.warmupMS < 0:
		return nil, errors.New("-R, -T and -i must be positive, -n, -w and -W not negative")
	case cfg.minIters > cfg.maxIters:
		return nil, fmt.Errorf("-i %d is above -I %d", cfg.minIters, cfg.maxIters)
	}
	cfg.warmup = min(cfg.warmup, cfg.maxIters)
	env := fullEnv()
	dir := filepath.Dir(cfg.prog)
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	cfg.spawns = map[string]func() error{}
	cfg.unavailable = map[string]string{}
	var attrs *syscall.SysProcAttr
	var attrsWhyNot string
	for _, m := range strings.Split(*methods, ",") {
		switch m {
		case "osexec":
			cfg.spawns[m] = spawnOSExec(cfg.prog, nil)
		case "osexec_full":
			cfg.spawns[m] = spawnOSExec(cfg.prog, &realistic{env: env, dir: dir, devnull: devnull})
		case "spawn":
			cfg.spawns[m] = spawnCmd(cfg.prog, nil)
		case "spawn_full":
			cfg.spawns[m] = spawnCmd(cfg.prog, &realistic{env: env, dir: dir, devnull: devnull})
		case "osexec_attrs", "spawn_attrs":
			if attrs == nil && attrsWhyNot == "" {
				attrs, attrsWhyNot, err = newAttrs()
				if err != nil {
					return nil, err
				}
			}
			if attrsWhyNot != "" {
				cfg.unavailable[m] = attrsWhyNot
				break
			}
			full := &realistic{env: env, dir: dir, devnull: devnull, attrs: attrs}
			if m == "osexec_attrs" {
				cfg.spawns[m] = spawnOSExec(cfg.prog, full)
			} else {
				cfg.spawns[m] = spawnCmd(cfg.prog, full)
			}
		case "embryo", "embryo_full":
			var full *realistic
			if m == "embryo_full" {
				full = &realistic{env: env, dir: dir, devnull: devnull}
			}
			spawn, err := spawnEmbryo(cfg.prog, full)
			if err != nil {
				return nil, err
			}
			cfg.spawns[m] = spawn
		default:
			return nil, fmt.Errorf("unknown method %q (want osexec, spawn or embryo, with or without _full; osexec_attrs, spawn_attrs)", m)
		}
		cfg.methods = append(cfg.methods, m)
	}
	return cfg, nil
}

// realistic is what the _full variants give the child, and with attrs
// what the _attrs variants give it.
type realistic struct {
	env     []string
	dir     string
	devnull *os.File
	attrs   *syscall.SysProcAttr
}

// sysProcAttr is a copy of the attributes for one spawn (nil without).
func (r *realistic) sysProcAttr() *syscall.SysProcAttr {
	if r.attrs == nil {
		return nil
	}
	a := *r.attrs
	return &a
}

// newAttrs returns the _attrs variants' SysProcAttr: every field that
// spawn.Cmd does through an embryo and that needs no terminal. A new
// session; the caller's uid and gid with no supplementary groups (the
// set*id() and setgroups() calls of a privilege drop, without making the
// program unreachable); a chroot to /; the caller's own cgroup v2 (a
// CLONE_INTO_CGROUP for os/exec, PIDFD_CONFIG_CGROUP for the embryo);
// SIGKILL as the parent-death signal. whyNot says why they cannot be
// had here: they need root, and a cgroup v2 hierarchy.
func newAttrs() (attrs *syscall.SysProcAttr, whyNot string, err error) {
	if os.Geteuid() != 0 {
		return nil, "the attributes need root (setgroups, chroot, a cgroup move)", nil
	}
	cg, err := ownCgroup()
	var mountErr *cgroupMountError
	if errors.As(err, &mountErr) {
		return nil, err.Error(), nil
	}
	if err != nil {
		return nil, "", err
	}
	if cg == "" {
		return nil, "this process is in no cgroup v2 (no \"0::\" line in /proc/self/cgroup)", nil
	}
	fd, err := unix.Open(cg, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("opening our cgroup %s: %w", cg, err)
	}
	return &syscall.SysProcAttr{
		Setsid:      true,
		Credential:  &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Groups: []uint32{}},
		Chroot:      "/",
		UseCgroupFD: true,
		CgroupFD:    fd,
		Pdeathsig:   syscall.SIGKILL,
	}, "", nil
}

// ownCgroup returns the directory of our cgroup v2 ("0::" in
// /proc/self/cgroup) under the first cgroup2 mount, mounting one for the
// run if there is none, or "" if we are in no cgroup v2.
func ownCgroup() (string, error) {
	mnt, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	if mnt == "" {
		// None mounted (u-root's init mounts only v1 hierarchies):
		// mount one for the run, detached when the program exits. The
		// kernel shows the "0::" line only once one is mounted.
		if mnt, err = os.MkdirTemp("", "gospawn-cgroup2-"); err != nil {
			return "", err
		}
		if err := unix.Mount("cgroup2", mnt, "cgroup2", 0, ""); err != nil {
			os.Remove(mnt)
			return "", &cgroupMountError{mnt, err}
		}
		cleanups = append(cleanups, func() {
			unix.Unmount(mnt, unix.MNT_DETACH)
			os.Remove(mnt)
		})
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mnt, rel), nil
		}
	}
	return "", nil
}

// cgroupMountError is a failed mount of a cgroup2 for the run: the
// attributes variants are then unavailable, not an error.
type cgroupMountError struct {
	dir string
	err error
}

func (e *cgroupMountError) Error() string {
	return fmt.Sprintf("no cgroup2 mounted, and mounting one on %s: %v", e.dir, e.err)
}

// cgroup2Mount returns the first mount of the whole cgroup2 hierarchy, ""
// if there is none.
func cgroup2Mount() (string, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if ok && len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" && pf[3] == "/" {
			return pf[4], nil
		}
	}
	return "", nil
}

// cleanups undo what the program set up for its methods, at its exit.
var cleanups []func()

// fullEnv is the realistic variants' environment, the same 30 variables
// as spawnbench.c's.
func fullEnv() []string {
	env := make([]string, 30)
	for i := range env {
		env[i] = fmt.Sprintf("BENCH_VARIABLE_%02d=value-of-the-variable-%02d", i, i)
	}
	return env
}

func spawnOSExec(prog string, full *realistic) func() error {
	if full == nil {
		return func() error { return exec.Command(prog).Run() }
	}
	return func() error {
		cmd := exec.Command(prog)
		cmd.Env, cmd.Dir = full.env, full.dir
		cmd.Stdin, cmd.Stdout, cmd.Stderr = full.devnull, full.devnull, full.devnull
		cmd.SysProcAttr = full.sysProcAttr()
		return cmd.Run()
	}
}

// spawnCmd is spawnOSExec through package spawn: the same fields set, so
// the same work (with nil ones, the caller's environment and /dev/null).
func spawnCmd(prog string, full *realistic) func() error {
	return func() error {
		cmd := spawn.Command(prog)
		if full != nil {
			cmd.Env, cmd.Dir = full.env, full.dir
			cmd.Stdin, cmd.Stdout, cmd.Stderr = full.devnull, full.devnull, full.devnull
			cmd.SysProcAttr = full.sysProcAttr()
		}
		if err := cmd.Run(); err != nil {
			return err
		}
		if m := cmd.Mechanism(); m != spawn.Embryo {
			return fmt.Errorf("spawn.Cmd started %s by %v (%s), not by an embryo", prog, m, cmd.FallbackReason())
		}
		return nil
	}
}

func spawnEmbryo(prog string, full *realistic) (func() error, error) {
	path, err := unix.BytePtrFromString(prog)
	if err != nil {
		return nil, err
	}
	// On the heap (the closure holds them), so the addresses stay valid.
	argv := []*byte{path, nil}
	exe := &pidfd.ExecArg{Path: uint64(uintptr(unsafe.Pointer(path))), Dirfd: unix.AT_FDCWD}
	args := &pidfd.StringsArg{Strings: uint64(uintptr(unsafe.Pointer(&argv[0])))}
	var extra []configCall
	if full != nil {
		envp := make([]*byte, 0, len(full.env)+1)
		for _, kv := range full.env {
			p, err := unix.BytePtrFromString(kv)
			if err != nil {
				return nil, err
			}
			envp = append(envp, p)
		}
		envp = append(envp, nil)
		dir, err := unix.BytePtrFromString(full.dir)
		if err != nil {
			return nil, err
		}
		env := &pidfd.StringsArg{Strings: uint64(uintptr(unsafe.Pointer(&envp[0])))}
		extra = append(extra, configCall{"ENVP", pidfd.PIDFD_CONFIG_ENVP, unsafe.Pointer(env), unsafe.Sizeof(*env), envp})
		for fd := range uint32(3) {
			dup := &pidfd.FDArg{Action: pidfd.PIDFD_FD_DUP, SrcFd: int32(full.devnull.Fd()), Fd: fd}
			extra = append(extra, configCall{fmt.Sprintf("FD DUP %d", fd), pidfd.PIDFD_CONFIG_FD, unsafe.Pointer(dup), unsafe.Sizeof(*dup), full.devnull})
		}
		cwd := &pidfd.CwdArg{Path: uint64(uintptr(unsafe.Pointer(dir))), Dirfd: unix.AT_FDCWD}
		extra = append(extra, configCall{"CWD", pidfd.PIDFD_CONFIG_CWD, unsafe.Pointer(cwd), unsafe.Sizeof(*cwd), dir})
	}
	return func() error {
		fd, err := pidfd.Open(0, pidfd.PIDFD_EMPTY)
		if err != nil {
			return fmt.Errorf("pidfd_open(0, PIDFD_EMPTY): %w", err)
		}
		defer unix.Close(fd)
		if _, _, errno := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(fd), pidfd.PIDFD_CONFIG_EXEC,
			uintptr(unsafe.Pointer(exe)), unsafe.Sizeof(*exe), 0, 0); errno != 0 {
			return fmt.Errorf("pidfd_config(EXEC): %w", errno)
		}
		if _, _, errno := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(fd), pidfd.PIDFD_CONFIG_ARGV,
			uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0, 0); errno != 0 {
			return fmt.Errorf("pidfd_config(ARGV): %w", errno)
		}
		for _, c := range extra {
			if _, _, errno := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(fd), c.cmd,
				uintptr(c.arg), c.size, 0, 0); errno != 0 {
				return fmt.Errorf("pidfd_config(%s): %w", c.what, errno)
			}
			runtime.KeepAlive(c.keep)
		}
		runtime.KeepAlive(argv)
		pid, _, errno := unix.Syscall(pidfd.SYS_PIDFD_SPAWN_RUN, uintptr(fd), 0, 0)
		if errno != 0 {
			return fmt.Errorf("pidfd_spawn_run: %w", errno)
		}
		return waitPidfd(fd, int(pid))
	}, nil
}

// configCall is one prepared pidfd_config call; keep is what its argument
// points to.
type configCall struct {
	what string
	cmd  uintptr
	arg  unsafe.Pointer
	size uintptr
	keep any
}

func waitPidfd(fd, pid int) error {
	for {
		ex, err := pidfd.Waitid(unix.P_PIDFD, fd, unix.WEXITED)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waitid(P_PIDFD) for %d: %w", pid, err)
		}
		if !ex.Exited(0) {
			return fmt.Errorf("child %d: %v, want exit 0", pid, ex)
		}
		return nil
	}
}

func run(cfg *config) error {
	var avail []string
	for _, m := range cfg.methods {
		if reason, ok := cfg.unavailable[m]; ok {
			if err := emit(results.Raw{Method: m, Reason: reason}); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(m, "embryo") || strings.HasPrefix(m, "spawn") {
			switch err := pidfd.Probe(); {
			case errors.Is(err, pidfd.ErrNotSupported):
				reason := "pidfd_open(0, PIDFD_EMPTY) failed with EINVAL: the kernel has no empty pidfds"
				if err != pidfd.ErrNotSupported {
					reason = err.Error() // PIDFD_EMPTY, but another version of the series
				}
				if err := emit(results.Raw{Method: m, Reason: reason}); err != nil {
					return err
				}
				continue
			case err != nil:
				return err
			}
		}
		avail = append(avail, m)
	}
	if len(avail) == 0 {
		return nil
	}
	mem, callerKiB, err := grow(cfg.rssMiB)
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(mem)
	type cell struct {
		method  string
		threads int
	}
	var cells []cell
	for _, m := range avail {
		for _, n := range cfg.threads {
			cells = append(cells, cell{m, n})
		}
	}
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	if cfg.interleave {
		return runInterleaved(cfg, avail, callerKiB, rng)
	}
	for round := range cfg.rounds {
		rng.Shuffle(len(cells), func(i, j int) { cells[i], cells[j] = cells[j], cells[i] })
		for _, c := range cells {
			cfg.spawnOnce = cfg.spawns[c.method]
			iters, warm, err := warmUp(cfg, c.threads)
			if err != nil {
				return fmt.Errorf("%s: %w", c.method, err)
			}
			lat, wall, err := timed(cfg, c.threads, iters)
			if err != nil {
				return fmt.Errorf("%s: %w", c.method, err)
			}
			if err := emit(results.Raw{Method: c.method, Available: true, RSSMiB: cfg.rssMiB,
				CallerRSSKiB: callerKiB, Threads: c.threads, Rep: round, Warmup: warm, Iterations: iters,
				WallNS: wall.Nanoseconds(), LatNS: lat}); err != nil {
				return err
			}
		}
	}
	return nil
}

// runInterleaved is run's -x schedule: each round, the goroutine counts in
// a random order; for each, every method warmed up (in a random order),
// then its spawns interleaved with the others' (interleaved).
func runInterleaved(cfg *config, methods []string, callerKiB int64, rng *rand.Rand) error {
	threads := slices.Clone(cfg.threads)
	ms := slices.Clone(methods)
	for round := range cfg.rounds {
		rng.Shuffle(len(threads), func(i, j int) { threads[i], threads[j] = threads[j], threads[i] })
		for _, n := range threads {
			rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
			iters := cfg.maxIters
			warm := make(map[string]int, len(ms))
			for _, m := range ms {
				cfg.spawnOnce = cfg.spawns[m]
				it, w, err := warmUp(cfg, n)
				if err != nil {
					return fmt.Errorf("%s: %w", m, err)
				}
				// The slowest method sets the steps: each method's
				// spawns take about the target time, or less.
				iters, warm[m] = min(iters, it), w
			}
			// Whole blocks, at least one.
			iters = max(cfg.block, iters/cfg.block*cfg.block)
			spawns := make([]func() error, len(ms))
			for i, m := range ms {
				spawns[i] = cfg.spawns[m]
			}
			lat, wall, err := interleaved(rng, spawns, n, iters, cfg.block)
			if err != nil {
				return err
			}
			for i, m := range ms {
				if err := emit(results.Raw{Method: m, Available: true, RSSMiB: cfg.rssMiB,
					CallerRSSKiB: callerKiB, Threads: n, Rep: round, Warmup: warm[m], Iterations: iters,
					WallNS: wall[i].Nanoseconds(), LatNS: lat[i]}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// stepOrder is the order in which a step of an interleaved run makes the
// spawns of its k methods: a random permutation, drawn anew for each
// step, so that each method comes first, last, and after each other
// method equally often. That balances the positions, not what a spawn
// leaves behind for the next one (a reaped task's freeing, deferred
// work): a method that leaves more slows the others.
func stepOrder(rng *rand.Rand, k int) []int {
	return rng.Perm(k)
}

// interleaved makes iters spawns of each function on each of n
// goroutines, in steps: in each, every function's block spawns in a row,
// the functions in a stepOrder from rng; all goroutines make the same
// spawn at once. iters must be a multiple of block. The goroutines are
// started once, as the cell schedule's are (timed): one goroutine makes
// its spawns back to back; several wait for each other after each spawn
// (a barrier). It returns each function's latencies (n*iters, goroutine
// by goroutine: goroutine g's j'th spawn of it at g*iters+j) and its wall
// time: the sum over its spawns of the time from the first goroutine's
// start of it to the last one's end.
func interleaved(rng *rand.Rand, spawns []func() error, n, iters, block int) ([][]int64, []time.Duration, error) {
	if block < 1 || iters%block != 0 {
		return nil, nil, fmt.Errorf("%d spawns are not a whole number of blocks of %d", iters, block)
	}
	k := len(spawns)
	var seq []int // the function of each spawn, in order
	for range iters / block {
		for _, f := range stepOrder(rng, k) {
			for range block {
				seq = append(seq, f)
			}
		}
	}
	lat := make([][]int64, k)
	for i := range lat {
		lat[i] = make([]int64, n*iters)
	}
	// start and end of each spawn, by goroutine and place in seq.
	start := make([]time.Time, n*len(seq))
	end := make([]time.Time, n*len(seq))
	bar := newBarrier(n)
	_, err := together(n, func(g int) error {
		made := make([]int, k) // spawns of each function so far
		for i, f := range seq {
			slot := g*len(seq) + i
			start[slot] = time.Now()
			err := spawns[f]()
			end[slot] = time.Now()
			lat[f][g*iters+made[f]] = end[slot].Sub(start[slot]).Nanoseconds()
			made[f]++
			// Every goroutine goes on to the barrier, so that none
			// waits forever for one that failed; together returns
			// the first error.
			if !bar.wait(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	wall := make([]time.Duration, k)
	for i, f := range seq {
		first, last := start[i], end[i]
		for g := 1; g < n; g++ {
			if t := start[g*len(seq)+i]; t.Before(first) {
				first = t
			}
			if t := end[g*len(seq)+i]; t.After(last) {
				last = t
			}
		}
		wall[f] += last.Sub(first)
	}
	return lat, wall, nil
}

// barrier lets n goroutines wait for each other, again and again, and
// tells them whether any of them failed.
type barrier struct {
	n          int
	mu         sync.Mutex
	cond       *sync.Cond
	arrived    int
	generation int // of the wait that goroutines arrive at now
	failedAt   int // the first generation at which one failed, or -1
}

func newBarrier(n int) *barrier {
	b := &barrier{n: n, failedAt: -1}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// wait returns once all n goroutines have called it (at once for one),
// false if one of them passed an error to this wait or an earlier one.
// What it returns is the wait's own: a goroutine released from one wait
// and slow to wake still answers for that wait, not for the next, where
// another may have failed meanwhile.
func (b *barrier) wait(err error) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	gen := b.generation
	if err != nil && b.failedAt < 0 {
		b.failedAt = gen
	}
	b.arrived++
	if b.arrived == b.n {
		b.arrived = 0
		b.generation++
		b.cond.Broadcast()
	} else {
		for gen == b.generation {
			b.cond.Wait()
		}
	}
	return b.failedAt < 0 || b.failedAt > gen
}

func emit(r results.Raw) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

// grow maps and touches mib MiB, as spawnbench.c does, and returns the
// mapping and the process's VmRSS after.
func grow(mib int) ([]byte, int64, error) {
	var mem []byte
	if mib > 0 {
		var err error
		mem, err = unix.Mmap(-1, 0, mib<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			return nil, 0, fmt.Errorf("mapping %d MiB: %w", mib, err)
		}
		// EINVAL: no transparent huge pages; ENOSYS: no madvise.
		if err := unix.Madvise(mem, unix.MADV_NOHUGEPAGE); err != nil && !tolerable(err) {
			return nil, 0, fmt.Errorf("madvise(MADV_NOHUGEPAGE): %w", err)
		}
		if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err != nil && !tolerable(err) {
			return nil, 0, fmt.Errorf("madvise(MADV_POPULATE_WRITE) of %d MiB: %w", mib, err)
		}
		page := os.Getpagesize()
		for off := 0; off < len(mem); off += page {
			mem[off] = 1
		}
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return nil, 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return mem, kib, nil
		}
	}
	return nil, 0, errors.New("no VmRSS in /proc/self/status")
}

func tolerable(err error) bool { return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) }

// together runs fn(i) on n goroutines released at once and returns the
// wall time from the release until the last one is done, and the first
// error in goroutine order.
func together(n int, fn func(i int) error) (time.Duration, error) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	wall := time.Since(t0)
	for _, err := range errs {
		if err != nil {
			return wall, err
		}
	}
	return wall, nil
}

// warmUp spawns on n goroutines for at least cfg.warmup spawns each and
// cfg.warmupMS, and returns the spawns per goroutine for one repetition and
// the fewest warm-up spawns a goroutine made.
func warmUp(cfg *config, n int) (iters, warm int, err error) {
	counts := make([]int, n)
	elapsed := make([]time.Duration, n)
	_, err = together(n, func(i int) error {
		t0 := time.Now()
		end := t0.Add(time.Duration(cfg.warmupMS) * time.Millisecond)
		for counts[i] < cfg.maxIters && (counts[i] < cfg.warmup || time.Now().Before(end)) {
			if err := cfg.spawnOnce(); err != nil {
				return err
			}
			counts[i]++
		}
		elapsed[i] = time.Since(t0)
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	warm = counts[0]
	var count int
	var total time.Duration
	for i := range n {
		warm = min(warm, counts[i])
		count += counts[i]
		total += elapsed[i]
	}
	if cfg.iters > 0 {
		return cfg.iters, warm, nil
	}
	// Each goroutine makes a spawn every total/count.
	iters = 1
	if count > 0 {
		iters = int(float64(cfg.targetMS)*1e6*float64(count)/float64(max(total.Nanoseconds(), 1))) + 1
	}
	return max(cfg.minIters, min(iters, cfg.maxIters)), warm, nil
}

// timed makes iters spawns on each of n goroutines and returns every
// spawn's latency and the wall time.
func timed(cfg *config, n, iters int) ([]int64, time.Duration, error) {
	lat := make([]int64, n*iters)
	wall, err := together(n, func(i int) error {
		mine := lat[i*iters : (i+1)*iters]
		for j := range mine {
			t0 := time.Now()
			if err := cfg.spawnOnce(); err != nil {
				return err
			}
			mine[j] = time.Since(t0).Nanoseconds()
		}
		return nil
	})
	return lat, wall, err
}
