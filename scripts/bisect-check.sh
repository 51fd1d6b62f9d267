#!/usr/bin/env bash
# Check that each commit of the series in the kernel work tree compiles the
# code it touches: for every commit on top of the base tag, check it out and
# build the objects of the C files that the series changes (plus the x86
# syscall table), in a separate build directory of the FLAVOR's config.
# A full build of every commit is CI's job; this catches the usual
# bisection breakage (a symbol used before the patch that adds it) in
# minutes. Leaves the work tree on its branch.
#
#   scripts/bisect-check.sh [plain|debug] [FROM]
#
# FROM (a commit of the series, e.g. HEAD~3) checks only the commits after
# it: what changed since a full check passed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
from=${2:-$KERNEL_BASE_TAG}
kbuild=$(kbuild_dir "$flavour")
out=$BUILD_DIR/kbuild-bisect
[ -f "$kbuild/.config" ] || die "no $kbuild/.config: build the $flavour kernel first (make kernel FLAVOR=$flavour)"
[ -z "$(git -C "$KSRC" status --porcelain --untracked-files=no)" ] ||
	die "$KSRC has uncommitted changes: commit them first"

CC=gcc
command -v ccache >/dev/null 2>&1 && CC="ccache gcc"
mkdir -p "$out"
cp "$kbuild/.config" "$out/.config"

branch=$(git -C "$KSRC" rev-parse --abbrev-ref HEAD)
trap 'git -C "$KSRC" checkout -q "$branch"' EXIT

# Objects of the C files the whole series touches, that this config builds.
objs=$(git -C "$KSRC" diff --name-only "$KERNEL_BASE_TAG..$branch" -- '*.c' |
	grep -v '^tools/' | sed 's/\.c$/.o/')
objs="$objs arch/x86/entry/syscall_64.o"

fail=0
from=$(git -C "$KSRC" rev-parse --verify -q "$from^{commit}") ||
	die "${2:-$KERNEL_BASE_TAG}: no such commit in $KSRC"
git -C "$KSRC" merge-base --is-ancestor "$from" "$branch" ||
	die "${2}: not a commit of the series on $branch"
for c in $(git -C "$KSRC" rev-list --reverse "$from..$branch"); do
	subject=$(git -C "$KSRC" log --format=%s -1 "$c")
	git -C "$KSRC" checkout -q "$c"
	want=()
	for o in $objs; do
		# Only objects whose source exists at this commit and that the
		# config builds (a .o of it exists in the full build).
		[ -f "$KSRC/${o%.o}.c" ] && [ -f "$kbuild/$o" ] && want+=("$o")
	done
	if make -s -C "$KSRC" O="$out" CC="$CC" HOSTCC="$CC" LOCALVERSION= \
		-j"$(nproc)" olddefconfig "${want[@]}" >"$out/log" 2>&1; then
		log "ok:     $subject"
	else
		log "FAILED: $subject"
		grep -E 'error|Error' "$out/log" | head -20 >&2
		fail=1
	fi
done
[ $fail -eq 0 ] || die "some commits do not build"
log "every commit builds what the series touches"
