package stress

// pidfd_config ops: every command with valid and invalid arguments, and
// every call's argument struct now and then passed with a bad size or at
// a bad address (argMutation). What each answers is in contract_test.go
// (configRule) and beside each variant.

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/emptypidfd/emptypidfd/pidfd"
)

// cfgCall is one pidfd_config call to make on a picked target.
type cfgCall struct {
	key    string // counter key: "config.<cmd>/<variant>"
	cmd    int
	arg    []byte     // the struct, at its latest version's size
	ver0   int        // its first version's size, if smaller (0: len(arg))
	cmdSet errset     // what the command may answer on an unstarted embryo of the thread's
	cmdPre unix.Errno // the command's own check, made before the size's (an unknown command)
	// The struct's own check, made after the size's and before the
	// embryo's state is looked at (an unknown SIGNALS flag).
	argPre unix.Errno
	// The struct carries its own size (sched_attr's), which the
	// command refuses (EINVAL) unless it is the size passed.
	sizeInArg bool
	noArg     bool // a command without an argument: arg NULL, size 0, never mutated
	apply     func(e *emb)
}

// argMutation is how the argument struct of a call is passed: as built,
// or with a size or address that the syscall's own checks refuse before
// the embryo is looked at (pre).
type argMutation struct {
	name string
	// place returns the address and size to pass, and the errno the
	// size and copy checks give (0: none); ver0 is the size of the
	// struct's first version.
	place func(th *thread, arg []byte, ver0 int) (uintptr, int, unix.Errno)
}

var argMutations = []argMutation{
	{"", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) { return th.mem.put(a, 0), len(a), 0 }},
	// copy_struct_from_user(): a larger struct with a zero tail is the
	// same struct; a non-zero tail is E2BIG.
	{"size-bigger-zero", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		n := len(a) + 8*(1+th.rng.IntN(8))
		return th.mem.put(a, n), n, 0
	}},
	{"size-bigger-nonzero", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		n := len(a) + 64
		b := th.mem.putb(a, n)
		b[n-1] = 1
		return addr(b), n, unix.E2BIG
	}},
	// Below the first version: EINVAL; above a page: E2BIG (as
	// openat2's open_how). A size between two versions is the larger
	// one with a zero tail, not an error: not made here.
	{"size-smaller", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		return th.mem.put(a, 0), th.rng.IntN(ver0), unix.EINVAL
	}},
	{"size-page", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		return th.mem.put(a, 0), unix.Getpagesize() + 1 + th.rng.IntN(4096), unix.E2BIG
	}},
	{"size-huge", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		return th.mem.put(a, 0), 1 << 40, unix.E2BIG
	}},
	// Unmapped pointers: EFAULT.
	{"arg-null", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) { return 0, len(a), unix.EFAULT }},
	{"arg-unmapped", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		return th.mem.bad(), len(a), unix.EFAULT
	}},
	// The struct ends at the guard page; its larger size runs into it.
	{"arg-straddles", func(th *thread, a []byte, ver0 int) (uintptr, int, unix.Errno) {
		return th.mem.putTail(a), len(a) + 8, unix.EFAULT
	}},
}

// config makes c on a picked target (pickTarget).
func (th *thread) config(c cfgCall) {
	t := th.pickTarget()
	defer t.release()
	th.configTarget(c, t)
}

// slotTarget is the target of one of the thread's own fds.
func slotTarget(s *slot) target { return target{kind: tgtSlot, fd: s.fd, slot: s, st: s.e.state} }

// configTarget makes c on t, the argument mutated one time in six, and
// checks the answer; on success on an unstarted embryo of the thread's it
// updates the model.
func (th *thread) configTarget(c cfgCall, t target) {
	mut := argMutations[0]
	if th.rng.IntN(6) == 0 && !c.noArg {
		mut = argMutations[1+th.rng.IntN(len(argMutations)-1)]
	}
	ver0 := c.ver0
	if ver0 == 0 {
		ver0 = len(c.arg)
	}
	p, size, pre := mut.place(th, c.arg, ver0)
	if c.noArg {
		p, size, pre = 0, 0, 0
	}
	if pre == 0 {
		pre = c.argPre
	}
	if c.cmdPre != 0 {
		pre = c.cmdPre // the command is checked before the size
	}
	_, _, e := unix.Syscall6(pidfd.SYS_PIDFD_CONFIG, uintptr(t.fd), uintptr(c.cmd), p, uintptr(size), 0, 0)
	key := c.key
	switch {
	case t.kind != tgtSlot:
		key = "config.target/" + t.kind.String()
	case mut.name != "" && c.cmdPre == 0:
		key = "config.size/" + mut.name
	}
	cmdSet := c.cmdSet
	if c.sizeInArg && size != len(c.arg) {
		cmdSet = errs(unix.EINVAL)
	}
	d := fmt.Sprintf("%s (cmd %d) on %v, arg %#x size %d", c.key, c.cmd, t, p, size)
	if th.expect(key, d, e, configRule(t.kind, t.st, pre, cmdSet)) && e == 0 && t.slot != nil && t.st == stNew && c.apply != nil {
		c.apply(t.slot.e)
	}
}

