// Package runner builds the spawn benchmark's programs (on the host) and
// runs them (in the guest, or on the host for a check), turning their output
// into results.Cell values. The guest sweep (bench/sweep) and the smoke test
// in the normal VM boot (selftests/benchsmoke) both run the benchmark
// through it.
package runner

import (
	"bufio"
	"bytes"
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

// Params describe one run of a benchmark program: one method at one caller
// size, for each thread count.
type Params struct {
	Dir     string // directory holding spawnbench, gospawn and noop
	RSSMiB  int    // memory the caller maps and touches first
	Threads []int  // thread (goroutine) counts, each one cell
	Reps    int    // timed repetitions per cell
	// Iterations is the spawns per thread and repetition; 0 lets the
	// program pick enough for TargetMS per repetition, within
	// [MinIterations, MaxIterations].
	Iterations                   int
	TargetMS                     int
	MinIterations, MaxIterations int
	Warmup, WarmupMS             int // warm-up per thread: at least Warmup spawns and WarmupMS
	// Timeout bounds the program; 0 means none.
	Timeout time.Duration
}

// Smoke are the parameters of a smoke run: one small cell, few spawns.
func Smoke(dir string) Params {
	return Params{Dir: dir, RSSMiB: 8, Threads: []int{2}, Reps: 1, Iterations: 3,
		TargetMS: 1, MinIterations: 1, MaxIterations: 3, Warmup: 1, Timeout: 5 * time.Minute}
}

// Args returns the program's command-line arguments for method m.
func (p Params) Args(m results.Method) []string {
	threads := make([]string, len(p.Threads))
	for i, n := range p.Threads {
		threads[i] = strconv.Itoa(n)
	}
	args := []string{
		"-m", m.Flag,
		"-p", filepath.Join(p.Dir, Noop),
		"-r", strconv.Itoa(p.RSSMiB),
		"-t", strings.Join(threads, ","),
		"-R", strconv.Itoa(p.Reps),
		"-w", strconv.Itoa(p.Warmup),
		"-W", strconv.Itoa(p.WarmupMS),
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
	if len(p.Threads) == 0 || p.Reps < 1 {
		return nil, fmt.Errorf("%s: need thread counts and at least one repetition", m.ID)
	}
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	bin := filepath.Join(p.Dir, m.Binary)
	cmd := exec.CommandContext(ctx, bin, p.Args(m)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %s killed after %s: %w\n%s", m.ID, cmd, time.Since(start).Round(time.Second), ctx.Err(), stderr.Bytes())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w: %s", m.ID, cmd, err, strings.TrimSpace(stderr.String()))
	}
	raws, err := results.ParseRaw(&stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: output of %s: %w", m.ID, cmd, err)
	}
	cells, err := cellsFrom(m, p, raws)
	if err != nil {
		return nil, fmt.Errorf("%s: output of %s: %w", m.ID, cmd, err)
	}
	kernel := Kernel()
	for i := range cells {
		cells[i].Kernel = kernel
		cells[i].VCPUs = runtime.NumCPU()
	}
	return cells, nil
}

// cellsFrom checks a program's lines against what was asked and folds
// them into cells.
func cellsFrom(m results.Method, p Params, raws []results.Raw) ([]results.Cell, error) {
	if len(raws) == 1 && !raws[0].Available {
		if raws[0].Reason == "" {
			return nil, errors.New("method unavailable, without a reason")
		}
		cells := make([]results.Cell, len(p.Threads))
		for i, n := range p.Threads {
			cells[i] = results.Unavailable(m.ID, p.RSSMiB, n, raws[0].Reason)
		}
		return cells, nil
	}
	byThreads := map[int][]results.Raw{}
	for _, r := range raws {
		if r.Method != m.Flag {
			return nil, fmt.Errorf("a line of method %q, want %q", r.Method, m.Flag)
		}
		if r.RSSMiB != p.RSSMiB {
			return nil, fmt.Errorf("a line of %d MiB, want %d", r.RSSMiB, p.RSSMiB)
		}
		if !slices.Contains(p.Threads, r.Threads) {
			return nil, fmt.Errorf("a line of %d threads, not asked for", r.Threads)
		}
		if p.Iterations > 0 && r.Iterations != p.Iterations {
			return nil, fmt.Errorf("%d iterations, want %d", r.Iterations, p.Iterations)
		}
		byThreads[r.Threads] = append(byThreads[r.Threads], r)
	}
	var cells []results.Cell
	for _, n := range p.Threads {
		reps := byThreads[n]
		if len(reps) != p.Reps {
			return nil, fmt.Errorf("%d repetitions on %d threads, want %d", len(reps), n, p.Reps)
		}
		c, err := results.Summarize(m.ID, reps)
		if err != nil {
			return nil, err
		}
		cells = append(cells, c)
	}
	return cells, nil
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
