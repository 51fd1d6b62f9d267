package pidfd

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The numbers and layouts are checked against the built kernel's headers
// by internal/abicheck before each VM run, and against the C copy by its
// host test; these are the properties no header states.
func TestConstants(t *testing.T) {
	// PIDFD_EMPTY must collide with no other pidfd_open flag, here or in
	// mainline (PIDFD_AUTOKILL is O_TRUNC there).
	for _, other := range []int{PIDFD_NONBLOCK, PIDFD_THREAD, unix.O_TRUNC} {
		if PIDFD_EMPTY&other != 0 {
			t.Errorf("PIDFD_EMPTY %#x overlaps %#x", PIDFD_EMPTY, other)
		}
	}
}

func TestSigBit(t *testing.T) {
	for _, tc := range []struct {
		sig  unix.Signal
		want uint64
		err  bool
	}{
		{unix.SIGHUP, 1, false},
		{unix.SIGKILL, 1 << 8, false},
		{64, 1 << 63, false},
		{0, 0, true},
		{65, 0, true},
		{-1, 0, true},
		{1000, 0, true},
	} {
		got, err := SigBit(tc.sig)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("SigBit(%d) = %#x, %v; want %#x, error %v", int(tc.sig), got, err, tc.want, tc.err)
		}
		if tc.err && !errors.Is(err, unix.EINVAL) {
			t.Errorf("SigBit(%d): %v, want EINVAL", int(tc.sig), err)
		}
	}
	if m, err := SigSet(unix.SIGHUP, unix.SIGINT); err != nil || m != 3 {
		t.Errorf("SigSet(SIGHUP, SIGINT) = %#x, %v; want 3", m, err)
	}
	if _, err := SigSet(unix.SIGHUP, 65); err == nil {
		t.Errorf("SigSet with signal 65: no error")
	}
}

func TestCvector(t *testing.T) {
	v, err := cvector(nil)
	if err != nil || v != nil {
		t.Errorf("cvector(nil) = %v, %v; want nil (the empty vector)", v, err)
	}
	v, err = cvector([]string{})
	if err != nil || len(v) != 1 || v[0] != nil {
		t.Errorf("cvector({}) = %v, %v; want [NULL]", v, err)
	}
	v, err = cvector([]string{"ab", ""})
	if err != nil || len(v) != 3 || v[2] != nil {
		t.Fatalf("cvector: %v, %v", v, err)
	}
	if got := unix.BytePtrToString(v[0]); got != "ab" {
		t.Errorf("v[0] = %q", got)
	}
	if got := unix.BytePtrToString(v[1]); got != "" {
		t.Errorf("v[1] = %q", got)
	}
	if _, err := cvector([]string{"a\x00b"}); err != unix.EINVAL {
		t.Errorf("string with NUL: %v, want EINVAL", err)
	}
}

func TestNewVector(t *testing.T) {
	for _, tc := range []struct {
		name string
		ss   []string
		err  error
	}{
		{"nil", nil, nil},
		{"empty", []string{}, nil},
		{"strings", []string{"A=1", "", "B=2"}, nil},
		{"NUL", []string{"A=1", "B=\x00"}, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVector(tc.ss)
			if err != tc.err {
				t.Fatalf("NewVector(%q): %v, want %v", tc.ss, err, tc.err)
			}
			if err != nil {
				return
			}
			if v.Len() != len(tc.ss) {
				t.Errorf("Len() = %d, want %d", v.Len(), len(tc.ss))
			}
			got := v.Strings()
			if (got == nil) != (tc.ss == nil) || !slices.Equal(got, tc.ss) {
				t.Errorf("Strings() = %#v, want %#v", got, tc.ss)
			}
		})
	}
}