// opConfigBadCmd: an unknown command is EINVAL (after the authority check,
// before the size).
func opConfigBadCmd(th *thread) {
	cmds := []int{0, pidfd.PIDFD_CONFIG_FOREGROUND + 1, 99, 1 << 31}
	th.config(cfgCall{
		key:    "config.badcmd",
		cmd:    cmds[th.rng.IntN(len(cmds))],
		arg:    make([]byte, 16),
		cmdPre: unix.EINVAL, // in every state: before the size and the state
	})
}

// EXEC: the path is copied now and resolved at run (DESIGN.md: "EXEC
// holds no write denial on the program before run ... the execve checks
// happen at run"). Its own errnos (pidfd_config_exec()): EINVAL for
// unknown flags, EFAULT for a bad path pointer, ENAMETOOLONG past
// PATH_MAX. A failed call leaves the program configured before.
func opConfigExec(th *thread) {
	w := th.w
	a := pidfd.ExecArg{Dirfd: unix.AT_FDCWD}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_EXEC, cmdSet: okOnly}
	switch v := th.rng.IntN(10); {
	case v < 6:
		k := pickExec(th.rng)
		a.Path, a.Flags = uint64(th.mem.cstr(w.paths[k])), k.flags()
		c.key = "config.exec/" + k.String()
		c.apply = func(e *emb) { e.exec = k }
	case v == 6:
		a.Path, a.Flags = uint64(th.mem.cstr(w.paths[kTrue])), 1<<uint(8+th.rng.IntN(20))&^(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW)
		if a.Flags == 0 {
			a.Flags = unix.AT_REMOVEDIR
		}
		c.key, c.cmdSet = "config.exec/bad-flags", errs(unix.EINVAL)
	case v == 7:
		ptrs := []uint64{0, uint64(th.mem.bad())}
		a.Path = ptrs[th.rng.IntN(2)]
		c.key, c.cmdSet = "config.exec/bad-path-pointer", errs(unix.EFAULT)
	case v == 8:
		// A path that runs into the guard page, unterminated.
		b := th.mem.tail(64)
		for i := range b {
			b[i] = 'u'
		}
		a.Path = uint64(addr(b))
		c.key, c.cmdSet = "config.exec/unterminated-path", errs(unix.EFAULT)
	default:
		a.Path = uint64(th.big.longPath)
		c.key, c.cmdSet = "config.exec/path-too-long", errs(unix.ENAMETOOLONG)
	}
	c.arg = raw(a)
	th.config(c)
}

// ARGV, ENVP: string vectors copied at once, with execve's limits
// (DESIGN.md: "ARGV, ENVP ... execve's limits (E2BIG)"; "ARGV/ENVP are a
// snapshot taken at config time"). pidfd_strv_copy(): EFAULT for a bad
// vector or string, E2BIG for a string past MAX_ARG_STRLEN or a total
// past the embryo's share of RLIMIT_STACK.
func opConfigStrings(th *thread, cmd int, name string) {
	var a pidfd.StringsArg
	c := cfgCall{cmd: cmd, cmdSet: okOnly}
	switch v := th.rng.IntN(14); {
	case v < 7:
		n := th.rng.IntN(6)
		ss := make([]string, n)
		for i := range ss {
			ss[i] = fmt.Sprintf("s%d=%x", i, th.rng.Uint64())
		}
		if n > 0 {
			a.Strings = uint64(th.mem.strs(ss...))
		}
		c.key = name + "/valid"
	case v == 7:
		a.Strings = uint64(th.mem.bad())
		c.key, c.cmdSet = name+"/vector-unmapped", errs(unix.EFAULT)
	case v == 8:
		a.Strings = uint64(th.mem.vec(th.mem.cstr("ok"), th.mem.bad()))
		c.key, c.cmdSet = name+"/string-unmapped", errs(unix.EFAULT)
	case v == 9:
		// The vector has no NULL before the guard page.
		b := th.mem.tail(64)
		s := th.mem.cstr("x")
		for i := 0; i < 64; i += 8 {
			*(*uintptr)(unsafe.Pointer(&b[i])) = s
		}
		a.Strings = uint64(addr(b))
		c.key, c.cmdSet = name+"/vector-unterminated", errs(unix.EFAULT)
	case v == 10:
		b := th.mem.tail(32)
		for i := range b {
			b[i] = 'u'
		}
		a.Strings = uint64(th.mem.vec(addr(b)))
		c.key, c.cmdSet = name+"/string-unterminated", errs(unix.EFAULT)
	case v == 11:
		a.Strings = uint64(th.mem.vec(th.big.longStr))
		c.key, c.cmdSet = name+"/string-too-long", errs(unix.E2BIG)
	case v == 12:
		// More than exec's limit whatever RLIMIT_STACK is (at most
		// 6 MiB: _STK_LIM/4*3): 64 strings of MAX_ARG_STRLEN-1.
		ptrs := make([]uintptr, 64)
		for i := range ptrs {
			ptrs[i] = th.big.maxStr
		}
		a.Strings = uint64(th.mem.vec(ptrs...))
		c.key, c.cmdSet = name+"/vector-huge", errs(unix.E2BIG)
	default:
		a.Strings = 0
		c.key = name + "/empty"
	}
	c.arg = raw(a)
	th.config(c)
}

