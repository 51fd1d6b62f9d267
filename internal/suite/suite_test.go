package suite

import (
	"reflect"
	"strings"
	"testing"
)

func TestSelectPackages(t *testing.T) {
	const m = "github.com/emptypidfd/emptypidfd/selftests/"
	all := []string{m + "abi", m + "baseline", m + "internal/embryo", m + "internal/guest", m + "upstream"}
	for _, tc := range []struct {
		want    string
		pkgs    []string
		wantErr string
	}{
		{want: "", pkgs: []string{m + "abi", m + "baseline", m + "upstream"}},
		{want: "baseline", pkgs: []string{m + "baseline"}},
		{want: "upstream,baseline", pkgs: []string{m + "baseline", m + "upstream"}},
		{want: "baseline,,", pkgs: []string{m + "baseline"}},
		{want: "baseline, abi", pkgs: []string{m + "abi", m + "baseline"}},
		{want: "baseline,typo", wantErr: "no guest test package named typo (have: abi, baseline, upstream)"},
		{want: "embryo", wantErr: "named embryo"}, // a helper, not a test package
		{want: "typo,other", wantErr: "named typo, other"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			pkgs, err := SelectPackages(all, tc.want)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SelectPackages(%q) = %q, %v; want an error mentioning %q", tc.want, pkgs, err, tc.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(pkgs, tc.pkgs) {
				t.Errorf("SelectPackages(%q) = %q, %v; want %q", tc.want, pkgs, err, tc.pkgs)
			}
		})
	}
	if _, err := SelectPackages([]string{m + "internal/guest"}, ""); err == nil {
		t.Error("SelectPackages with no test package: no error")
	}
}

func TestExpectations(t *testing.T) {
	const (
		patched = "#define PIDFD_NONBLOCK O_NONBLOCK\n#define PIDFD_EMPTY 0x2\n"
		stock   = "#define PIDFD_NONBLOCK O_NONBLOCK\n#define PIDFD_THREAD O_EXCL\n"
	)
	for _, tc := range []struct {
		name       string
		header     string
		allowStock bool
		file       string
		wantErr    string
	}{
		{name: "series", header: patched, file: "RELEASE=6.12.117-emptypidfd\nPIDFD_EMPTY=present\nALLOW_STOCK_KERNEL=0\n"},
		{name: "series, stock allowed: still the series", header: patched, allowStock: true,
			file: "RELEASE=6.12.117-emptypidfd\nPIDFD_EMPTY=present\nALLOW_STOCK_KERNEL=0\n"},
		{name: "stock kernel fails", header: stock, wantErr: "built without the empty pidfds series"},
		{name: "stock kernel names the opt-in", header: stock, wantErr: "EMPTYPIDFD_ALLOW_STOCK_KERNEL=1"},
		{name: "stock kernel, allowed", header: stock, allowStock: true,
			file: "RELEASE=6.12.117-emptypidfd\nPIDFD_EMPTY=absent\nALLOW_STOCK_KERNEL=1\n"},
		{name: "empty header fails", header: "", wantErr: "does not define PIDFD_EMPTY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Expectations("6.12.117-emptypidfd\n", tc.header, tc.allowStock)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Expectations = %+v, %v; want an error mentioning %q", e, err, tc.wantErr)
				}
				return
			}
			if err != nil || e.File() != tc.file {
				t.Errorf("Expectations = %q, %v; want %q", e.File(), err, tc.file)
			}
		})
	}
	if _, err := Expectations("\n", patched, false); err == nil {
		t.Error("empty release: no error")
	}
}

func TestAllowStock(t *testing.T) {
	for _, tc := range []struct {
		v       string
		want    bool
		wantErr bool
	}{
		{"", false, false}, {"0", false, false}, {"1", true, false},
		{"yes", false, true}, {"true", false, true}, {" 1", false, true},
	} {
		got, err := AllowStock(tc.v)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("AllowStock(%q) = %v, %v; want %v, error %v", tc.v, got, err, tc.want, tc.wantErr)
		}
	}
}
