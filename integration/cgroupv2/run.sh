#!/usr/bin/env bash
# run.sh KEEL PROBE: the cgroup v2 checks (checks.sh) in a qemu guest booted from Debian's kernel
# with cgroup_no_v1=all, so keel sees a pure v2 host whatever this machine's layout is.
#
# The initramfs holds busybox, keel and runc (with the libraries ldd lists), the probe, a shared
# busybox rootfs, the bundles (bundles.py) and loop.ko (a block device for io.*). The guest
# reports on the serial console; this script prints it, and fails unless the guest printed
# "KEEL-V2-RESULT pass=N fail=0".
#
# Needs: qemu-system-x86 linux-image-amd64 busybox-static cpio python3 (apt-get install).
# Software emulation (TCG), so it runs on any x86_64 machine; the guest boots in about 5 s.
# Environment: BFQ=1 loads the BFQ I/O scheduler in the guest; KERNEL, QEMU_TIMEOUT, KEEP: see
# guest.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
keel=$(realpath "${1:?usage: run.sh KEEL PROBE}")
probe=$(realpath "${2:?usage: run.sh KEEL PROBE}")
NAME=test-cgroupv2
# shellcheck source=guest.sh
. "$here/guest.sh"
guest_init
mkdir -p "$root/bundles/rootfs"

copy_busybox
# keel and runc (when installed) with their shared libraries
copy_bin "$keel" /bin/keel
if [ -x /usr/sbin/runc ]; then copy_bin /usr/sbin/runc /bin/runc; fi
# A block device for the io.* checks
copy_module loop
# BFQ=1: load the BFQ scheduler too, so the io.bfq.weight branch of the checks runs (make
# test-cgroupv2 boots the guest both ways: machines of this kind differ in just that).
if [ "${BFQ:-0}" = 1 ]; then copy_module bfq; fi

# the containers' rootfs (shared, read-only) and the bundles
rfs=$root/bundles/rootfs
mkdir -p "$rfs"/{bin,etc,proc,sys,dev,tmp,out}
cp "$busybox" "$rfs/bin/busybox"
for a in $("$busybox" --list); do [ -e "$rfs/bin/$a" ] || ln -s busybox "$rfs/bin/$a"; done
cp "$probe" "$rfs/probe"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rfs/etc/passwd"
printf 'root:x:0:\n' >"$rfs/etc/group"
python3 "$here/bundles.py" "$root/bundles" "$repo/src/spec/default.json"

cp "$here/init.sh" "$root/init"
cp "$here/checks.sh" "$root/checks.sh"
chmod +x "$root/init"
boot_guest 1024 cgroup_no_v1=all
result=$(grep -a '^KEEL-V2-RESULT' "$work/console.log" | tail -n 1 || true)
# The run proves the branch it was booted for, or it proves nothing.
want_branch="branch: no BFQ"
if [ "${BFQ:-0}" = 1 ]; then want_branch="branch: BFQ loaded"; fi
grep -aq "^$want_branch" "$work/console.log" || die "the guest did not take the expected branch ($want_branch)"
case "$result" in
"KEEL-V2-RESULT pass="*" fail=0") echo "test-cgroupv2: PASS (BFQ=${BFQ:-0}, ${result#KEEL-V2-RESULT })" ;;
"") die "no result from the guest (qemu rc $qemu_rc; console log above)" ;;
*) die "FAIL (${result#KEEL-V2-RESULT })" ;;
esac