// FD actions (pidfd_config_fd()): DUP is dup2 of the caller's fd (EBADF
// for a closed source, EBADF for a target at or past the embryo's
// RLIMIT_NOFILE, EINVAL for an unstarted embryo's pidfd: no cycles);
// CLOSE is EBADF for a descriptor that is not open; CLOSE_RANGE is
// close_range's EINVAL for first > last and unknown flags; OPEN is
// openat2 as the embryo (its errors), EINVAL for a how_size below the
// first version, E2BIG above a page or with a non-zero tail; INHERIT
// takes no flags. Unknown actions, flags and a non-zero spare: EINVAL.
func opConfigFD(th *thread) {
	w := th.w
	a := pidfd.FDArg{}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_FD, cmdSet: okOnly}
	dst := th.rng.IntN(40)
	var fixed *slot
	switch v := th.rng.IntN(30); {
	case v < 6: // DUP of a valid source
		srcs := []int{w.devnull, w.pipeR, w.pipeW, w.fifoFd, w.dirFd, w.pathFd, w.fileFd, w.selfPidfd}
		if s := th.slotWhere(func(e *emb) bool { return e.state != stNew }); s != nil {
			srcs = append(srcs, s.fd) // a started embryo's fd is an ordinary pidfd
		}
		a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_DUP, int32(srcs[th.rng.IntN(len(srcs))]), uint32(dst)
		if th.rng.IntN(2) == 0 {
			a.Flags = pidfd.PIDFD_FD_CLOEXEC
		}
		c.key = "config.fd/dup"
		c.apply = func(e *emb) { e.table.add(dst) }
	case v == 6:
		a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_DUP, int32(w.closedFd), uint32(dst)
		c.key, c.cmdSet = "config.fd/dup-closed-src", errs(unix.EBADF)
	case v == 7:
		s := th.slotWhere(func(e *emb) bool { return e.state == stNew })
		if s == nil {
			return
		}
		a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_DUP, int32(s.fd), uint32(dst)
		c.key, c.cmdSet = "config.fd/dup-embryo-src", errs(unix.EINVAL)
	case v == 8:
		a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_DUP, int32(w.devnull), 0x7fffffff
		c.key, c.cmdSet = "config.fd/dup-past-nofile", errs(unix.EBADF)
	case v == 9:
		a.Action, a.SrcFd, a.Fd, a.Flags = pidfd.PIDFD_FD_DUP, int32(w.devnull), uint32(dst), 2
		c.key, c.cmdSet = "config.fd/dup-bad-flags", errs(unix.EINVAL)
	case v == 10:
		a.Action, a.SrcFd, a.Fd, a.Spare = pidfd.PIDFD_FD_DUP, int32(w.devnull), uint32(dst), 1
		c.key, c.cmdSet = "config.fd/spare", errs(unix.EINVAL)
	case v == 11:
		acts := []uint32{0, 6, 1000}
		a.Action = acts[th.rng.IntN(len(acts))]
		c.key, c.cmdSet = "config.fd/bad-action", errs(unix.EINVAL)
	case v < 15: // CLOSE
		a.Action, a.Fd = pidfd.PIDFD_FD_CLOSE, uint32(dst)
		c.key = "config.fd/close"
		c.cmdSet = errs(0, unix.EBADF)
		// The answer depends on the embryo's table: the target is
		// fixed now.
		if fixed = th.anySlot(); fixed != nil && !fixed.e.table.unknown {
			if fixed.e.table.open[dst] {
				c.cmdSet = okOnly
			} else {
				c.cmdSet = errs(unix.EBADF)
			}
		}
		c.apply = func(e *emb) { e.table.del(dst) }
		if v == 14 {
			a.Flags = 1
			c.key, c.cmdSet, c.apply = "config.fd/close-flags", errs(unix.EINVAL), nil
		}
	case v < 18: // CLOSE_RANGE
		first := uint32(th.rng.IntN(40))
		last := first + uint32(th.rng.IntN(40))
		if th.rng.IntN(4) == 0 {
			last = ^uint32(0)
		}
		a.Action, a.Fd, a.MaxFd = pidfd.PIDFD_FD_CLOSE_RANGE, first, last
		c.key = "config.fd/close_range"
		switch v {
		case 15:
			a.Flags = unix.CLOSE_RANGE_CLOEXEC
			c.key += "-cloexec"
		case 16:
			c.apply = func(e *emb) {
				for fd := range e.table.open {
					if uint32(fd) >= first && uint32(fd) <= last {
						e.table.del(fd)
					}
				}
			}
		default:
			if th.rng.IntN(2) == 0 {
				a.Fd, a.MaxFd = last, first-1
				if first == 0 {
					a.Fd, a.MaxFd = 5, 4
				}
				c.key, c.cmdSet = "config.fd/close_range-reversed", errs(unix.EINVAL)
			} else {
				a.Flags = unix.CLOSE_RANGE_UNSHARE
				c.key, c.cmdSet = "config.fd/close_range-unshare", errs(unix.EINVAL)
			}
		}
	case v < 27:
		th.fdOpenVariant(&a, &c, dst)
	case v == 27:
		a.Action = pidfd.PIDFD_FD_INHERIT
		c.key = "config.fd/inherit"
		c.apply = func(e *emb) { e.table = fdModel{unknown: true} }
	case v == 28:
		a.Action, a.Flags = pidfd.PIDFD_FD_INHERIT, 1
		c.key, c.cmdSet = "config.fd/inherit-flags", errs(unix.EINVAL)
	default:
		a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_DUP, int32(w.devnull), uint32(dst)
		c.key = "config.fd/dup"
		c.apply = func(e *emb) { e.table.add(dst) }
	}
	c.arg = raw(a)
	if fixed != nil {
		th.configTarget(c, slotTarget(fixed))
		return
	}
	th.config(c)
}

