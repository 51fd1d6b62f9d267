#!/usr/bin/env bash
# Run the kernel's checkpatch.pl --strict on every patch of kernel/patches/.
# Exits non-zero if any patch has an error or warning; the cover letter says
# why any that remain are acceptable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need perl perl
[ -x "$KSRC/scripts/checkpatch.pl" ] || die "no $KSRC/scripts/checkpatch.pl: run 'make kernel' first"
mapfile -t patches < <(ls "$TOP"/kernel/patches/0*.patch 2>/dev/null | grep -v 0000-cover-letter || true)
if [ ${#patches[@]} -eq 0 ]; then
	log "kernel/patches/ is empty: nothing to check"
	exit 0
fi
cd "$KSRC"
rc=0
for p in "${patches[@]}"; do
	ok=1
	out=$(perl scripts/checkpatch.pl --strict --terse --show-types "$p" 2>&1) || ok=0
	printf '%s: %s\n' "$(basename "$p")" "$(printf '%s\n' "$out" | tail -1)"
	if [ "$ok" = 0 ]; then
		printf '%s\n' "$out" | sed '$d' | sed 's/^/  /'
		rc=1
	fi
done
exit $rc
