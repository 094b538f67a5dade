#!/usr/bin/env bash
# run-hybrid.sh INTEGRATION KEEL PROBE: the integration tests' cgroups:: suite in a qemu guest
# booted from Debian's kernel WITHOUT cgroup_no_v1, on a hybrid layout (v1 hierarchies mounted
# one per controller under a tmpfs at /sys/fs/cgroup, as on the CI host, plus cgroup2 at
# /sys/fs/cgroup/unified) with the BFQ scheduler loaded, so the tests take their "blkio weight
# files present" branch (blkio.bfq.weight), which a host without a bfq module cannot exercise.
#
# Adapted from integration/cgroupv2/run.sh: the initramfs holds busybox (+ applets), keel, runc at
# /usr/bin/runc (where the harness looks) with the libraries ldd lists, the probe, the static
# integration-test binary, loop.ko and bfq.ko. The guest (init-hybrid.sh) reports on the serial
# console; this script prints it and fails unless the guest saw blkio.bfq.weight and printed
# "KEEL-HYBRID-RESULT rc=0". `make test-hybrid-bfq` (in `make test`) runs it.
#
# Needs: qemu-system-x86 linux-image-amd64 busybox-static cpio runc (apt-get install).
# Environment: KERNEL (default: the newest /boot/vmlinuz-*), QEMU_TIMEOUT (seconds, default 1200),
# TESTS (test filter, default "cgroups::"), KEEP=1 keeps the work dir.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
usage="usage: run-hybrid.sh INTEGRATION-TEST-BINARY KEEL PROBE"
integration=$(realpath "${1:?$usage}")
keel=$(realpath "${2:?$usage}")
probe=$(realpath "${3:?$usage}")
kernel=${KERNEL:-$(find /boot -maxdepth 1 -name "vmlinuz-*" 2>/dev/null | sort -V | tail -n 1)}
busybox=${BUSYBOX:-/bin/busybox}
timeout_s=${QEMU_TIMEOUT:-1200}
tests=${TESTS:-cgroups::}

die() {
	echo "run-hybrid: $*" >&2
	exit 1
}
[ -f "$kernel" ] || die "no kernel: apt-get install linux-image-amd64 (or set KERNEL)"
command -v qemu-system-x86_64 >/dev/null || die "no qemu: apt-get install qemu-system-x86"
command -v cpio >/dev/null || die "no cpio: apt-get install cpio"
[ -x "$busybox" ] || die "$busybox missing: apt-get install busybox-static"
for f in "$integration" "$keel" "$probe"; do [ -x "$f" ] || die "$f missing"; done
runc=$(realpath "$(command -v runc)") || die "no runc: apt-get install runc"
kver=$(basename "$kernel" | sed 's/^vmlinuz-//')

work=$(mktemp -d /tmp/keel-hybrid.XXXXXX)
console=$work/console.log
cleanup() { if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib/modules}

# busybox and its applets (the harness copies /bin/busybox into every container's rootfs and
# runs mount, umount, mkfifo and stat by name)
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
# copy_bin SRC DEST: a binary with the shared libraries ldd lists
copy_bin() {
	cp "$1" "$root$2"
	# (static binaries: ldd says "not a dynamic executable" and fails)
	{ ldd "$1" || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}
copy_bin "$keel" /bin/keel
copy_bin "$runc" /usr/bin/runc # integration/harness/mod.rs: RUNC = "/usr/bin/runc"
copy_bin "$probe" /bin/keel-probe
copy_bin "$integration" /integration
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

# copy_module NAME: the guest kernel's NAME.ko, decompressed, for init-hybrid.sh to insmod
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
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

echo "run-hybrid: booting $kernel (hybrid, BFQ) ($(du -h "$work/initrd.gz" | cut -f1) initramfs)"
start=$(date +%s.%N)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 2048 -smp 2 \
	-kernel "$kernel" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3" \
	-display none -monitor none -serial stdio -no-reboot </dev/null | tr -d '\r' | tee "$console"
qemu_rc=${PIPESTATUS[0]}
set -e
end=$(date +%s.%N)
echo "run-hybrid: qemu exited $qemu_rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
grep -aq '^KEEL-HYBRID-BFQ child-has-blkio.bfq.weight=yes' "$console" ||
	die "the guest's blkio child cgroups have no blkio.bfq.weight: the BFQ branch did not run"
result=$(grep -a '^KEEL-HYBRID-RESULT' "$console" | tail -n 1 || true)
case "$result" in
"KEEL-HYBRID-RESULT rc=0"*) echo "run-hybrid: PASS (${result#KEEL-HYBRID-RESULT })" ;;
"") die "no result from the guest (qemu rc $qemu_rc; console log above)" ;;
*) die "FAIL (${result#KEEL-HYBRID-RESULT })" ;;
esac
