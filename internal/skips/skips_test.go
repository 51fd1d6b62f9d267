package skips

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{
			name: "entries and comments",
			in:   "# comment\n\nvmtest/TestBench runs only under make bench\n  baseline/TestA/sub why not  \n",
			want: map[string]string{"vmtest/TestBench": "runs only under make bench", "baseline/TestA/sub": "why not"},
		},
		{name: "no reason", in: "baseline/TestA\n", wantErr: "has no reason"},
		{name: "blank reason", in: "baseline/TestA   \n", wantErr: "has no reason"},
		{name: "no package", in: "TestA reason\n", wantErr: "not package/TestName"},
		{name: "listed twice", in: "p/TestA one\np/TestA two\n", wantErr: "listed twice"},
		{name: "empty", in: "", want: map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse(strings.NewReader(tc.in), "allowed-skips.txt")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(l.reasons, tc.want) {
				t.Errorf("entries = %v, want %v", l.reasons, tc.want)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	list, err := Parse(strings.NewReader("upstream/TestK/x allowed reason\nupstream/TestK/gone was skipping once\n~upstream/TestK/maybe only when fast\nbaseline/TestB other\n"), "allowed-skips.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		list    *List
		lax     string
		skip    string
		ok      bool
		message string
	}{
		{name: "listed", list: list, skip: "upstream/TestK/x", ok: true, message: "allowed reason"},
		{name: "unlisted", list: list, skip: "upstream/TestK/y", ok: false, message: `add "upstream/TestK/y <reason>"`},
		{name: "a listed parent does not allow its subtests", list: list, skip: "baseline/TestB/sub", ok: false, message: "does not list"},
		{name: "no list allows nothing", list: nil, skip: "baseline/TestB", ok: false, message: "none given"},
		{name: "optional, when it skips", list: list, skip: "upstream/TestK/maybe", ok: true, message: "only when fast"},
		{name: "lax", list: list, lax: "stock kernel", skip: "abi/TestZ", ok: true, message: "UNLISTED SKIP of abi/TestZ"},
		{name: "lax still names the listed reason", list: list, lax: "stock kernel", skip: "upstream/TestK/x", ok: true, message: "allowed reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &Budget{List: tc.list, Lax: tc.lax}
			v := b.Judge(tc.skip)
			if v.OK != tc.ok || !strings.Contains(v.Message, tc.message) {
				t.Errorf("Judge(%q) = %+v, want OK %v and a message mentioning %q", tc.skip, v, tc.ok, tc.message)
			}
		})
	}

	b := &Budget{List: list}
	b.Judge("upstream/TestK/x")
	b.Judge("upstream/TestK/unlisted")
	// upstream/TestK/maybe did not skip, and is optional: not stale.
	if got, want := b.Stale("upstream"), []string{"upstream/TestK/gone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Stale(upstream) = %q, want %q", got, want)
	}
	if got, want := b.Stale("baseline"), []string{"baseline/TestB"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Stale(baseline) = %q, want %q", got, want)
	}
	if got := b.Stale("abi"); got != nil {
		t.Errorf("Stale(abi) = %q, want none", got)
	}
}