// fdOpenVariant fills a PIDFD_FD_OPEN: openat2 as the embryo (its cwd,
// root and credentials), at the embryo's fd dst.
func (th *thread) fdOpenVariant(a *pidfd.FDArg, c *cfgCall, dst int) {
	w := th.w
	how := unix.OpenHow{Flags: unix.O_RDONLY}
	path := "/dev/null"
	a.Action, a.SrcFd, a.Fd = pidfd.PIDFD_FD_OPEN, unix.AT_FDCWD, uint32(dst)
	c.key = "config.fd/open"
	c.apply = func(e *emb) { e.table.add(dst) }
	howSize := int(unsafe.Sizeof(how))
	var howPtr uintptr
	switch v := th.rng.IntN(22); v {
	case 0:
		how.Flags = unix.O_RDWR
	case 1:
		path, how.Flags = w.sub, unix.O_RDONLY|unix.O_DIRECTORY
	case 2:
		path, how.Flags = w.fifo2, unix.O_RDONLY|unix.O_NONBLOCK
	case 3:
		// ENXIO unless an embryo's table holds the FIFO open for
		// reading (case 2).
		path, how.Flags = w.fifo2, unix.O_WRONLY|unix.O_NONBLOCK
		c.cmdSet = errs(0, unix.ENXIO)
	case 4:
		path = fmt.Sprintf("%s/created-%d", w.dir, w.seq.Add(1))
		how.Flags, how.Mode = unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600
	case 5:
		path, how.Flags = "/bin", unix.O_PATH
	case 6:
		path, a.SrcFd = "sub", int32(w.dirFd)
	case 7:
		path = w.dir + "/missing"
		c.key, c.cmdSet, c.apply = "config.fd/open-missing", errs(unix.ENOENT), nil
	case 8:
		how.Resolve = unix.RESOLVE_BENEATH
		c.key, c.cmdSet, c.apply = "config.fd/open-beneath", errs(unix.EXDEV), nil
	case 9:
		how.Flags = 1 << 30
		c.key, c.cmdSet, c.apply = "config.fd/open-bad-flags", errs(unix.EINVAL), nil
	case 10:
		how.Mode = 0o644
		c.key, c.cmdSet, c.apply = "config.fd/open-mode-without-creat", errs(unix.EINVAL), nil
	case 11:
		howSize = th.rng.IntN(unix.SizeofOpenHow)
		c.key, c.cmdSet, c.apply = "config.fd/open-how-small", errs(unix.EINVAL), nil
	case 12:
		howSize = unix.Getpagesize() + 8
		c.key, c.cmdSet, c.apply = "config.fd/open-how-page", errs(unix.E2BIG), nil
	case 13:
		b := th.mem.alloc(64)
		copy(b, raw(how))
		b[63] = 1
		howPtr, howSize = addr(b), 64
		c.key, c.cmdSet, c.apply = "config.fd/open-how-tail", errs(unix.E2BIG), nil
	case 14:
		howPtr = th.mem.bad()
		c.key, c.cmdSet, c.apply = "config.fd/open-how-unmapped", errs(unix.EFAULT), nil
	case 15:
		a.Path = uint64(th.mem.bad())
		c.key, c.cmdSet, c.apply = "config.fd/open-path-unmapped", errs(unix.EFAULT), nil
	case 16:
		a.Flags = 1
		c.key, c.cmdSet, c.apply = "config.fd/open-flags", errs(unix.EINVAL), nil
	case 17:
		path, a.SrcFd = "sub", int32(w.closedFd)
		c.key, c.cmdSet, c.apply = "config.fd/open-closed-dirfd", errs(unix.EBADF), nil
	case 18:
		dirfds := []int{w.fifoFd, w.fileFd, w.selfPidfd}
		if s := th.anySlot(); s != nil {
			dirfds = append(dirfds, s.fd)
		}
		path, a.SrcFd = "sub", int32(dirfds[th.rng.IntN(len(dirfds))])
		c.key, c.cmdSet, c.apply = "config.fd/open-dirfd-not-dir", errs(unix.ENOTDIR), nil
	case 19:
		path, how.Flags = w.file, unix.O_RDONLY|unix.O_DIRECTORY
		c.key, c.cmdSet, c.apply = "config.fd/open-not-dir", errs(unix.ENOTDIR), nil
	case 20:
		path, how.Flags = w.sub, unix.O_WRONLY
		c.key, c.cmdSet, c.apply = "config.fd/open-dir-write", errs(unix.EISDIR), nil
	default:
		a.Fd = 0x7fffffff
		c.key, c.cmdSet, c.apply = "config.fd/open-past-nofile", errs(unix.EBADF), nil
	}
	if a.Path == 0 {
		a.Path = uint64(th.mem.cstr(path))
	}
	if howPtr == 0 {
		howPtr = th.mem.put(raw(how), 0)
	}
	a.How, a.HowSize = uint64(howPtr), uint64(howSize)
}

