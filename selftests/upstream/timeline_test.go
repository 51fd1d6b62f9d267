package upstream

import (
	"strings"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	clock := time.Unix(100, 0)
	now := func() time.Time { return clock }
	l := newTimeline(now)
	steps := []struct {
		write   string
		advance time.Duration
		running string
	}{
		{"TAP version 13\n1..2\n# Starting 2 tests", 0, ""},
		{" from 1 test cases.\n#  RUN           empty.a ...\n", time.Second, "empty.a"},
		{"#            OK  empty.a\nok 1 empty.a\n#  RUN           empty.b ...\n", 2500 * time.Millisecond, "empty.b"},
		{"# empty.b: Test terminated by timeout\n#          FAIL  empty.b\n", 0, ""},
		{"not ok 2 empty.b\n", 0, ""},
	}
	var raw string
	for _, s := range steps {
		clock = clock.Add(s.advance)
		if n, err := l.Write([]byte(s.write)); n != len(s.write) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s.write, n, err)
		}
		raw += s.write
		if got := l.Running(); got != s.running {
			t.Errorf("after %q: Running() = %q, want %q", s.write, got, s.running)
		}
	}
	if got := string(l.Raw()); got != raw {
		t.Errorf("Raw() = %q, want %q", got, raw)
	}
	stamped := l.Stamped()
	for _, want := range []string{
		"[   0.000s] TAP version 13\n",
		"[   1.000s] # Starting 2 tests from 1 test cases.\n",
		"[   3.500s] #  RUN           empty.b ...\n",
		"[   3.500s] not ok 2 empty.b\n",
	} {
		if !strings.Contains(stamped, want) {
			t.Errorf("Stamped() lacks %q:\n%s", want, stamped)
		}
	}
	l.Write([]byte("half a line"))
	if s := l.Stamped(); !strings.HasSuffix(s, "] half a line (no newline)\n") {
		t.Errorf("Stamped() with an unfinished line ends %q", s[len(s)-40:])
	}
}
