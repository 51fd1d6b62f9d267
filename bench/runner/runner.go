// Package runner builds the spawn benchmark's programs (on the host) and
// runs them (in the guest, or on the host for a check), turning their output
// into results.Cell values. The guest sweep (bench/sweep) and the smoke test
// in the normal VM boot (selftests/benchsmoke) both run the benchmark
// through it.
package runner

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/bench/results"
)

// GuestDir is where the host harness puts the programs Build makes in the
// guest's initramfs.
const GuestDir = "/bench"

// Noop is the program every method spawns (bench/noop.c).
const Noop = "noop"

// InterleavingBinary is the one benchmark program that can interleave its
// methods spawn by spawn (Params.Interleave).
const InterleavingBinary = "gospawn"

// Params describe one run of a benchmark program: its methods at one caller
// size, for each thread count.
type Params struct {
	Dir     string // directory holding spawnbench, gospawn and noop
	RSSMiB  int    // memory the caller maps and touches first
	Threads []int  // thread (goroutine) counts, each one cell per method
	// Reps is the rounds: each round runs every (method, threads) cell
	// once, warm-up and one timed repetition, in a random order.
	Reps int
	Seed uint64 // of that order
	// Iterations is the spawns per thread and repetition; 0 lets the
	// program pick enough for TargetMS per repetition, within
	// [MinIterations, MaxIterations].
	Iterations                   int
	TargetMS                     int
	MinIterations, MaxIterations int
	Warmup, WarmupMS             int // warm-up per thread: at least Warmup spawns and WarmupMS
	// Interleave has the program interleave its methods spawn by spawn
	// (gospawn -x) rather than cell by cell; only gospawn can.
	Interleave bool
	// Block is, when interleaving, the spawns of a method in a row in
	// each step (gospawn -xb); 0 or 1, one.
	Block int
	// Timeout bounds the program; 0 means none.
	Timeout time.Duration
}

// Smoke are the parameters of a smoke run: one small cell, few spawns.
func Smoke(dir string) Params {
	return Params{Dir: dir, RSSMiB: 8, Threads: []int{2}, Reps: 1, Iterations: 3,
		TargetMS: 1, MinIterations: 1, MaxIterations: 3, Warmup: 1, Timeout: 5 * time.Minute}
}

// Args returns the program's command-line arguments for methods ms, all
// of one program.
func (p Params) Args(ms []results.Method) []string {
	threads := make([]string, len(p.Threads))
	for i, n := range p.Threads {
		threads[i] = strconv.Itoa(n)
	}
	flags := make([]string, len(ms))
	for i, m := range ms {
		flags[i] = m.Flag
	}
	args := []string{
		"-m", strings.Join(flags, ","),
		"-p", filepath.Join(p.Dir, Noop),
		"-r", strconv.Itoa(p.RSSMiB),
		"-t", strings.Join(threads, ","),
		"-R", strconv.Itoa(p.Reps),
		"-s", strconv.FormatUint(max(p.Seed, 1), 10),
		"-w", strconv.Itoa(p.Warmup),
		"-W", strconv.Itoa(p.WarmupMS),
	}
	if p.Interleave {
		args = append(args, "-x")
		if p.Block > 1 {
			args = append(args, "-xb", strconv.Itoa(p.Block))
		}
	}
	if p.Iterations > 0 {
		return append(args, "-n", strconv.Itoa(p.Iterations))
	}
	return append(args,
		"-T", strconv.Itoa(p.TargetMS),
		"-i", strconv.Itoa(p.MinIterations),
		"-I", strconv.Itoa(p.MaxIterations))
}

// Run runs method m with p and returns one cell per thread count, in the
// order of p.Threads. A method the running kernel does not have gives
// cells with Available false and the reason; a failed spawn, a child that
// did not exit 0, or output that does not add up is an error.
func Run(ctx context.Context, m results.Method, p Params) ([]results.Cell, error) {
	b, err := RunBatch(ctx, []results.Method{m}, p)
	if err != nil {
		return nil, err
	}
	return b.Cells(m, p.RSSMiB, p.Threads)
}

// Batch is what one or more program runs at one caller size gave, by
// method ID: the timed repetitions of each (method, threads) cell in the
// order they ran, or why the method is unavailable.
type Batch struct {
	Reps        map[string]map[int][]results.Raw // method ID, threads
	Unavailable map[string]string                // method ID: reason
	Kernel      string
	VCPUs       int
}

// Add appends o's repetitions to b's.
func (b *Batch) Add(o Batch) {
	if b.Reps == nil {
		b.Reps, b.Unavailable = map[string]map[int][]results.Raw{}, map[string]string{}
	}
	for id, byThreads := range o.Reps {
		if b.Reps[id] == nil {
			b.Reps[id] = map[int][]results.Raw{}
		}
		for n, raws := range byThreads {
			b.Reps[id][n] = append(b.Reps[id][n], raws...)
		}
	}
	for id, why := range o.Unavailable {
		b.Unavailable[id] = why
	}
	b.Kernel, b.VCPUs = cmp.Or(o.Kernel, b.Kernel), cmp.Or(o.VCPUs, b.VCPUs)
}

// Cells folds m's repetitions at rssMiB into one cell per thread count.
func (b Batch) Cells(m results.Method, rssMiB int, threads []int) ([]results.Cell, error) {
	cells := make([]results.Cell, len(threads))
	for i, n := range threads {
		if why, ok := b.Unavailable[m.ID]; ok {
			cells[i] = results.Unavailable(m.ID, rssMiB, n, why)
		} else {
			c, err := results.Summarize(m.ID, b.Reps[m.ID][n])
			if err != nil {
				return nil, err
			}
			cells[i] = c
		}
		cells[i].Kernel, cells[i].VCPUs = b.Kernel, b.VCPUs
	}
	return cells, nil
}

