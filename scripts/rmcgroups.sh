#!/usr/bin/env bash
# rmcgroups.sh /keel-NAME: remove the cgroup /keel-NAME and every cgroup below it, in every
# mounted cgroup hierarchy (v1 controllers and v2), deepest first.
#
# Only rmdir: a cgroup that still holds a process or a child stays, and is reported. Refuses
# anything but a top-level /keel-* path, so it cannot reach a cgroup the scripts did not create.
set -uo pipefail

parent=${1:-}
case $parent in
/keel-*/*) ;; # not top-level
/keel-?*) parent_ok=1 ;;
esac
if [ -z "${parent_ok:-}" ]; then
	echo "usage: $0 /keel-NAME (a top-level cgroup made by keel's scripts)" >&2
	exit 2
fi

left=0
while read -r _ mnt fstype _; do
	case $fstype in cgroup | cgroup2) ;; *) continue ;; esac
	top=$mnt$parent
	[ -d "$top" ] || continue
	# -depth lists children before their parent. The names are container ids: no newlines.
	dirs=$(find "$top" -depth -type d)
	while IFS= read -r d; do
		if ! rmdir "$d" 2>/dev/null; then
			echo "rmcgroups: cannot remove $d (still in use?)" >&2
			left=1
		fi
	done <<<"$dirs"
done </proc/self/mounts
exit $left
