// Package abicheck compares every copy of the empty pidfd ABI with the
// built kernel's exported headers before a VM boots: package pidfd's Go
// constants and structs, and selftests/childreport/pidfd_abi.h, the one C
// copy (the guest helpers and bench/spawnbench.c include it).
//
// abiitems.c.in (C, compiled as abiitems.c) lists the ABI as named values (system call numbers,
// constants, struct sizes, field offsets and sizes). It is compiled, never
// run, once against the kernel's headers and once against the C copy, for
// x86_64 and for i386, and the values are read from the object files, so
// the 32-bit side needs no 32-bit capable host kernel.
package abicheck

import (
	"bytes"
	"debug/elf"
	_ "embed"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

//go:embed abiitems.c.in
var itemsSource []byte

// Items maps an item's name ("nr pidfd_config", "size pidfd_fd",
// "off pidfd_fd.how") to its value.
type Items map[string]int64

// itemSize is sizeof(struct abi_item) in abiitems.c on both ABIs.
const (
	itemSize = 56
	nameSize = 48
)

// Compile builds abiitems.c with gcc for bits (64 or 32) and the extra
// arguments (include paths, -D, -include), in dir, and returns its items.
func Compile(dir string, bits int, args ...string) (Items, error) {
	src := filepath.Join(dir, "abiitems.c")
	if err := os.WriteFile(src, itemsSource, 0o644); err != nil {
		return nil, err
	}
	obj := filepath.Join(dir, fmt.Sprintf("abiitems-%d-%d.o", bits, len(args)))
	argv := append([]string{fmt.Sprintf("-m%d", bits), "-c", "-o", obj}, args...)
	cmd := exec.Command("gcc", append(argv, src)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %v\n%s", cmd, err, out)
	}
	return Read(obj)
}

// Read returns the abi_items[] array of an object file compiled from
// abiitems.c.
func Read(obj string) (Items, error) {
	f, err := elf.Open(obj)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", obj, err)
	}
	i := slices.IndexFunc(syms, func(s elf.Symbol) bool { return s.Name == "abi_items" })
	if i < 0 {
		return nil, fmt.Errorf("%s: no abi_items", obj)
	}
	sym := syms[i]
	if int(sym.Section) >= len(f.Sections) || sym.Size%itemSize != 0 {
		return nil, fmt.Errorf("%s: abi_items in section %d, %d bytes: not an array of %d-byte items", obj, sym.Section, sym.Size, itemSize)
	}
	data, err := f.Sections[sym.Section].Data()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", obj, err)
	}
	if sym.Value+sym.Size > uint64(len(data)) {
		return nil, fmt.Errorf("%s: abi_items beyond its section", obj)
	}
	items := Items{}
	raw := data[sym.Value : sym.Value+sym.Size]
	for off := 0; off < len(raw); off += itemSize {
		name, _, _ := bytes.Cut(raw[off:off+nameSize], []byte{0})
		items[string(name)] = int64(binary.LittleEndian.Uint64(raw[off+nameSize:]))
	}
	return items, nil
}