// CWD (pidfd_config_cwd()): chdir as the embryo, relative to the caller's
// dirfd; AT_EMPTY_PATH with "" is fchdir(dirfd). The lookup's errnos:
// ENOENT, ENOTDIR, EBADF, EFAULT; unknown flags EINVAL.
func opConfigCwd(th *thread) {
	w := th.w
	a := pidfd.CwdArg{Dirfd: unix.AT_FDCWD}
	path := "/"
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_CWD, cmdSet: okOnly, key: "config.cwd/valid"}
	switch v := th.rng.IntN(13); v {
	case 0:
	case 1:
		path = "/bin" // where kRelative runs
	case 2:
		path = w.dir
	case 3:
		// Relative to the embryo's own cwd: there only if it is
		// the worker's directory.
		path = "sub"
		c.cmdSet = errs(0, unix.ENOENT)
	case 4:
		path, a.Dirfd, a.Flags = "", int32(w.dirFd), unix.AT_EMPTY_PATH
	case 5:
		path, a.Dirfd = "sub", int32(w.dirFd)
	case 6:
		path = w.dir + "/missing"
		c.key, c.cmdSet = "config.cwd/missing", errs(unix.ENOENT)
	case 7:
		paths := []string{w.file, w.paths[kFifo], "/dev/null"}
		path = paths[th.rng.IntN(len(paths))]
		c.key, c.cmdSet = "config.cwd/not-dir", errs(unix.ENOTDIR)
	case 8:
		fds := []int{w.fifoFd, w.fileFd, w.selfPidfd}
		path, a.Dirfd, a.Flags = "", int32(fds[th.rng.IntN(len(fds))]), unix.AT_EMPTY_PATH
		c.key, c.cmdSet = "config.cwd/empty-path-not-dir", errs(unix.ENOTDIR)
	case 9:
		path = ""
		c.key, c.cmdSet = "config.cwd/empty-path", errs(unix.ENOENT)
	case 10:
		a.Flags = unix.AT_SYMLINK_NOFOLLOW
		c.key, c.cmdSet = "config.cwd/bad-flags", errs(unix.EINVAL)
	case 11:
		path, a.Dirfd = "sub", int32(w.closedFd)
		c.key, c.cmdSet = "config.cwd/closed-dirfd", errs(unix.EBADF)
	default:
		a.Path = uint64(th.mem.bad())
		c.key, c.cmdSet = "config.cwd/path-unmapped", errs(unix.EFAULT)
	}
	if a.Path == 0 {
		a.Path = uint64(th.mem.cstr(path))
	}
	c.arg = raw(a)
	th.config(c)
}

