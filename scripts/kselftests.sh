#!/usr/bin/env bash
# Build the kernel tree's own pidfd, clone3 and exec selftests against the
# uapi headers of a built kernel flavour, statically where the test allows it,
# and install them (with kselftest-list.txt) into build/kselftests-FLAVOUR.
# The VM harness puts that directory in the initramfs at /kselftests.
#
#   scripts/kselftests.sh plain|debug|race|lockstat
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:?usage: $0 plain|debug|race|lockstat}
kbuild=$(kbuild_dir "$flavour")
targets=${KSELFTEST_TARGETS:-pidfd clone3 exec}
inst=$BUILD_DIR/kselftests-$flavour
obj=$BUILD_DIR/kselftests-obj-$flavour

need gcc build-essential
[ -f /usr/lib/x86_64-linux-gnu/libcap.a ] || die "static libcap missing: run 'make deps' (or: apt-get install libcap-dev)"
[ -d "$kbuild/usr/include/linux" ] || die "no exported headers in $kbuild/usr/include: build the kernel first (make kernel)"

log "building selftests ($targets) against $kbuild/usr/include"
rm -rf "$inst" "$inst.parts"
# Collections that link statically, so the guest needs no libraries for
# them; LDFLAGS from the environment reach every link. exec builds its own
# static-pie and PIE binaries (its load_address tests), which -static would
# break: it links as its Makefile says, and the harness puts the shared
# libraries its binaries need in the initramfs (u-root's ldd pass).
build() { # static|dynamic collection...
	local mode=$1 ldflags=
	[ "$mode" = static ] && ldflags=-static
	shift
	# Separate objects per link mode: make would not relink a binary
	# whose flags changed.
	mkdir -p "$obj"
	LDFLAGS=$ldflags make -s -C "$KSRC/tools/testing/selftests" \
		TARGETS="$*" O="$obj/$mode" \
		KHDR_INCLUDES="-isystem $kbuild/usr/include" \
		-j"$(nproc)" install INSTALL_PATH="$inst.parts/$mode" \
		>/dev/null 2>"$obj/$mode.stderr" || { cat "$obj/$mode.stderr" >&2; return 1; }
	cat "$obj/$mode.stderr" >&2
}
static=() dynamic=()
for t in $targets; do
	case $t in
	exec) dynamic+=("$t") ;;
	*) static+=("$t") ;;
	esac
done
[ ${#static[@]} -eq 0 ] || build static "${static[@]}"
[ ${#dynamic[@]} -eq 0 ] || build dynamic "${dynamic[@]}"

# The series' own test must build without a diagnostic: a reviewer's
# compiler shows every warning (the other collections' are not ours).
if grep -l 'pidfd_empty_test\.c' "$obj"/*.stderr >/dev/null 2>&1; then
	die "pidfd_empty_test.c built with warnings (above): fix them in the patch that added the line"
fi

# Merge the parts into one tree with one list.
mkdir -p "$inst"
for part in "$inst.parts"/*; do
	# Only "collection:binary" lines: a collection's Makefile may print
	# into the list (7.3's exec says which tests it skips building).
	grep -E '^[A-Za-z0-9_.-]+:[^ ]+$' "$part/kselftest-list.txt" >>"$inst/kselftest-list.txt" || true
	grep -vE '^[A-Za-z0-9_.-]+:[^ ]+$' "$part/kselftest-list.txt" | sed 's/^/  kselftest build: /' >&2 || true
	rm "$part/kselftest-list.txt"
	cp -a "$part"/. "$inst"/
done
rm -rf "$inst.parts"

# The selftests Makefiles carry on past a collection that fails to build:
# a collection missing from the list is a build failure here.
for t in $targets; do
	grep -q "^$t:" "$inst/kselftest-list.txt" ||
		die "selftest collection '$t' did not build (see the make output above)"
done
log "selftests: $(wc -l <"$inst/kselftest-list.txt") binaries in $inst"