// GoItems returns package pidfd's copy of the x86_64 ABI as Items.
func GoItems() Items {
	var (
		e pidfd.ExecArg
		s pidfd.StringsArg
		f pidfd.FDArg
		c pidfd.CwdArg
		g pidfd.SignalsArg
		r pidfd.RlimitArg
		u pidfd.UmaskArg
		i pidfd.IDsArg
		l pidfd.GroupsArg
		o pidfd.RootArg
		q pidfd.PgidArg
		d pidfd.PdeathsigArg
		k pidfd.CgroupArg
		t pidfd.TTYArg
	)
	it := Items{
		"nr pidfd_open":                       unix.SYS_PIDFD_OPEN,
		"nr pidfd_config":                     pidfd.SYS_PIDFD_CONFIG,
		"nr pidfd_spawn_run":                  pidfd.SYS_PIDFD_SPAWN_RUN,
		"const PIDFD_EMPTY":                   pidfd.PIDFD_EMPTY,
		"const PIDFD_CONFIG_EXEC":             pidfd.PIDFD_CONFIG_EXEC,
		"const PIDFD_CONFIG_ARGV":             pidfd.PIDFD_CONFIG_ARGV,
		"const PIDFD_CONFIG_ENVP":             pidfd.PIDFD_CONFIG_ENVP,
		"const PIDFD_CONFIG_FD":               pidfd.PIDFD_CONFIG_FD,
		"const PIDFD_CONFIG_CWD":              pidfd.PIDFD_CONFIG_CWD,
		"const PIDFD_CONFIG_SIGNALS":          pidfd.PIDFD_CONFIG_SIGNALS,
		"const PIDFD_CONFIG_RLIMIT":           pidfd.PIDFD_CONFIG_RLIMIT,
		"const PIDFD_CONFIG_UMASK":            pidfd.PIDFD_CONFIG_UMASK,
		"const PIDFD_CONFIG_NO_NEW_PRIVS":     pidfd.PIDFD_CONFIG_NO_NEW_PRIVS,
		"const PIDFD_CONFIG_UIDS":             pidfd.PIDFD_CONFIG_UIDS,
		"const PIDFD_CONFIG_GIDS":             pidfd.PIDFD_CONFIG_GIDS,
		"const PIDFD_CONFIG_GROUPS":           pidfd.PIDFD_CONFIG_GROUPS,
		"const PIDFD_CONFIG_ROOT":             pidfd.PIDFD_CONFIG_ROOT,
		"const PIDFD_CONFIG_SETSID":           pidfd.PIDFD_CONFIG_SETSID,
		"const PIDFD_CONFIG_PGID":             pidfd.PIDFD_CONFIG_PGID,
		"const PIDFD_CONFIG_PDEATHSIG":        pidfd.PIDFD_CONFIG_PDEATHSIG,
		"const PIDFD_CONFIG_SCHED":            pidfd.PIDFD_CONFIG_SCHED,
		"const PIDFD_CONFIG_CGROUP":           pidfd.PIDFD_CONFIG_CGROUP,
		"const PIDFD_CONFIG_CTTY":             pidfd.PIDFD_CONFIG_CTTY,
		"const PIDFD_CONFIG_NOCTTY":           pidfd.PIDFD_CONFIG_NOCTTY,
		"const PIDFD_CONFIG_FOREGROUND":       pidfd.PIDFD_CONFIG_FOREGROUND,
		"const PIDFD_TTY_STEAL":               pidfd.PIDFD_TTY_STEAL,
		"const PIDFD_SIGNALS_INHERIT_IGNORED": pidfd.PIDFD_SIGNALS_INHERIT_IGNORED,
		"const PIDFD_FD_DUP":                  pidfd.PIDFD_FD_DUP,
		"const PIDFD_FD_CLOSE":                pidfd.PIDFD_FD_CLOSE,
		"const PIDFD_FD_CLOSE_RANGE":          pidfd.PIDFD_FD_CLOSE_RANGE,
		"const PIDFD_FD_OPEN":                 pidfd.PIDFD_FD_OPEN,
		"const PIDFD_FD_INHERIT":              pidfd.PIDFD_FD_INHERIT,
		"const PIDFD_FD_CLOEXEC":              pidfd.PIDFD_FD_CLOEXEC,
		"const PIDFD_EXEC_SIZE_VER0":          pidfd.PIDFD_EXEC_SIZE_VER0,
		"const PIDFD_STRINGS_SIZE_VER0":       pidfd.PIDFD_STRINGS_SIZE_VER0,
		"const PIDFD_FD_SIZE_VER0":            pidfd.PIDFD_FD_SIZE_VER0,
		"const PIDFD_CWD_SIZE_VER0":           pidfd.PIDFD_CWD_SIZE_VER0,
		"const PIDFD_SIGNALS_SIZE_VER0":       pidfd.PIDFD_SIGNALS_SIZE_VER0,
		"const PIDFD_SIGNALS_SIZE_VER1":       pidfd.PIDFD_SIGNALS_SIZE_VER1,
		"const PIDFD_RLIMIT_SIZE_VER0":        pidfd.PIDFD_RLIMIT_SIZE_VER0,
		"const PIDFD_UMASK_SIZE_VER0":         pidfd.PIDFD_UMASK_SIZE_VER0,
		"const PIDFD_IDS_SIZE_VER0":           pidfd.PIDFD_IDS_SIZE_VER0,
		"const PIDFD_GROUPS_SIZE_VER0":        pidfd.PIDFD_GROUPS_SIZE_VER0,
		"const PIDFD_ROOT_SIZE_VER0":          pidfd.PIDFD_ROOT_SIZE_VER0,
		"const PIDFD_PGID_SIZE_VER0":          pidfd.PIDFD_PGID_SIZE_VER0,
		"const PIDFD_PDEATHSIG_SIZE_VER0":     pidfd.PIDFD_PDEATHSIG_SIZE_VER0,
		"const PIDFD_CGROUP_SIZE_VER0":        pidfd.PIDFD_CGROUP_SIZE_VER0,
		"const PIDFD_TTY_SIZE_VER0":           pidfd.PIDFD_TTY_SIZE_VER0,
		"size pidfd_exec":                     int64(unsafe.Sizeof(e)),
		"size pidfd_strings":                  int64(unsafe.Sizeof(s)),
		"size pidfd_fd":                       int64(unsafe.Sizeof(f)),
		"size pidfd_cwd":                      int64(unsafe.Sizeof(c)),
		"size pidfd_signals":                  int64(unsafe.Sizeof(g)),
		"size pidfd_rlimit":                   int64(unsafe.Sizeof(r)),
		"size pidfd_umask":                    int64(unsafe.Sizeof(u)),
		"size pidfd_ids":                      int64(unsafe.Sizeof(i)),
		"size pidfd_groups":                   int64(unsafe.Sizeof(l)),
		"size pidfd_root":                     int64(unsafe.Sizeof(o)),
		"size pidfd_pgid":                     int64(unsafe.Sizeof(q)),
		"size pidfd_pdeathsig":                int64(unsafe.Sizeof(d)),
		"size pidfd_cgroup":                   int64(unsafe.Sizeof(k)),
		"size pidfd_tty":                      int64(unsafe.Sizeof(t)),
	}
	field := func(name string, off, size uintptr) {
		it["off "+name] = int64(off)
		it["size "+name] = int64(size)
	}
	field("pidfd_exec.path", unsafe.Offsetof(e.Path), unsafe.Sizeof(e.Path))
	field("pidfd_exec.dirfd", unsafe.Offsetof(e.Dirfd), unsafe.Sizeof(e.Dirfd))
	field("pidfd_exec.flags", unsafe.Offsetof(e.Flags), unsafe.Sizeof(e.Flags))
	field("pidfd_strings.strings", unsafe.Offsetof(s.Strings), unsafe.Sizeof(s.Strings))
	field("pidfd_fd.action", unsafe.Offsetof(f.Action), unsafe.Sizeof(f.Action))
	field("pidfd_fd.flags", unsafe.Offsetof(f.Flags), unsafe.Sizeof(f.Flags))
	field("pidfd_fd.src_fd", unsafe.Offsetof(f.SrcFd), unsafe.Sizeof(f.SrcFd))
	field("pidfd_fd.fd", unsafe.Offsetof(f.Fd), unsafe.Sizeof(f.Fd))
	field("pidfd_fd.max_fd", unsafe.Offsetof(f.MaxFd), unsafe.Sizeof(f.MaxFd))
	field("pidfd_fd.__spare", unsafe.Offsetof(f.Spare), unsafe.Sizeof(f.Spare))
	field("pidfd_fd.path", unsafe.Offsetof(f.Path), unsafe.Sizeof(f.Path))
	field("pidfd_fd.how", unsafe.Offsetof(f.How), unsafe.Sizeof(f.How))
	field("pidfd_fd.how_size", unsafe.Offsetof(f.HowSize), unsafe.Sizeof(f.HowSize))
	field("pidfd_cwd.path", unsafe.Offsetof(c.Path), unsafe.Sizeof(c.Path))
	field("pidfd_cwd.dirfd", unsafe.Offsetof(c.Dirfd), unsafe.Sizeof(c.Dirfd))
	field("pidfd_cwd.flags", unsafe.Offsetof(c.Flags), unsafe.Sizeof(c.Flags))
	field("pidfd_signals.blocked", unsafe.Offsetof(g.Blocked), unsafe.Sizeof(g.Blocked))
	field("pidfd_signals.ignored", unsafe.Offsetof(g.Ignored), unsafe.Sizeof(g.Ignored))
	field("pidfd_signals.flags", unsafe.Offsetof(g.Flags), unsafe.Sizeof(g.Flags))
	field("pidfd_rlimit.resource", unsafe.Offsetof(r.Resource), unsafe.Sizeof(r.Resource))
	field("pidfd_rlimit.__spare", unsafe.Offsetof(r.Spare), unsafe.Sizeof(r.Spare))
	field("pidfd_rlimit.cur", unsafe.Offsetof(r.Cur), unsafe.Sizeof(r.Cur))
	field("pidfd_rlimit.max", unsafe.Offsetof(r.Max), unsafe.Sizeof(r.Max))
	field("pidfd_umask.umask", unsafe.Offsetof(u.Umask), unsafe.Sizeof(u.Umask))
	field("pidfd_ids.real", unsafe.Offsetof(i.Real), unsafe.Sizeof(i.Real))
	field("pidfd_ids.effective", unsafe.Offsetof(i.Effective), unsafe.Sizeof(i.Effective))
	field("pidfd_ids.saved", unsafe.Offsetof(i.Saved), unsafe.Sizeof(i.Saved))
	field("pidfd_ids.__spare", unsafe.Offsetof(i.Spare), unsafe.Sizeof(i.Spare))
	field("pidfd_groups.list", unsafe.Offsetof(l.List), unsafe.Sizeof(l.List))
	field("pidfd_groups.count", unsafe.Offsetof(l.Count), unsafe.Sizeof(l.Count))
	field("pidfd_groups.__spare", unsafe.Offsetof(l.Spare), unsafe.Sizeof(l.Spare))
	field("pidfd_root.path", unsafe.Offsetof(o.Path), unsafe.Sizeof(o.Path))
	field("pidfd_root.dirfd", unsafe.Offsetof(o.Dirfd), unsafe.Sizeof(o.Dirfd))
	field("pidfd_root.flags", unsafe.Offsetof(o.Flags), unsafe.Sizeof(o.Flags))
	field("pidfd_pgid.pgid", unsafe.Offsetof(q.Pgid), unsafe.Sizeof(q.Pgid))
	field("pidfd_pgid.__spare", unsafe.Offsetof(q.Spare), unsafe.Sizeof(q.Spare))
	field("pidfd_pdeathsig.signal", unsafe.Offsetof(d.Signal), unsafe.Sizeof(d.Signal))
	field("pidfd_pdeathsig.__spare", unsafe.Offsetof(d.Spare), unsafe.Sizeof(d.Spare))
	field("pidfd_cgroup.fd", unsafe.Offsetof(k.Fd), unsafe.Sizeof(k.Fd))
	field("pidfd_cgroup.__spare", unsafe.Offsetof(k.Spare), unsafe.Sizeof(k.Spare))
	field("pidfd_tty.fd", unsafe.Offsetof(t.Fd), unsafe.Sizeof(t.Fd))
	field("pidfd_tty.flags", unsafe.Offsetof(t.Flags), unsafe.Sizeof(t.Flags))
	return it
}