// SIGNALS (pidfd_config_signals()): any blocked mask (SIGKILL and SIGSTOP
// cannot be blocked and are dropped), any ignored set but SIGKILL and
// SIGSTOP (EINVAL), the caller's ignored signals added
// (PIDFD_SIGNALS_INHERIT_IGNORED), and no other flag (EINVAL).
func opConfigSignals(th *thread) {
	kill, stop := uint64(1)<<(unix.SIGKILL-1), uint64(1)<<(unix.SIGSTOP-1)
	a := pidfd.SignalsArg{Blocked: th.rng.Uint64(), Ignored: th.rng.Uint64() &^ (kill | stop)}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_SIGNALS, cmdSet: okOnly, key: "config.signals/valid", ver0: pidfd.PIDFD_SIGNALS_SIZE_VER0}
	switch th.rng.IntN(8) {
	case 0:
		a.Ignored |= kill
		c.key, c.cmdSet = "config.signals/ignore-kill", errs(unix.EINVAL)
	case 1:
		a.Ignored |= stop
		c.key, c.cmdSet = "config.signals/ignore-stop", errs(unix.EINVAL)
	case 2:
		a = pidfd.SignalsArg{}
	case 3:
		a.Flags = pidfd.PIDFD_SIGNALS_INHERIT_IGNORED
		c.key = "config.signals/inherit-ignored"
	case 4:
		// Refused with the size, before the embryo's state.
		a.Flags = 1 << (1 + th.rng.IntN(63))
		c.key, c.argPre = "config.signals/unknown-flag", unix.EINVAL
	}
	c.arg = raw(a)
	th.config(c)
}

