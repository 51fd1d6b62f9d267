package spawn

import (
	_ "embed"
	"reflect"
	"regexp"
	"syscall"
	"testing"
)

//go:embed doc.go
var docSource []byte

// TestDocNamesEverySysProcAttrField: the package documentation's table
// says, for every field of syscall.SysProcAttr, what it needs; a field a
// newer Go adds must be added to it (and to embryoAttrs if it works).
//
// doc.go is embedded: the test also runs in the guest, without the source.
func TestDocNamesEverySysProcAttrField(t *testing.T) {
	b := docSource
	typ := reflect.TypeOf(syscall.SysProcAttr{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if !regexp.MustCompile(`(?m)^//\t.*\b` + name + `\b`).Match(b) {
			t.Errorf("SysProcAttr.%s is not in doc.go's table", name)
		}
	}
}
