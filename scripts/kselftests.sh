#!/usr/bin/env bash
# Build the kernel tree's own pidfd, clone3 and exec selftests against the
# uapi headers of a built kernel flavour, statically where the test allows it,
# and install them (with kselftest-list.txt) into build/kselftests-FLAVOUR.
# The VM harness puts that directory in the initramfs at /kselftests.
#
#   scripts/kselftests.sh plain|debug
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: $0 plain|debug}
kbuild=$(kbuild_dir "$flavour")
targets=${KSELFTEST_TARGETS:-pidfd clone3 exec}
inst=$BUILD_DIR/kselftests-$flavour
obj=$BUILD_DIR/kselftests-obj-$flavour

need gcc build-essential
[ -f /usr/lib/x86_64-linux-gnu/libcap.a ] || die "static libcap missing: run 'make deps' (or: apt-get install libcap-dev)"
[ -d "$kbuild/usr/include/linux" ] || die "no exported headers in $kbuild/usr/include: build the kernel first (make kernel)"

log "building selftests ($targets) against $kbuild/usr/include"
rm -rf "$inst"
# LDFLAGS from the environment reach every link; the Makefiles append to it.
LDFLAGS=-static make -s -C "$KSRC/tools/testing/selftests" \
	TARGETS="$targets" O="$obj" \
	KHDR_INCLUDES="-isystem $kbuild/usr/include" \
	-j"$(nproc)" install INSTALL_PATH="$inst" >/dev/null
[ -s "$inst/kselftest-list.txt" ] || die "selftest install produced no kselftest-list.txt"
log "selftests: $(wc -l <"$inst/kselftest-list.txt") binaries in $inst"
