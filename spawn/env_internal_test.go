package spawn

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestDedupEnv(t *testing.T) {
	many := make([]string, smallEnv)
	for i := range many {
		many[i] = fmt.Sprintf("K%d=%d", i, i)
	}
	tests := []struct {
		name    string
		env     []string
		want    []string
		wantErr bool
		same    bool // returned as it is
	}{
		{name: "nil", env: nil, want: nil, same: true},
		{name: "distinct", env: []string{"A=1", "B=2", "AB=3"}, want: []string{"A=1", "B=2", "AB=3"}, same: true},
		{name: "last of a key wins", env: []string{"A=1", "B=2", "A=3"}, want: []string{"B=2", "A=3"}},
		{name: "same key, no value", env: []string{"A=", "A=x"}, want: []string{"A=x"}},
		{name: "no '=' is kept, never a key", env: []string{"A", "A=1", "A"}, want: []string{"A", "A=1", "A"}, same: true},
		{name: "empty entry dropped", env: []string{"A=1", "", "B=2"}, want: []string{"A=1", "B=2"}},
		{name: "leading '=' (Windows habit)", env: []string{"=C:=x", "=C:=y", "=D:=z"}, want: []string{"=C:=y", "=D:=z"}},
		{name: "'=' and '=a' share the empty key, as in os/exec", env: []string{"=", "==", "=a"}, want: []string{"==", "=a"}},
		{name: "'==' and '=b=' differ", env: []string{"==", "=b="}, want: []string{"==", "=b="}, same: true},
		{name: "NUL", env: []string{"A=1", "B=\x00", "C=3"}, want: []string{"A=1", "C=3"}, wantErr: true},
		{name: "smallEnv distinct", env: many, want: many, same: true},
		{name: "smallEnv with a duplicate", env: append(slices.Clone(many[:smallEnv-1]), "K7=x"), want: append(append(slices.Clone(many[:7]), many[8:smallEnv-1]...), "K7=x")},
		{name: "above smallEnv", env: append(slices.Clone(many), "K0=x"), want: append(slices.Clone(many[1:]), "K0=x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dedupEnv(tc.env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if same := len(tc.env) > 0 && len(got) > 0 && &got[0] == &tc.env[0]; same != tc.same && len(tc.env) > 0 {
				t.Errorf("returned as it is: %v, want %v", same, tc.same)
			}
		})
	}
}

// Every fast-path answer agrees with the map's, for environments built
// from a few keys, so that keys repeat and collide in every position.
func TestNeedsDedupAgreesWithMap(t *testing.T) {
	parts := []string{"A=1", "B=2", "A=3", "C", "", "=X=1", "=X=2", "AB=4"}
	var env []string
	var walk func(depth int)
	walk = func(depth int) {
		if depth == 0 {
			return
		}
		for _, p := range parts {
			env = append(env, p)
			want, _ := dedupEnvMap(env)
			if needsDedup(env) != !slices.Equal(want, env) {
				t.Fatalf("needsDedup(%q) = %v; the map gives %q", env, needsDedup(env), want)
			}
			walk(depth - 1)
			env = env[:len(env)-1]
		}
	}
	walk(4)
}

// Environ hands out a copy, never the Cmd's own Env, which dedupEnv may
// return as it is.
func TestEnvironIsACopy(t *testing.T) {
	c := Command("true")
	c.Env = []string{"A=1", "B=2"}
	env := c.Environ()
	if !slices.Equal(env, c.Env) {
		t.Fatalf("Environ() = %q, want %q", env, c.Env)
	}
	env[0] = "A=changed"
	if c.Env[0] != "A=1" {
		t.Errorf("writing Environ()'s result changed Env: %q", c.Env)
	}
}

