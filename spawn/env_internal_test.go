package spawn

import (
	"fmt"
	"slices"
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