// The typed wrappers reject what cannot be a C string before any system
// call, on any kernel.
func TestWrappersRejectNUL(t *testing.T) {
	for name, err := range map[string]error{
		"ConfigExec":   ConfigExec(-1, unix.AT_FDCWD, "a\x00", 0),
		"ConfigArgv":   ConfigArgv(-1, []string{"a\x00"}),
		"ConfigEnvp":   ConfigEnvp(-1, []string{"a\x00"}),
		"ConfigFDOpen": ConfigFDOpen(-1, unix.AT_FDCWD, "a\x00", &unix.OpenHow{}, 0),
		"ConfigCwd":    ConfigCwd(-1, unix.AT_FDCWD, "a\x00", 0),
	} {
		if err != unix.EINVAL {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
}

// The calls at the series' numbers are gated on the probe: on a kernel
// without empty pidfds they return ErrNotSupported, which no kernel can
// return, so the call was not issued (a stock kernel may give 473 and 474
// to other system calls). With the series they reach the kernel, which
// answers EBADF for fd -1.
func TestGatedOnProbe(t *testing.T) {
	probeErr := Probe()
	if probeErr != nil && !errors.Is(probeErr, ErrNotSupported) {
		t.Fatalf("probe: %v", probeErr)
	}
	_, runErr := SpawnRun(-1, 0)
	for name, err := range map[string]error{
		"Config":             Config(-1, PIDFD_CONFIG_SIGNALS, 0, 0),
		"ConfigExec":         ConfigExec(-1, unix.AT_FDCWD, "/x", 0),
		"ConfigArgv":         ConfigArgv(-1, []string{"x"}),
		"ConfigEnvp":         ConfigEnvp(-1, nil),
		"ConfigFDDup":        ConfigFDDup(-1, 0, 0, 0),
		"ConfigFDClose":      ConfigFDClose(-1, 0),
		"ConfigFDCloseRange": ConfigFDCloseRange(-1, 0, 1, 0),
		"ConfigFDOpen":       ConfigFDOpen(-1, unix.AT_FDCWD, "/", &unix.OpenHow{}, 0),
		"ConfigFDInherit":    ConfigFDInherit(-1),
		"ConfigCwd":          ConfigCwd(-1, unix.AT_FDCWD, "/", 0),
		"ConfigSignals":      ConfigSignals(-1, 0, 0),
		"SpawnRun":           runErr,
	} {
		if probeErr != nil {
			if !errors.Is(err, ErrNotSupported) || !errors.Is(err, unix.ENOSYS) {
				t.Errorf("%s on a kernel without empty pidfds: %v, want ErrNotSupported (matching ENOSYS)", name, err)
			}
		} else if err != unix.EBADF {
			t.Errorf("%s(-1, ...): %v, want EBADF", name, err)
		}
	}
}

// A probe issues the series' numbers only on an embryo PIDFD_EMPTY has
// just made, and trusts them only when both calls answer as the series
// does; a kernel with another version of the series (ENOSYS at 473 and
// 474 on 6.12) is a kernel without empty pidfds.
func TestProbeWith(t *testing.T) {
	const fd = 42
	for _, tc := range []struct {
		name      string
		openErr   error
		config    unix.Errno
		run       unix.Errno
		wantErr   error // matched with errors.Is; nil: no error
		wantDone  bool
		wantCalls string
		command   unix.Errno // the answer to each of laterCommands
		wantCmds  bool       // HasCommand for them
		// The answer to the commands without an argument where the
		// others are known (a seccomp filter judges them; 0: made).
		noArg unix.Errno
	}{
		{"the series", nil, unix.E2BIG, unix.EINVAL, nil, true, "open config run" + strings.Repeat(" command", len(laterCommands)) + " close", unix.E2BIG, true, 0},
		{"a filter answering the commands without an argument", nil, unix.E2BIG, unix.EINVAL, nil, true, "open config run" + strings.Repeat(" command", len(laterCommands)) + " close", unix.E2BIG, true, unix.EPERM},
		{"the series without the later commands", nil, unix.E2BIG, unix.EINVAL, nil, true, "open config run" + strings.Repeat(" command", len(laterCommands)) + " close", unix.EINVAL, false, 0},
		{"another call at a later command's", nil, unix.E2BIG, unix.EINVAL, ErrNotSupported, true, "open config run command close", unix.ENOSYS, false, 0},
		{"no PIDFD_EMPTY", unix.EINVAL, 0, 0, ErrNotSupported, true, "open", 0, false, 0},
		{"out of descriptors: ask again later", unix.EMFILE, 0, 0, unix.EMFILE, false, "open", 0, false, 0},
		{"out of pids: ask again later", unix.EAGAIN, 0, 0, unix.EAGAIN, false, "open", 0, false, 0},
		{"no system call at pidfd_config's number", nil, unix.ENOSYS, 0, ErrNotSupported, true, "open config close", 0, false, 0},
		{"another call refusing its arguments", nil, unix.EINVAL, 0, ErrNotSupported, true, "open config close", 0, false, 0},
		{"another call taking a bad address", nil, unix.EFAULT, 0, ErrNotSupported, true, "open config close", 0, false, 0},
		{"another call succeeding", nil, 0, 0, ErrNotSupported, true, "open config close", 0, false, 0},
		{"not the creator any more", nil, unix.EPERM, 0, ErrNotSupported, true, "open config close", 0, false, 0},
		{"no system call at pidfd_spawn_run's number", nil, unix.E2BIG, unix.ENOSYS, ErrNotSupported, true, "open config run close", 0, false, 0},
		{"another call succeeding at pidfd_spawn_run's", nil, unix.E2BIG, 0, ErrNotSupported, true, "open config run close", 0, false, 0},
		{"another call at pidfd_spawn_run's, bad descriptor", nil, unix.E2BIG, unix.EBADF, ErrNotSupported, true, "open config run close", 0, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			c := probeCalls{
				open: func() (int, error) {
					calls = append(calls, "open")
					if tc.openErr != nil {
						return -1, tc.openErr
					}
					return fd, nil
				},
				config: func(got int) unix.Errno {
					calls = append(calls, "config")
					if got != fd {
						t.Errorf("pidfd_config on fd %d, want the new embryo %d", got, fd)
					}
					return tc.config
				},
				command: func(got, cmd int) unix.Errno {
					calls = append(calls, "command")
					if got != fd {
						t.Errorf("pidfd_config(%d) on fd %d, want the new embryo %d", cmd, got, fd)
					}
					if tc.command == unix.E2BIG && noArgCommands[cmd] {
						return tc.noArg // made on the probe's embryo
					}
					return tc.command
				},
				run: func(got int) unix.Errno {
					calls = append(calls, "run")
					if got != fd {
						t.Errorf("pidfd_spawn_run on fd %d, want the new embryo %d", got, fd)
					}
					return tc.run
				},
				close: func(got int) {
					calls = append(calls, "close")
					if got != fd {
						t.Errorf("closed fd %d, want the new embryo %d", got, fd)
					}
				},
			}
			done, cmds, err := probeWith(c)
			for _, cmd := range laterCommands {
				if cmds[cmd] != tc.wantCmds {
					t.Errorf("command %d known: %v, want %v", cmd, cmds[cmd], tc.wantCmds)
				}
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("probe: %v, want %v", err, tc.wantErr)
			}
			if errors.Is(tc.wantErr, ErrNotSupported) && !errors.Is(err, unix.ENOSYS) {
				t.Errorf("probe: %v does not match ENOSYS", err)
			}
			if done != tc.wantDone {
				t.Errorf("probe: cached %v, want %v", done, tc.wantDone)
			}
			if got := strings.Join(calls, " "); got != tc.wantCalls {
				t.Errorf("calls: %q, want %q", got, tc.wantCalls)
			}
		})
	}
}

// The confirming pidfd_config must fail its size check on every page size
// (up to 256 KiB, hexagon's largest) and be a size a 32-bit size_t holds.
func TestProbeConfigSize(t *testing.T) {
	if probeConfigSize <= 256<<10 || probeConfigSize > 1<<31-1 {
		t.Errorf("probeConfigSize %d: want more than any page, less than 2 GiB", probeConfigSize)
	}
}
