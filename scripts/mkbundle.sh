#!/usr/bin/env bash
# mkbundle.sh DIR [ARG...]: make an OCI bundle at DIR from Debian's busybox-static.
#
#   DIR/rootfs       bin/busybox (hard-linked from the host), one symlink per applet,
#                    etc/passwd, etc/group, empty proc sys dev tmp
#   DIR/config.json  runc's default spec (`runc spec`, below) with terminal=false,
#                    process.args = ARG... (default: print hostname, ids and mounts),
#                    hostname "keel-demo", linux.cgroupsPath = $CGROUPS_PATH
#                    (default /keel-demo/<basename of DIR>)
#
# Environment: BUSYBOX (default /bin/busybox, must be static), CGROUPS_PATH.
# Running it again on the same DIR refreshes the bundle in place.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 DIR [ARG...]" >&2
	exit 2
fi
dir=$1
shift
busybox=${BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || { echo "mkbundle: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

rootfs=$dir/rootfs
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
# A hard link is instant; fall back to a copy across filesystems.
ln -f "$busybox" "$rootfs/bin/busybox" 2>/dev/null || cp -f "$busybox" "$rootfs/bin/busybox"
printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"

# `runc spec` of runc 1.1.5, verbatim: the file `keel spec` writes.
default_spec=$(cat "$(dirname "$0")/../src/spec/default.json")

if [ $# -eq 0 ]; then
	set -- sh -c 'echo hostname: $(hostname); id; cat /proc/self/mounts'
fi

SPEC=$default_spec \
	APPLETS=$("$rootfs/bin/busybox" --list) \
	CGROUPS_PATH=${CGROUPS_PATH:-/keel-demo/$(basename "$(realpath "$dir")")} \
	python3 - "$dir" "$@" <<'PY'
import json, os, sys

bundle, args = sys.argv[1], sys.argv[2:]
bindir = os.path.join(bundle, "rootfs", "bin")
for applet in os.environ["APPLETS"].split():
    link = os.path.join(bindir, applet)
    if applet != "busybox" and not os.path.islink(link):
        os.symlink("busybox", link)

spec = json.loads(os.environ["SPEC"])
spec["process"]["terminal"] = False
spec["process"]["args"] = args
spec["hostname"] = "keel-demo"
spec["linux"]["cgroupsPath"] = os.environ["CGROUPS_PATH"]
tmp = os.path.join(bundle, "config.json.tmp")
with open(tmp, "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
os.rename(tmp, os.path.join(bundle, "config.json"))
PY
