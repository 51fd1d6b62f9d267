#!/usr/bin/env bash
# Run the kernel's checkpatch.pl --strict on every patch of kernel/patches/.
# Fails on any error, warning or check that kernel/checkpatch-justified.txt
# does not list with its reason (the cover letter repeats those reasons).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need perl perl
[ -x "$KSRC/scripts/checkpatch.pl" ] || die "no $KSRC/scripts/checkpatch.pl: run 'make kernel' first"
# checkpatch runs scripts/spdxcheck.py with the python3 first in PATH: use
# Debian's, which has python3-ply, over any other (pyenv, venvs).
export PATH=/usr/bin:/bin:$PATH
python3 -c 'import ply' 2>/dev/null || die "python3-ply missing (checkpatch's SPDX check): run 'make deps'"
mapfile -t patches < <(ls "$TOP"/kernel/patches/0*.patch 2>/dev/null | grep -v 0000-cover-letter || true)
if [ ${#patches[@]} -eq 0 ]; then
	log "kernel/patches/ is empty: nothing to check"
	exit 0
fi
justified=$TOP/kernel/checkpatch-justified.txt

cd "$KSRC"
rc=0
for p in "${patches[@]}"; do
	name=$(basename "$p")
	# "file:line: TYPE:NAME: message" lines, one per finding.
	findings=$(perl scripts/checkpatch.pl --strict --terse --show-types "$p" 2>&1 |
		grep -E ': (ERROR|WARNING|CHECK):' || true)
	bad=0
	while IFS= read -r f; do
		[ -n "$f" ] || continue
		type=$(sed -E 's/.*: (ERROR|WARNING|CHECK):([A-Z_]+):.*/\2/' <<<"$f")
		if [ -f "$justified" ] && grep -qE "^${name%%-*} $type " "$justified"; then
			printf '%s: justified: %s\n' "$name" "${f#*: }"
		else
			printf '%s: %s\n' "$name" "${f#*: }"
			bad=1
		fi
	done <<<"$findings"
	[ $bad -eq 0 ] || rc=1
done
[ $rc -eq 0 ] && log "checkpatch --strict: clean, apart from justified findings" ||
	log "checkpatch --strict: findings above are not in kernel/checkpatch-justified.txt"
exit $rc
