#!/usr/bin/env bash
# timed.sh NAME CMD...: run CMD and print how long it took, pass or fail.
set -euo pipefail
name=$1
shift
start=$(date +%s.%N)
rc=0
"$@" || rc=$?
end=$(date +%s.%N)
printf '== %s: %s in %.1fs\n' "$name" "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")" "$(echo "$end - $start" | bc)" >&2
exit $rc
