// Copyright 2011 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.
//
// Ported to package spawn from Go 1.26.8's src/os/exec/lp_test.go (BSD license,
// Copyright The Go Authors; see PORTED.md): the same tests, run against
// spawn.Cmd. Changes are marked "spawn:". spawn: an external test, with
// spawn's names (upstream's is in package exec).

package spawn_test

import (
	"testing"

	"github.com/emptypidfd/emptypidfd/spawn"
)

var nonExistentPaths = []string{
	"some-non-existent-path",
	"non-existent-path/slashed",
}

func TestLookPathNotFound(t *testing.T) {
	for _, name := range nonExistentPaths {
		path, err := spawn.LookPath(name)
		if err == nil {
			t.Fatalf("LookPath found %q in $PATH", name)
		}
		if path != "" {
			t.Fatalf("LookPath path == %q when err != nil", path)
		}
		perr, ok := err.(*spawn.Error)
		if !ok {
			t.Fatal("LookPath error is not an exec.Error")
		}
		if perr.Name != name {
			t.Fatalf("want Error name %q, got %q", name, perr.Name)
		}
	}
}
