#!/usr/bin/env bash
# Run the kernel's checkpatch.pl --strict on every patch of kernel/patches/.
# Fails on any error, warning or check that kernel/checkpatch-justified.txt
# does not justify (the format is at the top of that file; the cover letter
# repeats the reasons), on a justification that matches no finding (stale),
# and on anything but a clean checkpatch run: an exit status other than 0
# (no finding) or 1 (findings), output on stderr (a crash, or a helper such
# as scripts/spdxcheck.py failing), or a "total:" line that disagrees with
# the findings this script parsed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need perl perl
[ -x "$KSRC/scripts/checkpatch.pl" ] || die "no $KSRC/scripts/checkpatch.pl: run 'make kernel' first"
# checkpatch runs scripts/spdxcheck.py with the python3 first in PATH: use
# Debian's, which has python3-ply and python3-git, over any other (pyenv,
# venvs). Without them spdxcheck.py crashes and checkpatch, which reads only
# its stdout, takes every SPDX tag as valid.
export PATH=/usr/bin:/bin:$PATH
python3 -c 'import ply, git' 2>/dev/null || die "python3-ply or python3-git missing (checkpatch's SPDX check): run 'make deps'"
mapfile -t patches < <(ls "$TOP"/kernel/patches/0*.patch 2>/dev/null | grep -v 0000-cover-letter || true)
if [ ${#patches[@]} -eq 0 ]; then
	log "kernel/patches/ is empty: nothing to check"
	exit 0
fi
justified=$TOP/kernel/checkpatch-justified.txt

# The justifications: NNNN TYPE "fixed text" reason, or NNNN TYPE /ERE/ reason.
j_patch=() j_type=() j_kind=() j_pat=() j_used=()
if [ -f "$justified" ]; then
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		if [[ $line =~ ^([0-9]{4})\ ([A-Z0-9_]+)\ \"([^\"]+)\"\ (.*[^[:space:]].*)$ ]]; then
			kind=fixed
		elif [[ $line =~ ^([0-9]{4})\ ([A-Z0-9_]+)\ /(([^/]|\\/)+)/\ (.*[^[:space:]].*)$ ]]; then
			kind=regex
		else
			die "kernel/checkpatch-justified.txt:$n: want NNNN TYPE \"text\" reason, or NNNN TYPE /regex/ reason: $line"
		fi
		j_patch+=("${BASH_REMATCH[1]}") j_type+=("${BASH_REMATCH[2]}") j_kind+=("$kind")
		j_pat+=("${BASH_REMATCH[3]}") j_used+=(0)
	done <"$justified"
fi

# context PATCH N: the patch's lines N-8..N, leading diff marks and blanks
# trimmed, joined by " | " (what the finding's justification can match).
context() {
	local from=$(($2 > 8 ? $2 - 8 : 1))
	sed -n "${from},${2}p" "$1" | sed -E 's/^[-+ ]?[[:space:]]*//; s/[[:space:]]+$//' |
		awk 'BEGIN { ORS = "" } NR > 1 { print " | " } { print }'
}

cd "$KSRC"
rc=0
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
for p in "${patches[@]}"; do
	name=$(basename "$p")
	num=${name%%-*}
	status=0
	out=$(perl scripts/checkpatch.pl --strict --show-types "$p" 2>"$errf") || status=$?
	if [ -s "$errf" ]; then
		printf '%s: checkpatch.pl wrote to stderr:\n' "$name"
		cat "$errf"
		rc=1
	fi
	if [ "$status" -ne 0 ] && [ "$status" -ne 1 ]; then
		printf '%s: checkpatch.pl exited with status %d (crashed?); its output:\n%s\n' "$name" "$status" "$out"
		rc=1
		continue
	fi
	# A finding is "TYPE:NAME: message", then "#N: FILE: path:line:" (or
	# "#N: ") naming patch line N. Its text, which a justification must
	# match: "NAME: message | FILE: path:line | <context of patch line N>".
	count=0 type='' msg=''
	while IFS= read -r l; do
		if [[ $l =~ ^(ERROR|WARNING|CHECK):([A-Z0-9_]+):\ (.*)$ ]]; then
			type=${BASH_REMATCH[2]} msg=${BASH_REMATCH[3]}
			continue
		fi
		[ -n "$type" ] || continue
		[[ $l =~ ^#([0-9]+):\ *(FILE:\ ([^ ]*[0-9]):)? ]] ||
			{ printf '%s: cannot parse the finding %s: %s (next line: %s)\n' "$name" "$type" "$msg" "$l"; rc=1; type=''; continue; }
		count=$((count + 1))
		text="$type: $msg | FILE: ${BASH_REMATCH[3]:--} | $(context "$p" "${BASH_REMATCH[1]}")"
		ok=''
		for i in "${!j_patch[@]}"; do
			[ "${j_patch[$i]}" = "$num" ] && [ "${j_type[$i]}" = "$type" ] || continue
			case ${j_kind[$i]} in
			fixed) [[ $text == *"${j_pat[$i]}"* ]] || continue ;;
			regex) [[ $text =~ ${j_pat[$i]} ]] || continue ;;
			esac
			ok=1 j_used[i]=1
		done
		if [ -n "$ok" ]; then
			printf '%s: justified: %s\n' "$name" "$text"
		else
			printf '%s: %s\n' "$name" "$text"
			rc=1
		fi
		type=''
	done <<<"$out"
	[ -z "$type" ] || { printf '%s: finding %s has no line reference\n' "$name" "$type"; rc=1; }
	total=$(grep -E '^total: [0-9]+ errors, [0-9]+ warnings, [0-9]+ checks' <<<"$out" || true)
	if [[ $total =~ ^total:\ ([0-9]+)\ errors,\ ([0-9]+)\ warnings,\ ([0-9]+)\ checks ]]; then
		sum=$((BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3]))
		if [ "$sum" -ne "$count" ]; then
			printf '%s: checkpatch counts %d findings ("%s"), this script parsed %d\n' "$name" "$sum" "$total" "$count"
			rc=1
		fi
	else
		printf '%s: no "total:" line in checkpatch'"'"'s output (status %d):\n%s\n' "$name" "$status" "$out"
		rc=1
	fi
	if { [ "$status" -eq 0 ] && [ "$count" -ne 0 ]; } || { [ "$status" -eq 1 ] && [ "$count" -eq 0 ]; }; then
		printf '%s: checkpatch exited %d with %d findings\n' "$name" "$status" "$count"
		rc=1
	fi
done
for i in "${!j_patch[@]}"; do
	if [ "${j_used[$i]}" -eq 0 ]; then
		printf 'kernel/checkpatch-justified.txt: %s %s %s matches no finding: remove it or fix it\n' \
			"${j_patch[$i]}" "${j_type[$i]}" "${j_pat[$i]}"
		rc=1
	fi
done
[ $rc -eq 0 ] && log "checkpatch --strict: clean, apart from justified findings" ||
	log "checkpatch --strict: the problems above are not justified in kernel/checkpatch-justified.txt"
exit $rc