func BenchmarkDedupEnv30(b *testing.B) {
	env := make([]string, 30)
	for i := range env {
		env[i] = fmt.Sprintf("BENCH_VARIABLE_%02d=value-of-the-variable-%02d", i, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		dedupEnv(env)
	}
}

// resetEnvCache forgets every kept environment.
func resetEnvCache() {
	for i := range envCache.slots {
		envCache.slots[i].Store(nil)
	}
}

// keptEnvs counts the kept environments.
func keptEnvs() int {
	n := 0
	for i := range envCache.slots {
		if envCache.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

func TestEnvVector(t *testing.T) {
	base := []string{"A=1", "B=2", "C=3"}
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		cmd     *Cmd
		want    []string // the vector's strings
		wantErr string
	}{
		{name: "as given", cmd: &Cmd{Env: base}, want: base},
		{name: "deduplicated", cmd: &Cmd{Env: []string{"A=1", "B=2", "A=3"}}, want: []string{"B=2", "A=3"}},
		{name: "empty", cmd: &Cmd{Env: []string{}}, want: []string{}},
		{name: "NUL", cmd: &Cmd{Env: []string{"A=\x00"}}, wantErr: "exec: environment variable contains NUL"},
		{name: "caller's with PWD", cmd: &Cmd{Dir: dir}, want: append(os.Environ(), "PWD="+dir)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resetEnvCache()
			e, err := tc.cmd.envVector()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("envVector: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := dedupEnv(tc.want)
			if got := e.vec.Strings(); !slices.Equal(got, want) {
				t.Errorf("vector %q, want %q", got, want)
			}
			if keptEnvs() != 0 {
				t.Errorf("an environment no embryo took was kept")
			}
		})
	}
}

// A kept environment is reused for an equal one, and only for an equal
// one: not after the caller changed its slice in place.
func TestEnvVectorReuse(t *testing.T) {
	resetEnvCache()
	env := []string{"A=1", "B=2"}
	first, err := (&Cmd{Env: env}).envVector()
	if err != nil {
		t.Fatal(err)
	}
	if &first.raw[0] == &env[0] {
		t.Fatalf("the caller's slice was kept, not a copy")
	}
	if again, _ := (&Cmd{Env: env}).envVector(); again == first {
		t.Fatalf("reused before an embryo took it")
	}
	keepEnv(first)
	again, err := (&Cmd{Env: slices.Clone(env)}).envVector()
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("an equal environment was laid out again")
	}
	env[1] = "B=changed"
	changed, err := (&Cmd{Env: env}).envVector()
	if err != nil {
		t.Fatal(err)
	}
	if changed == first {
		t.Fatalf("the environment changed in place, and the old vector was reused")
	}
	if got, want := changed.vec.Strings(), []string{"A=1", "B=changed"}; !slices.Equal(got, want) {
		t.Errorf("vector %q, want %q", got, want)
	}
	if got, want := first.vec.Strings(), []string{"A=1", "B=2"}; !slices.Equal(got, want) {
		t.Errorf("the first vector changed to %q, want %q", got, want)
	}
}

// Up to envCacheSlots environments used in turn are all kept; one more
// replaces the oldest; one above maxKeptEnv bytes is never kept.
func TestEnvVectorSlots(t *testing.T) {
	resetEnvCache()
	envs := make([][]string, envCacheSlots+1)
	for i := range envs {
		envs[i] = []string{fmt.Sprintf("E=%d", i)}
	}
	take := func(env []string) *envVector {
		t.Helper()
		e, err := (&Cmd{Env: env}).envVector()
		if err != nil {
			t.Fatal(err)
		}
		keepEnv(e)
		return e
	}
	kept := make([]*envVector, envCacheSlots)
	for i := range kept {
		kept[i] = take(envs[i])
	}
	for round := 0; round < 3; round++ {
		for i := range kept {
			if e := take(envs[i]); e != kept[i] {
				t.Fatalf("round %d: environment %d of %d used in turn was laid out again", round, i, envCacheSlots)
			}
		}
	}
	take(envs[envCacheSlots])
	if keptEnvs() != envCacheSlots {
		t.Errorf("%d kept, want %d", keptEnvs(), envCacheSlots)
	}
	if e := take(envs[0]); e == kept[0] {
		t.Errorf("the oldest environment was not replaced")
	}
	big := []string{"BIG=" + strings.Repeat("x", maxKeptEnv)}
	e1 := take(big)
	if e2 := take(big); e2 == e1 {
		t.Errorf("an environment of more than %d bytes was kept", maxKeptEnv)
	}
}

// envVector is environ() (the same strings, the same error) for every
// shape of Cmd, whatever was kept before, and Environ() is os/exec's.
func TestEnvVectorIsEnviron(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(tmp)
	cmds := []func() *Cmd{
		func() *Cmd { return &Cmd{} },
		func() *Cmd { return &Cmd{Env: []string{}} },
		func() *Cmd { return &Cmd{Env: []string{"A=1", "A=2", "", "B"}} },
		func() *Cmd { return &Cmd{Env: []string{"A=1", "B=\x00"}} },
		func() *Cmd { return &Cmd{Env: []string{"A=1", "B=\x00", "B=ok"}} },
		func() *Cmd { return &Cmd{Dir: "sub"} },
		func() *Cmd { return &Cmd{Dir: "."} },
		func() *Cmd { return &Cmd{Dir: tmp} },
		func() *Cmd { return &Cmd{Dir: "sub", Env: []string{"PWD=/x"}} },
		func() *Cmd { return &Cmd{Env: []string{"A=1"}} },
	}
	for i := range cmds {
		for j := range cmds {
			resetEnvCache()
			if e, err := cmds[i]().envVector(); err == nil {
				keepEnv(e)
			}
			c := cmds[j]()
			want, wantErr := c.environ()
			e, err := c.envVector()
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Errorf("%d after %d: error %v, environ's %v", j, i, err, wantErr)
				continue
			}
			if err == nil && !slices.Equal(e.vec.Strings(), want) {
				t.Errorf("%d after %d: vector %q, environ %q", j, i, e.vec.Strings(), want)
			}
			x := exec.Command("/bin/true")
			x.Env, x.Dir = c.Env, c.Dir
			if got, w := c.Environ(), x.Environ(); !slices.Equal(got, w) {
				t.Errorf("%d: Environ %q, os/exec's %q", j, got, w)
			}
		}
	}
}

// Goroutines that start with different environments each get their own.
func TestEnvVectorConcurrent(t *testing.T) {
	resetEnvCache()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 300 {
				var c *Cmd
				if k%5 == 0 {
					c = &Cmd{Dir: fmt.Sprintf("/d%d", g)}
				} else {
					c = &Cmd{Env: []string{fmt.Sprintf("G=%d", g), fmt.Sprintf("K=%d", k%3), fmt.Sprintf("G=%d", g)}}
				}
				want, _ := c.environ()
				e, err := c.envVector()
				if err != nil || !slices.Equal(e.vec.Strings(), want) {
					t.Errorf("goroutine %d: %v, %q; want %q", g, err, e.vec.Strings(), want)
					return
				}
				keepEnv(e)
			}
		}()
	}
	wg.Wait()
}
