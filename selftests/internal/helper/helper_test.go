package helper

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"testing"
)

func TestMain(m *testing.M) {
	Main(m, map[string]Func{
		"echo": func(arg json.RawMessage) (any, error) {
			var v struct {
				S   string
				Uid int
			}
			if err := DecodeArg(arg, &v); err != nil {
				return nil, err
			}
			v.Uid = os.Getuid()
			return v, nil
		},
		"fail": func(json.RawMessage) (any, error) { return nil, errors.New("as asked") },
	})
}

// These run on the host: the machinery, not the kernel feature.

func TestHelperRoundTrip(t *testing.T) {
	var out struct {
		S   string
		Uid int
	}
	New(t, "echo", map[string]string{"S": "hello"}).Result(&out)
	if out.S != "hello" || out.Uid != os.Getuid() {
		t.Errorf("echo helper: %+v", out)
	}
}

func TestHelperAsNobody(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skipf("running as uid %d: only root can start a helper as another user", os.Getuid())
	}
	var out struct {
		S   string
		Uid int
	}
	New(t, "echo", map[string]string{"S": "x"}).AsUser(Nobody, Nobody).Result(&out)
	if out.Uid != Nobody {
		t.Errorf("helper ran as uid %d, want %d", out.Uid, Nobody)
	}
}

func TestHelperFailureIsReported(t *testing.T) {
	// Result fails its test; run the helper by hand to see the reply.
	h := New(t, "fail", nil)
	err := h.Cmd.Run()
	h.waited = true
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("failing helper: %v, want exit status 1", err)
	}
	var reply helperReply
	if err := json.Unmarshal(h.stdout.Bytes(), &reply); err != nil || reply.Error != "as asked" {
		t.Errorf("reply %+v (%v), want the helper's error", reply, err)
	}
}
