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
# Environment: KERNEL (default: the newest /boot/vmlinuz-*), QEMU_TIMEOUT (seconds, default
# 600), KEEP=1 keeps the work dir, BFQ=1 loads the BFQ I/O scheduler in the guest.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
keel=$(realpath "${1:?usage: run.sh KEEL PROBE}")
probe=$(realpath "${2:?usage: run.sh KEEL PROBE}")
kernel=${KERNEL:-$(find /boot -maxdepth 1 -name "vmlinuz-*" 2>/dev/null | sort -V | tail -n 1)}
busybox=${BUSYBOX:-/bin/busybox}
timeout_s=${QEMU_TIMEOUT:-600}

die() {
	echo "test-cgroupv2: $*" >&2
	exit 1
}
[ -f "$kernel" ] || die "no kernel: apt-get install linux-image-amd64 (or set KERNEL)"
command -v qemu-system-x86_64 >/dev/null || die "no qemu: apt-get install qemu-system-x86"
command -v cpio >/dev/null || die "no cpio: apt-get install cpio"
[ -x "$busybox" ] || die "$busybox missing: apt-get install busybox-static"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')

work=$(mktemp -d /tmp/keel-cgroupv2.XXXXXX)
cleanup() { if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,tmp,run,lib/modules,bundles/rootfs}

# busybox and its applets
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
# keel and runc (when installed) with their shared libraries
copy_bin() {
	cp "$1" "$root/bin/$2"
	# (keel is static: ldd then says "not a dynamic executable" and fails)
	{ ldd "$1" || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
copy_bin "$keel" keel
if [ -x /usr/sbin/runc ]; then copy_bin /usr/sbin/runc runc; fi
# copy_module NAME: the guest kernel's NAME.ko, decompressed, for init.sh to insmod
copy_module() {
	local m
	m=$(find "/lib/modules/$kver" -name "$1.ko*" | head -n 1)
	case "$m" in
	*.xz) xz -dc "$m" >"$root/lib/modules/$1.ko" ;;
	*.zst) zstd -qdc "$m" >"$root/lib/modules/$1.ko" ;;
	?*) cp "$m" "$root/lib/modules/$1.ko" ;;
	*) die "the kernel $kver has no module $1" ;;
	esac
}
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
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

echo "test-cgroupv2: booting $kernel (BFQ=${BFQ:-0}) ($(du -h "$work/initrd.gz" | cut -f1) initramfs)"
start=$(date +%s.%N)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=3" \
	-display none -monitor none -serial stdio -no-reboot </dev/null | tr -d '\r' | tee "$work/console.log"
qemu_rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
echo "test-cgroupv2: qemu exited $qemu_rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
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
