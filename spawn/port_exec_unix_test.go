// Copyright 2022 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/os/exec/exec_unix_test.go (BSD license,
// Copyright The Go Authors; see PORTED.md): the same tests, run against
// spawn.Cmd. Changes are marked "spawn:".

//go:build unix

package spawn_test

import (
	"os"
	"syscall"
)

var (
	quitSignal os.Signal = syscall.SIGQUIT
	pipeSignal os.Signal = syscall.SIGPIPE
)
