package spawn

import (
	"os"
	"reflect"
	"regexp"
	"syscall"
	"testing"
)

// TestDocNamesEverySysProcAttrField: the package documentation's table
// says, for every field of syscall.SysProcAttr, what it needs; a field a
// newer Go adds must be added to it (and to embryoAttrs if it works).
func TestDocNamesEverySysProcAttrField(t *testing.T) {
	b, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(syscall.SysProcAttr{})
	for i := range typ.NumField() {
		name := typ.Field(i).Name
		if !regexp.MustCompile(`(?m)^//\t.*\b` + name + `\b`).Match(b) {
			t.Errorf("SysProcAttr.%s is not in doc.go's table", name)
		}
	}
}
