#!/usr/bin/env bash
# Regenerate kernel/patches/ from the commits on top of the base tag in the
# kernel work tree (build/linux), keeping the cover letter's subject and text.
#
# The cover letter's prose lives in kernel/patches/0000-cover-letter.patch
# itself: everything between its headers and the shortlog is kept; the
# shortlog and diffstat are regenerated.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need git git
PATCH_DIR=$TOP/kernel/patches
COVER=$PATCH_DIR/0000-cover-letter.patch
[ -e "$KSRC/.git" ] || die "no kernel work tree at $KSRC: run 'make kernel' first"
[ -z "$(git -C "$KSRC" status --porcelain --untracked-files=no)" ] ||
	die "$KSRC has uncommitted changes: commit them first"

n=$(git -C "$KSRC" rev-list --count "$KERNEL_BASE_TAG..HEAD")
[ "$n" -gt 0 ] || die "no commits on top of $KERNEL_BASE_TAG in $KSRC: nothing to format"

# Subject and body of the existing cover letter ("" for a first series).
subject="" body=""
if [ -f "$COVER" ]; then
	subject=$(sed -n 's/^Subject: \[PATCH[^]]*\] //p' "$COVER" | head -1)
	body=$(awk '
		!inbody && /^$/ { inbody = 1; next }
		inbody && /^[^ ].* \([0-9]+\):$/ { exit }
		inbody { print }' "$COVER")
fi
if [ -z "$subject" ] || [ "$subject" = "*** SUBJECT HERE ***" ]; then
	log "no cover letter text yet: kernel/patches/0000-cover-letter.patch gets placeholders to fill in"
	subject="*** SUBJECT HERE ***"
	body="*** BLURB HERE ***"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The cover letter is signed by the series' author (its last commit's),
# not by whoever's git identity this machine has.
author_name=$(git -C "$KSRC" log -1 --format=%an HEAD)
author_email=$(git -C "$KSRC" log -1 --format=%ae HEAD)
git -C "$KSRC" -c user.name="$author_name" -c user.email="$author_email" \
	format-patch -q --cover-letter --zero-commit --no-signature \
	--subject-prefix="$SERIES_SUBJECT_PREFIX" -o "$tmp" "$KERNEL_BASE_TAG..HEAD"

# Put the kept text into the generated cover letter.
printf '%s\n' "$body" >"$tmp/blurb"
awk -v subject="$subject" -v blurb="$tmp/blurb" '
	/^Subject: / && !subject_done { sub(/\*\*\* SUBJECT HERE \*\*\*/, subject); subject_done = 1 }
	/^\*\*\* BLURB HERE \*\*\*$/ { while ((getline l < blurb) > 0) print l; next }
	{ print }' "$tmp/0000-cover-letter.patch" >"$tmp/cover"
mv "$tmp/cover" "$tmp/0000-cover-letter.patch"
rm -f "$tmp/blurb"

rm -f "$PATCH_DIR"/*.patch
cp "$tmp"/*.patch "$PATCH_DIR/"
(cd "$PATCH_DIR" && ls 0*.patch | grep -v '^0000-cover-letter.patch$') >"$PATCH_DIR/series"

# The work tree now matches the series: record it so the next build does not
# re-apply it.
"$TOP/scripts/kernel-tree.sh" --stamp-only
log "kernel/patches/: $n patch(es) and a cover letter"
