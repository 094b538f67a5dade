#!/usr/bin/env bash
# clients/run.sh [CLIENT...]: drive keel with the real clients (containerd + ctr, podman,
# dockerd), each isolated in a temp dir, every step checked, nothing left behind. `make
# test-clients` runs it. CLIENT: containerd podman docker (default: all three, in that order).
#
# Environment: KEEL (default target/<host triple>/release/keel), KEEP=1 keeps the temp dir (kept anyway when a step fails) (logs, the runtime
# calls each client made: <client>/logs/runtime-argv.log and subcommands.txt).
# Exit status: 0 when every step passed, 1 otherwise. Needs root and the packages listed in
# .ci/run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
KEEL=$(realpath "${KEEL:-$here/../target/$(rustc -vV | sed -n 's/^host: //p')/release/keel}")
[ $# -gt 0 ] || set -- containerd podman docker

if [ "$(id -u)" -ne 0 ]; then
	echo "clients/run.sh: must run as root" >&2
	exit 1
fi
missing=()
for b in containerd ctr podman conmon dockerd /usr/bin/docker umoci script python3 /bin/busybox; do
	command -v "$b" >/dev/null || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "clients/run.sh: missing ${missing[*]} (apt-get install containerd podman docker.io umoci busybox-static; see .ci/run)" >&2
	exit 1
fi
[ -x "$KEEL" ] || { echo "clients/run.sh: no runtime at $KEEL (make build)" >&2; exit 1; }

TOP=$(mktemp -d "${TMPDIR:-/tmp}/keel-clients.XXXXXX")
export KEEL IMAGES=$TOP/images RESULTS=$TOP/results.tsv
: >"$RESULTS"
mkdir -p "$IMAGES"
start=$(date +%s.%N)
CLIENT=images WORK=$TOP/images bash -c '. "$1" && make_images' _ "$here/lib.sh" >"$TOP/images.log" 2>&1 || {
	cat "$TOP/images.log"
	echo "clients/run.sh: building the images failed" >&2
	exit 1
}

for c in "$@"; do
	mkdir -p "$TOP/$c"
	cs=$(date +%s.%N)
	WORK=$TOP/$c bash "$here/$c.sh"
	rc=$?
	[ $rc = 0 ] || grep -q "^$c	FAIL" "$RESULTS" || printf '%s\tFAIL\t%s\n' "$c" "the script stopped (exit code $rc)" >>"$RESULTS"
	printf '%s\tTIME\t%.1fs\n' "$c" "$(echo "$(date +%s.%N) - $cs" | bc)" >>"$RESULTS"
done

echo
echo "===== client tests: $KEEL ($(printf '%.0f' "$(echo "$(date +%s.%N) - $start" | bc)") s) ====="
for c in "$@"; do
	awk -F'\t' -v c="$c" '
		$1 == c && $2 == "PASS" {p++}
		$1 == c && $2 == "TIME" {time = $3}
		$1 == c && $2 != "PASS" && $2 != "TIME" {lines = lines sprintf("    %-7s %s\n", $2, $3)}
		END {printf "%-10s %3d passed  (%s)\n%s", c, p, time, lines}' "$RESULTS"
done
status=0
cut -f2 "$RESULTS" | grep -qx FAIL && status=1
if [ "${KEEP:-0}" = 1 ] || [ $status = 1 ]; then
	echo "logs kept in $TOP (<client>/logs/runtime-argv.log: every runtime call)"
else
	rm -rf "$TOP"
fi
exit $status
