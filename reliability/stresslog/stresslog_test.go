package stresslog

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	log := `[  100.1] random kernel line
    stress_test.go:241: stress-figures: test=TestStress seed=7 duration_s=119.9 failed=false
    stress_test.go:236: stress-calls: test=TestStress op=close calls=699 ok=699
    faults_test.go:150: stress-faults: test=TestFaultInjection call=EXEC sites=4 injected=3 tolerated=0 iterations=5 converged=true EFAULT=2 ENOMEM=1
    stress_test.go:241: stress-figures: test=TestStress seed=8 duration_s=1.0 failed=true
stress-note: not a kind read here
    soak_test.go:70: stress-figures: test=TestSoak n=300 odd_token
`
	recs, err := Parse(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("got %d records, want 5: %+v", len(recs), recs)
	}
	f, ok := Figures(recs, "TestStress")
	if !ok || f.Get("seed") != "8" || f.Get("failed") != "true" {
		t.Errorf("Figures(TestStress) = %+v, %v; want the last one (seed 8)", f, ok)
	}
	if _, ok := Figures(recs, "TestNothing"); ok {
		t.Error("Figures found a test that logged none")
	}
	faults := Of(recs, "faults", "TestFaultInjection")
	if len(faults) != 1 || !slices.Equal(faults[0].Keys, []string{"test", "call", "sites", "injected", "tolerated", "iterations", "converged", "EFAULT", "ENOMEM"}) {
		t.Errorf("faults: %+v", faults)
	}
	soak, _ := Figures(recs, "TestSoak")
	if soak.Get("n") != "300" || len(soak.Keys) != 2 {
		t.Errorf("a token without '=' was not skipped: %+v", soak)
	}
}