// Diff lists every item of want that got lacks or holds another value
// of, and every item got has that want lacks, sorted.
func Diff(want, got Items) []string {
	var d []string
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("%s: missing (kernel: %d)", k, v))
		case g != v:
			d = append(d, fmt.Sprintf("%s: %d (kernel: %d)", k, g, v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("%s: %d, not in the kernel's list", k, v))
		}
	}
	slices.Sort(d)
	return d
}

// Check compiles the items from the kernel's exported headers (include,
// e.g. build/kbuild-debug/usr/include) and from the C copy (copyHeader)
// for x86_64 and i386, and compares both copies and package pidfd with
// the kernel's. The error lists every difference.
func Check(include, copyHeader string) error {
	dir, err := os.MkdirTemp("", "abicheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var diffs []string
	for _, bits := range []int{64, 32} {
		kernel, err := Compile(dir, bits, "-DFROM_KERNEL", "-I"+include)
		if err != nil {
			return fmt.Errorf("the kernel's headers (-m%d): %v", bits, err)
		}
		c, err := Compile(dir, bits, "-include", copyHeader)
		if err != nil {
			return fmt.Errorf("the C copy %s (-m%d): %v", copyHeader, bits, err)
		}
		for _, d := range Diff(kernel, c) {
			diffs = append(diffs, fmt.Sprintf("%s (-m%d) %s", copyHeader, bits, d))
		}
		if bits == 64 {
			for _, d := range Diff(kernel, GoItems()) {
				diffs = append(diffs, "package pidfd "+d)
			}
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("copies of the ABI differ from the kernel's headers in %s:\n\t%s", include, strings.Join(diffs, "\n\t"))
	}
	return nil
}
