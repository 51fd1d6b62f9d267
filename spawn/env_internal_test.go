package spawn

import (
	"fmt"
	"os"
	"slices"
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
			lastEnv.Store(nil)
			v, err := tc.cmd.envVector()
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("envVector: %v, want %q", err, tc.wantErr)
				}
				if lastEnv.Load() != nil {
					t.Errorf("a failed environment was kept")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, _ := dedupEnv(tc.want)
			if got := v.Strings(); !slices.Equal(got, want) {
				t.Errorf("vector %q, want %q", got, want)
			}
		})
	}
}

// The last environment laid out is reused for an equal one, and only for
// an equal one: not after the caller changed its slice in place.
func TestEnvVectorReuse(t *testing.T) {
	lastEnv.Store(nil)
	env := []string{"A=1", "B=2"}
	first, err := (&Cmd{Env: env}).envVector()
	if err != nil {
		t.Fatal(err)
	}
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
	if got, want := changed.Strings(), []string{"A=1", "B=changed"}; !slices.Equal(got, want) {
		t.Errorf("vector %q, want %q", got, want)
	}
	if got, want := first.Strings(), []string{"A=1", "B=2"}; !slices.Equal(got, want) {
		t.Errorf("the first vector changed to %q, want %q", got, want)
	}
}

// Goroutines that start with different environments each get their own.
func TestEnvVectorConcurrent(t *testing.T) {
	lastEnv.Store(nil)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := []string{fmt.Sprintf("G=%d", g%2)}
			for range 200 {
				v, err := (&Cmd{Env: env}).envVector()
				if err != nil {
					t.Error(err)
					return
				}
				if got := v.Strings(); !slices.Equal(got, env) {
					t.Errorf("goroutine %d got %q, want %q", g, got, env)
					return
				}
			}
		}()
	}
	wg.Wait()
}
