// Package suite holds the host harness's decisions about what a VM test run
// covers, so that they are unit-tested apart from the VM: which guest
// packages to run, and what the built kernel must provide. The suite fails
// closed: a name it does not know, or a kernel without the series, is an
// error, not a smaller or skipped run.
package suite

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// EnvAllowStock, set to 1, lets the suite run on a kernel without the
// series (a stock kernel, for comparison): the empty-pidfd tests then skip,
// loudly, instead of failing.
const EnvAllowStock = "EMPTYPIDFD_ALLOW_STOCK_KERNEL"

// AllowStock parses the value of EnvAllowStock: "" or "0" is no, "1" yes;
// anything else is an error rather than a guess.
func AllowStock(v string) (bool, error) {
	switch v {
	case "", "0":
		return false, nil
	case "1":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 (run on a stock kernel) or 0/unset", EnvAllowStock, v)
}

// SelectPackages picks the guest test packages to run from all (import
// paths, as 'go list ../selftests/...' prints them; those under an
// "internal" directory are helpers, not tests): every one if want (the
// comma-separated list of EMPTYPIDFD_GUEST) is empty, else those whose last
// path element want names. A name that matches no package is an error.
func SelectPackages(all []string, want string) ([]string, error) {
	var tests, names []string
	for _, pkg := range all {
		if slices.Contains(strings.Split(pkg, "/"), "internal") {
			continue
		}
		tests = append(tests, pkg)
		names = append(names, path.Base(pkg))
	}
	wanted := map[string]bool{}
	var unknown []string
	for _, name := range strings.Split(want, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(names, name) {
			unknown = append(unknown, name)
		}
		wanted[name] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("no guest test package named %s (have: %s)",
			strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	var pkgs []string
	for _, pkg := range tests {
		if len(wanted) == 0 || wanted[path.Base(pkg)] {
			pkgs = append(pkgs, pkg)
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no guest test package to run (from %d packages)", len(all))
	}
	return pkgs, nil
}

// Expect is what the host tells the guest about the kernel it built.
type Expect struct {
	Release string
	// Empty: the kernel's exported headers define PIDFD_EMPTY.
	Empty bool
	// Stock: the kernel lacks the series and the run was allowed to go on
	// (EnvAllowStock=1).
	Stock bool
}

// Expectations decides from the kernel release, the exported
// include/uapi/linux/pidfd.h and EnvAllowStock what the guest is to expect.
// A header without PIDFD_EMPTY is an error unless allowStock: the suite
// tests the series, and a kernel without it must not pass by skipping.
func Expectations(release, header string, allowStock bool) (Expect, error) {
	e := Expect{Release: strings.TrimSpace(release), Empty: strings.Contains(header, "#define PIDFD_EMPTY")}
	if e.Release == "" {
		return e, fmt.Errorf("empty kernel release")
	}
	if !e.Empty {
		if !allowStock {
			return e, fmt.Errorf("the built kernel's exported <linux/pidfd.h> does not define PIDFD_EMPTY: "+
				"kernel %s was built without the empty pidfds series (kernel/patches/), and the suite requires it. "+
				"To run the suite on a stock kernel for comparison, set %s=1", e.Release, EnvAllowStock)
		}
		e.Stock = true
	}
	return e, nil
}

// File is the content of the guest's expectations file
// (selftests/internal/guest.ExpectFile).
func (e Expect) File() string {
	empty, stock := "absent", "0"
	if e.Empty {
		empty = "present"
	}
	if e.Stock {
		stock = "1"
	}
	return "RELEASE=" + e.Release + "\nPIDFD_EMPTY=" + empty + "\nALLOW_STOCK_KERNEL=" + stock + "\n"
}

// StockBanner is what a stock-kernel run says, at its start and its end.
func StockBanner(release string) string {
	return fmt.Sprintf("*** STOCK KERNEL RUN (%s=1): kernel %s lacks PIDFD_EMPTY (no empty pidfds series). "+
		"The empty-pidfd tests SKIP and skips are not failures: this run says NOTHING about the series. ***",
		EnvAllowStock, release)
}
