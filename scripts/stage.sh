#!/usr/bin/env bash
# stage.sh FILE NAME CMD...: runs CMD, appends "NAME<TAB>seconds<TAB>exit code" to FILE, and exits
# with CMD's code (make test's stages; scripts/test-summary.sh prints FILE at the end).
set -u
file=$1 name=$2
shift 2
printf '\n===== %s =====\n' "$name"
start=$(date +%s.%N)
"$@"
rc=$?
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
printf '%s\t%s\t%s\n' "$name" "$secs" "$rc" >>"$file"
if [ "$rc" -ne 0 ]; then
	printf '===== %s FAILED (exit %s) after %s s =====\n' "$name" "$rc" "$secs"
	scripts/test-summary.sh "$file" "${KEEL_SKIP_LOG:-/dev/null}"
fi
exit "$rc"
