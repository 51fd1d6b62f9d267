// Copyright 2019 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/os/exec/bench_test.go (BSD license,
// Copyright The Go Authors; see PORTED.md): the same tests, run against
// spawn.Cmd. Changes are marked "spawn:". spawn: an external test, with
// spawn's names (upstream's is in package exec).

package spawn_test

import (
	"testing"

	"github.com/emptypidfd/emptypidfd/spawn"
)

func BenchmarkExecHostname(b *testing.B) {
	b.ReportAllocs()
	path, err := spawn.LookPath("hostname")
	if err != nil {
		b.Fatalf("could not find hostname: %v", err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := spawn.Command(path).Run(); err != nil {
			b.Fatalf("hostname: %v", err)
		}
	}
}
