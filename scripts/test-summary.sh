#!/usr/bin/env bash
# test-summary.sh STAGES SKIPS: the end of `make test`: each stage's time, then every skip of the
# run counted by reason (SKIPS: "suite<TAB>test<TAB>reason" lines from the harness, the
# conformance report, the client scripts and the cgroup v2 guest), so a green run cannot hide one.
set -u
stages=$1 skips=$2
echo
echo "===== make test: stages ====="
total=0
while IFS=$'\t' read -r name secs rc; do
	printf '  %-40s %5s s%s\n' "$name" "$secs" "$([ "$rc" = 0 ] || echo "  FAILED ($rc)")"
	total=$((total + secs))
done <"$stages"
printf '  %-40s %5s s\n' "total" "$total"
n=0
[ -s "$skips" ] && n=$(wc -l <"$skips")
echo "===== make test: $n skipped ====="
if [ "$n" -gt 0 ]; then
	# by reason: count, reason, then the tests
	awk -F'\t' '{ c[$3]++; t[$3] = t[$3] (t[$3] ? ", " : "") $1 ":" $2 }
		END { for (r in c) printf "  %d x %s\n      %s\n", c[r], r, t[r] }' "$skips"
fi
