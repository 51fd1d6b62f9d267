package pidfd

import (
	"fmt"
	"os"
	"strings"
)

// Fdinfo reads /proc/self/fdinfo/<fd> into a map of its "Key:\tvalue" lines
// (Pid, NSpid, Embryo, flags, ...).
func Fdinfo(fd int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return nil, err
	}
	return ParseFdinfo(string(b)), nil
}

// ParseFdinfo splits the "Key:\tvalue" lines of an fdinfo file (of any
// process) into a map, values trimmed.
func ParseFdinfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// IsEmbryo says whether fd is an unstarted embryo: its fdinfo has the line
// "Embryo:\t1" (Documentation/userspace-api/pidfd_empty.rst).
func IsEmbryo(fd int) (bool, error) {
	m, err := Fdinfo(fd)
	if err != nil {
		return false, err
	}
	return m["Embryo"] == "1", nil
}