// RLIMIT (pidfd_config_rlimit(), setrlimit() by the embryo): only limits
// that neither the exec nor /bin/true-static runs into, lowered, never
// raised (the model does not follow an embryo's limits); EINVAL for an
// unknown resource, cur above max, or a non-zero __spare.
func opConfigRlimit(th *thread) {
	a := pidfd.RlimitArg{Resource: unix.RLIMIT_CORE}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_RLIMIT, cmdSet: okOnly, key: "config.rlimit/core-0"}
	switch th.rng.IntN(6) {
	case 0:
		a.Resource = unix.RLIMIT_MSGQUEUE
		c.key = "config.rlimit/msgqueue-0"
	case 1:
		a.Resource = 16 + uint32(th.rng.IntN(1<<20))
		c.key, c.cmdSet = "config.rlimit/bad-resource", errs(unix.EINVAL)
	case 2:
		a.Cur, a.Max = 2, 1
		c.key, c.cmdSet = "config.rlimit/cur-above-max", errs(unix.EINVAL)
	case 3:
		a.Spare = 1 + uint32(th.rng.IntN(100))
		c.key, c.cmdSet = "config.rlimit/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// UMASK (pidfd_config_umask()): any mask of 0777; EINVAL for other bits.
func opConfigUmask(th *thread) {
	a := pidfd.UmaskArg{Umask: uint64(th.rng.IntN(0o1000))}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_UMASK, cmdSet: okOnly, key: "config.umask/valid"}
	if th.rng.IntN(4) == 0 {
		a.Umask |= 1 << uint(9+th.rng.IntN(55))
		c.key, c.cmdSet = "config.umask/bad-bits", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// UIDS, GIDS (setresuid(), setresgid() made by the embryo itself, woken
// for it: pidfd_embryo_call()): the workers are root, and the ids they
// set are the ones the embryo holds (root's), so the child's identity
// stays what the model expects while every call wakes the embryo, racing
// the other ops; EINVAL for a non-zero __spare or an id with no mapping
// ((uid_t)-1 is "keep", so only __spare here).
func opConfigIDs(th *thread, cmd int, name string) {
	k := pidfd.KeepID
	a := pidfd.IDsArg{Real: k, Effective: k, Saved: k}
	c := cfgCall{cmd: cmd, cmdSet: okOnly, key: name + "/keep"}
	switch th.rng.IntN(4) {
	case 0:
		a = pidfd.IDsArg{}
		c.key = name + "/root"
	case 1:
		a.Effective = 0
		c.key = name + "/effective-root"
	case 2:
		a.Spare = 1 + uint32(th.rng.IntN(100))
		c.key, c.cmdSet = name+"/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// GROUPS (setgroups() made by the embryo): the list is read by the caller
// (EFAULT, EINVAL for more than NGROUPS_MAX or (gid_t)-1) before the
// embryo makes the call. Valid lists hold root's group only, so the child
// the model expects is unchanged apart from its supplementary groups.
func opConfigGroups(th *thread) {
	a := pidfd.GroupsArg{}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_GROUPS, cmdSet: okOnly, key: "config.groups/empty"}
	switch th.rng.IntN(6) {
	case 0:
		a.List, a.Count = uint64(th.mem.put(raw([1]uint32{0}), 0)), 1
		c.key = "config.groups/root"
	case 1:
		a.List, a.Count = uint64(th.mem.bad()), 1
		c.key, c.cmdSet = "config.groups/list-unmapped", errs(unix.EFAULT)
	case 2:
		a.List, a.Count = uint64(th.mem.put(raw([2]uint32{0, ^uint32(0)}), 0)), 2
		c.key, c.cmdSet = "config.groups/unmapped-gid", errs(unix.EINVAL)
	case 3:
		a.Count = 65536 + 1 + uint32(th.rng.IntN(1000))
		c.key, c.cmdSet = "config.groups/too-many", errs(unix.EINVAL)
	case 4:
		a.Spare = 1
		c.key, c.cmdSet = "config.groups/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// ROOT (chroot() as the embryo): "/" keeps every path the model uses where
// it is; EINVAL for unknown flags, ENOENT, EFAULT for a bad path.
func opConfigRoot(th *thread) {
	a := pidfd.RootArg{Path: uint64(th.mem.cstr("/")), Dirfd: unix.AT_FDCWD}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_ROOT, cmdSet: okOnly, key: "config.root/slash"}
	switch th.rng.IntN(5) {
	case 0:
		a.Flags = unix.AT_SYMLINK_NOFOLLOW
		c.key, c.cmdSet = "config.root/bad-flags", errs(unix.EINVAL)
	case 1:
		a.Path = uint64(th.mem.cstr("/nonexistent/root"))
		c.key, c.cmdSet = "config.root/enoent", errs(unix.ENOENT)
	case 2:
		a.Path = uint64(th.mem.bad())
		c.key, c.cmdSet = "config.root/path-unmapped", errs(unix.EFAULT)
	}
	c.arg = raw(a)
	th.config(c)
}

// SETSID (setsid() made by the embryo): no argument; the first succeeds,
// later ones are EPERM (a session leader already); a non-NULL arg or a
// non-zero size is EINVAL in every state.
func opConfigSetsid(th *thread) {
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_SETSID, cmdSet: errs(0, unix.EPERM), key: "config.setsid/valid", noArg: true}
	if th.rng.IntN(4) == 0 {
		c = cfgCall{cmd: pidfd.PIDFD_CONFIG_SETSID, key: "config.setsid/with-arg", arg: make([]byte, 8), cmdPre: unix.EINVAL}
	}
	th.config(c)
}

// PGID (setpgid(0, pgid) made by the embryo): 0 leads a new group, or
// EPERM once the embryo leads a session (after SETSID); the worker's own
// group is in its session (0 or EPERM likewise); a negative pgid or a
// non-zero __spare is EINVAL.
func opConfigPgid(th *thread) {
	a := pidfd.PgidArg{}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_PGID, cmdSet: errs(0, unix.EPERM), key: "config.pgid/new"}
	switch th.rng.IntN(5) {
	case 0:
		a.Pgid = int32(unix.Getpgrp())
		c.key = "config.pgid/own-group"
	case 1:
		a.Pgid = -1
		c.key, c.cmdSet = "config.pgid/negative", errs(unix.EINVAL)
	case 2:
		a.Spare = 1
		c.key, c.cmdSet = "config.pgid/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// PDEATHSIG (prctl(PR_SET_PDEATHSIG) for the embryo): 0 or SIGCHLD, whose
// default is to ignore it, so that a worker thread's exit changes no
// child's fate; a signal above _NSIG or a non-zero __spare is EINVAL.
func opConfigPdeathsig(th *thread) {
	a := pidfd.PdeathsigArg{Signal: uint32(unix.SIGCHLD)}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_PDEATHSIG, cmdSet: okOnly, key: "config.pdeathsig/sigchld"}
	switch th.rng.IntN(5) {
	case 0:
		a.Signal = 0
		c.key = "config.pdeathsig/none"
	case 1:
		a.Signal = 65
		c.key, c.cmdSet = "config.pdeathsig/invalid", errs(unix.EINVAL)
	case 2:
		a.Spare = 1
		c.key, c.cmdSet = "config.pdeathsig/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// SCHED (sched_setattr() made by the embryo): SCHED_NORMAL with a nice
// value the worker may set (0 to 19: never lower than its own); an
// unknown policy, or a size field other than 0 and the size passed, is
// EINVAL.
func opConfigSched(th *thread) {
	a := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(th.rng.IntN(20))}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_SCHED, cmdSet: okOnly, key: "config.sched/nice", sizeInArg: true}
	switch th.rng.IntN(5) {
	case 0:
		a.Policy = 99
		c.key, c.cmdSet = "config.sched/policy", errs(unix.EINVAL)
	case 1:
		a.Size = 48
		c.key, c.cmdSet = "config.sched/size-field", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// CGROUP (the embryo moves itself into a cgroup2 directory): what is not
// one is EBADF (-1, a directory, a file, an O_PATH directory), a non-zero
// __spare EINVAL. No move is made: a worker's embryos stay in its pids
// cgroup, whose count is the check that none outlives the round, and out
// of the kill cgroup, whose scenarios count on what is there.
func opConfigCgroup(th *thread) {
	w := th.w
	fds := []int{-1, w.dirFd, w.fileFd, w.pathFd}
	a := pidfd.CgroupArg{Fd: int32(fds[th.rng.IntN(len(fds))])}
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_CGROUP, cmdSet: errs(unix.EBADF), key: "config.cgroup/not-cgroup2"}
	if th.rng.IntN(4) == 0 {
		a.Spare = 1
		c.key, c.cmdSet = "config.cgroup/spare", errs(unix.EINVAL)
	}
	c.arg = raw(a)
	th.config(c)
}

// CTTY, NOCTTY, FOREGROUND (a job control request the embryo makes on a
// terminal of ours): what is no descriptor or an O_PATH one is EBADF, a
// file that is not a terminal ENOTTY, a flag the command does not take
// EINVAL. No terminal is given: a worker's embryos must not take the
// console from the harness.
func opConfigTTY(th *thread) {
	w := th.w
	cmds := []int{pidfd.PIDFD_CONFIG_CTTY, pidfd.PIDFD_CONFIG_NOCTTY, pidfd.PIDFD_CONFIG_FOREGROUND}
	cmd := cmds[th.rng.IntN(len(cmds))]
	var a pidfd.TTYArg
	var c cfgCall
	switch th.rng.IntN(4) {
	case 0:
		a.Fd = -1
		c = cfgCall{cmdSet: errs(unix.EBADF), key: "config.tty/no-fd"}
	case 1:
		a.Fd = int32(w.pathFd)
		c = cfgCall{cmdSet: errs(unix.EBADF), key: "config.tty/o-path"}
	case 2:
		fds := []int{w.devnull, w.fileFd, w.pipeR, w.dirFd}
		a.Fd = int32(fds[th.rng.IntN(len(fds))])
		c = cfgCall{cmdSet: errs(unix.ENOTTY), key: "config.tty/not-a-terminal"}
	default:
		a.Fd, a.Flags = int32(w.devnull), 2
		c = cfgCall{cmdSet: errs(unix.EINVAL), key: "config.tty/flags"}
	}
	c.cmd = cmd
	c.arg = raw(a)
	th.config(c)
}

// NO_NEW_PRIVS: no argument; a non-NULL arg or a non-zero size is EINVAL
// in every state, as an unknown command is (checked before the state).
func opConfigNoNewPrivs(th *thread) {
	c := cfgCall{cmd: pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, cmdSet: okOnly, key: "config.nnp/valid", noArg: true}
	if th.rng.IntN(4) == 0 {
		c = cfgCall{cmd: pidfd.PIDFD_CONFIG_NO_NEW_PRIVS, key: "config.nnp/with-arg", arg: make([]byte, 8), cmdPre: unix.EINVAL}
	}
	th.config(c)
}
