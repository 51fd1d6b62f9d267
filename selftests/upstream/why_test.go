package upstream

import (
	"testing"

	"github.com/emptypidfd/emptypidfd/internal/ktap"
)

func TestWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		diag []string
		want string
	}{
		{"none", nil, ""},
		{
			name: "assertion and TH_LOG lines",
			diag: []string{
				"RUN           global.autoreap_signaled ...",
				"pidfd_autoreap_test.c:236:autoreap_signaled:Expected 0 (0) != info.mask & PIDFD_INFO_EXIT (0)",
				"pidfd_autoreap_test.c:237:autoreap_signaled:round 3",
				"autoreap_signaled: Test failed",
				"FAIL  global.autoreap_signaled",
			},
			want: ": pidfd_autoreap_test.c:236:autoreap_signaled:Expected 0 (0) != info.mask & PIDFD_INFO_EXIT (0)" +
				" | pidfd_autoreap_test.c:237:autoreap_signaled:round 3",
		},
		{
			name: "no assertion: the last line but the harness's",
			diag: []string{"RUN           global.x ...", "x: Test terminated by timeout", "FAIL  global.x"},
			want: ": x: Test terminated by timeout",
		},
		{
			name: "only the harness's lines",
			diag: []string{"RUN           global.x ...", "FAIL  global.x"},
			want: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := why(ktap.Result{Diagnostics: tc.diag}); got != tc.want {
				t.Errorf("why() = %q, want %q", got, tc.want)
			}
		})
	}
}
