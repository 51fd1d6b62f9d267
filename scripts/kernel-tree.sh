#!/usr/bin/env bash
# Prepare the kernel work tree in build/linux:
#  - unpack the pinned Debian linux-source tarball into a git repository whose
#    first commit is the untouched base (tagged $KERNEL_BASE_TAG);
#  - apply kernel/patches/ (listed in kernel/patches/series) with git am.
#
# The work tree is where kernel development happens: commit there, then run
# 'make patches'. This script re-applies the series only when kernel/patches/
# changed since it was last applied or regenerated, and never throws away
# commits: a work tree with commits of its own is kept on a backup branch.
#
#   scripts/kernel-tree.sh [--stamp-only]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need git git
need tar tar
need xz xz-utils

PATCH_DIR=$TOP/kernel/patches
STAMP=$KSRC/.git/emptypidfd-series

# The ordered list of patch files of the series (may be empty).
series_files() {
	[ -f "$PATCH_DIR/series" ] || return 0
	# grep finds no line in a series of comments: that is an empty list
	# (which apply_series refuses), not a silent exit under pipefail.
	{ grep -v -e '^#' -e '^[[:space:]]*$' "$PATCH_DIR/series" || [ $? -eq 1 ]; } |
		while read -r p; do printf '%s\n' "$PATCH_DIR/$p"; done
}

series_hash() {
	{
		cat "$PATCH_DIR/series" 2>/dev/null || true
		series_files | while read -r p; do
			[ -f "$p" ] || die "kernel/patches/series names $(basename "$p"), which does not exist"
			cat "$p"
		done
	} | sha256sum | cut -d' ' -f1
}

unpack() {
	[ -f "$KERNEL_TARBALL" ] ||
		die "$KERNEL_TARBALL missing: run 'make deps' (installs $KERNEL_DEB_PACKAGE=$KERNEL_DEB_VERSION)"
	log "unpacking $KERNEL_TARBALL into $KSRC"
	# Everything happens in a directory aside, renamed into place last: an
	# interruption (Ctrl-C during the long 'git add') leaves no half-made
	# $KSRC behind, only the aside directory, which the next run removes.
	local tmp=$BUILD_DIR/.unpack
	rm -rf "$tmp" && mkdir -p "$tmp"
	tar -C "$tmp" -xf "$KERNEL_TARBALL"
	local sub
	sub=$(find "$tmp" -mindepth 1 -maxdepth 1 -type d | head -1)
	local v
	v=$(make -s -C "$sub" kernelversion 2>/dev/null)
	case "$v" in
	"$KERNEL_VERSION") ;;
	"${KERNEL_VERSION%.*}".*)
		# make deps fell back to the newest package of the series.
		warn_banner "$KERNEL_TARBALL holds Linux $v, not the pinned $KERNEL_VERSION:" \
			"the series is applied to a base it was not made on (tag $KERNEL_BASE_TAG" \
			"names the pinned version). Results are not comparable to the README's."
		;;
	*) die "tarball holds Linux $v, expected $KERNEL_VERSION (scripts/versions.env)" ;;
	esac

	log "recording the untouched base as a git commit (tag $KERNEL_BASE_TAG)"
	# A fixed identity and date make the base commit id the same everywhere.
	export GIT_AUTHOR_NAME="Debian $KERNEL_DEB_PACKAGE" GIT_AUTHOR_EMAIL=debian-kernel@lists.debian.org
	export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
	export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z" GIT_COMMITTER_DATE="2000-01-01T00:00:00Z"
	git -C "$sub" init -q -b work
	git -C "$sub" config core.autocrlf false
	# No "git gc --auto" after the 80k-file commit: it would outlive this
	# script and compete with the kernel build for the CPUs.
	git -C "$sub" config gc.auto 0
	git -C "$sub" add -A -f .
	local msg="Linux $KERNEL_VERSION ($KERNEL_DEB_PACKAGE $KERNEL_DEB_VERSION)"
	[ "$v" = "$KERNEL_VERSION" ] || msg="Linux $v ($KERNEL_DEB_PACKAGE, not the pinned $KERNEL_DEB_VERSION)"
	git -C "$sub" commit -q -m "$msg"
	git -C "$sub" tag "$KERNEL_BASE_TAG"
	mv "$sub" "$KSRC" && rmdir "$tmp"
}

# A work tree that an older version of this script left half-made: a
# directory without .git (mv would nest the new tree inside it), or a .git
# without the base tag (interrupted before its first commit). Neither holds
# work of anyone's: remove it, loudly.
discard_incomplete() {
	if [ -e "$KSRC" ] && [ ! -d "$KSRC/.git" ]; then
		log "$KSRC exists but is not a git work tree (an interrupted unpack?): removing it"
		rm -rf "$KSRC"
	elif [ -d "$KSRC/.git" ] && ! git -C "$KSRC" rev-parse -q --verify "refs/tags/$KERNEL_BASE_TAG" >/dev/null; then
		log "$KSRC has no $KERNEL_BASE_TAG tag (an interrupted unpack?): removing it"
		rm -rf "$KSRC"
	fi
}

apply_series() {
	local want=$1
	if [ -n "$(git -C "$KSRC" status --porcelain --untracked-files=no)" ]; then
		git -C "$KSRC" status --short --untracked-files=no | head -20 >&2
		die "kernel/patches/ changed but $KSRC has uncommitted changes: commit them (then 'make patches') or stash them"
	fi
	if [ "$(git -C "$KSRC" rev-parse HEAD)" != "$(git -C "$KSRC" rev-parse "$KERNEL_BASE_TAG^{commit}")" ]; then
		local backup
		backup=backup/$(date +%Y%m%d-%H%M%S)
		git -C "$KSRC" branch -f "$backup" HEAD
		log "kernel/patches/ changed: previous work tree commits kept on branch $backup"
	fi
	git -C "$KSRC" checkout -q -B work "$KERNEL_BASE_TAG"
	local p n=0
	while read -r p; do
		[ -n "$p" ] || continue
		n=$((n + 1))
		if ! git -C "$KSRC" am -q --keep-cr "$p" >&2; then
			git -C "$KSRC" am --abort || true
			die "patch $(basename "$p") does not apply on $KERNEL_BASE_TAG (+ the patches before it)"
		fi
	done < <(series_files)
	# Fail closed: a tree without the series builds a stock kernel, which
	# the tests would then have to tell apart from a broken series.
	[ "$n" -gt 0 ] || die "kernel/patches/series applied no patch: the work tree would be a stock kernel (is kernel/patches/series empty or missing?)"
	log "applied $n patch(es) from kernel/patches/"
	printf '%s\n' "$want" >"$STAMP"
}

mkdir -p "$BUILD_DIR"
if [ "${1:-}" = --stamp-only ]; then
	# Called by format-patches.sh: the work tree is the series now.
	series_hash >"$STAMP"
	exit 0
fi
discard_incomplete
[ -d "$KSRC/.git" ] || unpack

want=$(series_hash)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
	apply_series "$want"
else
	n=$(git -C "$KSRC" rev-list --count "$KERNEL_BASE_TAG..HEAD")
	[ "$n" -gt 0 ] || die "$KSRC has no commit on $KERNEL_BASE_TAG: the series is not applied (is kernel/patches/series empty?)"
	log "kernel work tree up to date with kernel/patches/ ($n commit(s) on $KERNEL_BASE_TAG)"
fi
