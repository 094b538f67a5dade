#!/usr/bin/env bash
# run-hybrid.sh INTEGRATION KEEL PROBE: the integration tests' cgroups:: suite in a qemu guest
# booted from Debian's kernel WITHOUT cgroup_no_v1, on a hybrid layout (v1 hierarchies mounted
# one per controller under a tmpfs at /sys/fs/cgroup, as on the CI host, plus cgroup2 at
# /sys/fs/cgroup/unified) with the BFQ scheduler loaded, so the tests take their "blkio weight
# files present" branch (blkio.bfq.weight), which a host without a bfq module cannot exercise.
#
# Like run.sh (both build on guest.sh), the initramfs holds busybox (+ applets), keel, runc at
# /usr/bin/runc (where the harness looks) with the libraries ldd lists, the probe, the static
# integration-test binary, loop.ko and bfq.ko. The guest (init-hybrid.sh) reports on the serial
# console; this script prints it and fails unless the guest saw blkio.bfq.weight and printed
# "KEEL-HYBRID-RESULT rc=0". `make test-hybrid-bfq` (in `make test`) runs it.
#
# Needs: qemu-system-x86 linux-image-amd64 busybox-static cpio runc (apt-get install).
# Environment: TESTS (test filter, default "cgroups::"); KERNEL, QEMU_TIMEOUT, KEEP: see guest.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: run-hybrid.sh INTEGRATION-TEST-BINARY KEEL PROBE"
integration=$(realpath "${1:?$usage}")
keel=$(realpath "${2:?$usage}")
probe=$(realpath "${3:?$usage}")
tests=${TESTS:-cgroups::}
NAME=test-hybrid-bfq
# shellcheck source=guest.sh
. "$here/guest.sh"
for f in "$integration" "$keel" "$probe"; do [ -x "$f" ] || die "$f missing"; done
runc=$(realpath "$(command -v runc)") || die "no runc: apt-get install runc"
guest_init

# busybox and its applets (the harness copies /bin/busybox into every container's rootfs and
# runs mount, umount, mkfifo and stat by name)
copy_busybox
copy_bin "$keel" /bin/keel
copy_bin "$runc" /usr/bin/runc # integration/harness/mod.rs: RUNC = "/usr/bin/runc"
copy_bin "$probe" /bin/keel-probe
copy_bin "$integration" /integration
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
copy_module loop
copy_module bfq

# A direct check besides the tests: one bundle with blockIO.weight 300 that init-hybrid.sh
# creates with keel and whose blkio.bfq.weight it prints.
b=$root/weight-bundle
mkdir -p "$b/rootfs"/{bin,proc,sys,dev,tmp}
cp "$busybox" "$b/rootfs/bin/busybox"
ln -s busybox "$b/rootfs/bin/sh"
ln -s busybox "$b/rootfs/bin/sleep"
(cd "$b" && "$runc" spec)
python3 - "$b/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sleep", "30"]
c["linux"]["cgroupsPath"] = "/hybrid-proof-weight"
c["linux"].setdefault("resources", {})["blockIO"] = {"weight": 300}
json.dump(c, open(p, "w"), indent=1)
EOF

cp "$here/init-hybrid.sh" "$root/init"
chmod +x "$root/init"
printf '%s\n' "$tests" >"$root/tests"
boot_guest 2048 ""
console=$work/console.log
grep -aq '^KEEL-HYBRID-BFQ child-has-blkio.bfq.weight=yes' "$console" ||
	die "the guest's blkio child cgroups have no blkio.bfq.weight: the BFQ branch did not run"
for rt in keel runc; do
	grep -aq "^KEEL-HYBRID-WEIGHT $rt: blkio.bfq.weight=300" "$console" ||
		die "$rt did not write blockIO.weight 300 to blkio.bfq.weight"
done
result=$(grep -a '^KEEL-HYBRID-RESULT' "$console" | tail -n 1 || true)
case "$result" in
"KEEL-HYBRID-RESULT rc=0"*) echo "test-hybrid-bfq: PASS (${result#KEEL-HYBRID-RESULT })" ;;
"") die "no result from the guest (qemu rc $qemu_rc; console log above)" ;;
*) die "FAIL (${result#KEEL-HYBRID-RESULT })" ;;
esac