// RunBatch runs the methods ms, all of one program, with p in one
// program run.
func RunBatch(ctx context.Context, ms []results.Method, p Params) (Batch, error) {
	if len(ms) == 0 || len(p.Threads) == 0 || p.Reps < 1 {
		return Batch{}, errors.New("need methods, thread counts and at least one round")
	}
	byFlag := map[string]results.Method{}
	for _, m := range ms {
		if m.Binary != ms[0].Binary {
			return Batch{}, fmt.Errorf("methods %s and %s are of different programs", ms[0].ID, m.ID)
		}
		byFlag[m.Flag] = m
	}
	if p.Interleave && ms[0].Binary != InterleavingBinary {
		return Batch{}, fmt.Errorf("%s cannot interleave its methods spawn by spawn (only %s can)", ms[0].Binary, InterleavingBinary)
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	bin := filepath.Join(p.Dir, ms[0].Binary)
	cmd := exec.CommandContext(ctx, bin, p.Args(ms)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		return Batch{}, fmt.Errorf("%s killed after %s: %w\n%s", cmd, time.Since(start).Round(time.Second), ctx.Err(), stderr.Bytes())
	}
	if err != nil {
		return Batch{}, fmt.Errorf("%s: %w: %s", cmd, err, strings.TrimSpace(stderr.String()))
	}
	raws, err := results.ParseRaw(&stdout)
	if err != nil {
		return Batch{}, fmt.Errorf("output of %s: %w", cmd, err)
	}
	b, err := batchFrom(byFlag, p, raws)
	if err != nil {
		return Batch{}, fmt.Errorf("output of %s: %w", cmd, err)
	}
	b.Kernel, b.VCPUs = Kernel(), runtime.NumCPU()
	return b, nil
}

// batchFrom checks a program's lines against what was asked: each
// method either unavailable or with p.Reps repetitions per thread count.
func batchFrom(byFlag map[string]results.Method, p Params, raws []results.Raw) (Batch, error) {
	b := Batch{Reps: map[string]map[int][]results.Raw{}, Unavailable: map[string]string{}}
	for _, r := range raws {
		m, ok := byFlag[r.Method]
		if !ok {
			return Batch{}, fmt.Errorf("a line of method %q, not asked for", r.Method)
		}
		if !r.Available {
			if r.Reason == "" {
				return Batch{}, fmt.Errorf("%s: unavailable, without a reason", m.ID)
			}
			b.Unavailable[m.ID] = r.Reason
			continue
		}
		if r.RSSMiB != p.RSSMiB {
			return Batch{}, fmt.Errorf("%s: a line of %d MiB, want %d", m.ID, r.RSSMiB, p.RSSMiB)
		}
		if !slices.Contains(p.Threads, r.Threads) {
			return Batch{}, fmt.Errorf("%s: a line of %d threads, not asked for", m.ID, r.Threads)
		}
		if p.Iterations > 0 && r.Iterations != p.Iterations {
			return Batch{}, fmt.Errorf("%s: %d iterations, want %d", m.ID, r.Iterations, p.Iterations)
		}
		if b.Reps[m.ID] == nil {
			b.Reps[m.ID] = map[int][]results.Raw{}
		}
		b.Reps[m.ID][r.Threads] = append(b.Reps[m.ID][r.Threads], r)
	}
	for _, m := range byFlag {
		if _, ok := b.Unavailable[m.ID]; ok {
			if len(b.Reps[m.ID]) != 0 {
				return Batch{}, fmt.Errorf("%s: both unavailable and measured", m.ID)
			}
			continue
		}
		for _, n := range p.Threads {
			if got := len(b.Reps[m.ID][n]); got != p.Reps {
				return Batch{}, fmt.Errorf("%s: %d repetitions on %d threads, want %d", m.ID, got, n, p.Reps)
			}
		}
	}
	return b, nil
}

// Kernel returns the running kernel's release (uname -r).
func Kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// Build compiles the benchmark programs into dir: spawnbench and noop from
// bench/*.c with $CC (default cc, static glibc), and gospawn with
// CGO_ENABLED=0. It runs on the host, for a guest of the same architecture.
func Build(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	src := filepath.Join(root, "bench")
	steps := []struct {
		env  []string
		args []string
	}{
		{nil, []string{cc, "-O2", "-Wall", "-Wextra", "-static", "-pthread",
			"-o", filepath.Join(dir, "spawnbench"), filepath.Join(src, "spawnbench.c")}},
		{nil, []string{cc, "-O2", "-Wall", "-Wextra", "-static", "-nostdlib", "-fno-stack-protector",
			"-o", filepath.Join(dir, Noop), filepath.Join(src, "noop.c")}},
		{[]string{"CGO_ENABLED=0"}, []string{"go", "build", "-o", filepath.Join(dir, "gospawn"), "./bench/cmd/gospawn"}},
	}
	for _, s := range steps {
		cmd := exec.Command(s.args[0], s.args[1:]...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), s.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the benchmark: %s: %w\n%s", strings.Join(s.args, " "), err, out)
		}
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the emptypidfd module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// ReadConf reads a file of NAME=value lines (blank lines and # comments
// ignored), the format of the files the host harness puts in the guest.
func ReadConf(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	conf := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not NAME=value", path, line)
		}
		conf[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return conf, sc.Err()
}
