# Shared by run.sh and run-hybrid.sh (source it, bash): the qemu guest's initramfs and boot.
#
#   NAME=test-cgroupv2; guest_init     checks the tools, sets $kver, makes $work and $root
#   copy_busybox; copy_bin SRC DEST; copy_module NAME
#   boot_guest MEM APPEND              packs $root, boots it, console in $work/console.log
#
# Environment: KERNEL (default: the newest /boot/vmlinuz-*), BUSYBOX, QEMU_TIMEOUT (seconds),
# KEEP=1 keeps the work dir.

die() {
	echo "$NAME: $*" >&2
	exit 1
}

guest_init() {
	kernel=${KERNEL:-$(find /boot -maxdepth 1 -name "vmlinuz-*" 2>/dev/null | sort -V | tail -n 1)}
	busybox=${BUSYBOX:-/bin/busybox}
	[ -f "$kernel" ] || die "no kernel: apt-get install linux-image-amd64 (or set KERNEL)"
	command -v qemu-system-x86_64 >/dev/null || die "no qemu: apt-get install qemu-system-x86"
	command -v cpio >/dev/null || die "no cpio: apt-get install cpio"
	[ -x "$busybox" ] || die "$busybox missing: apt-get install busybox-static"
	kver=$(basename "$kernel" | sed 's/^vmlinuz-//')
	work=$(mktemp -d "/tmp/keel-$NAME.XXXXXX")
	trap 'if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi' EXIT
	root=$work/root
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,lib/modules}
	# The first stage of every guest's /init (init-stage1.sh).
	cp "$(dirname "${BASH_SOURCE[0]}")/init-stage1.sh" "$root/init-stage1.sh"
}

# busybox and its applets
copy_busybox() {
	cp "$busybox" "$root/bin/busybox"
	for a in $("$busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
}

# copy_bin SRC DEST: a binary at DEST in the guest, with the shared libraries ldd lists
copy_bin() {
	cp "$1" "$root$2"
	# (static binaries: ldd says "not a dynamic executable" and fails)
	{ ldd "$1" || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

# copy_module NAME: the guest kernel's NAME.ko, decompressed, for the guest's init to insmod
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

# boot_guest MEM APPEND: pack $root, boot it under software emulation; the serial console goes
# to stdout and $work/console.log; sets $qemu_rc.
boot_guest() {
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"
	echo "$NAME: booting $kernel ($(du -h "$work/initrd.gz" | cut -f1) initramfs)"
	local start end
	start=$(date +%s.%N)
	set +e
	timeout "${QEMU_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg -m "$1" -smp 2 \
		-kernel "$kernel" -initrd "$work/initrd.gz" \
		-append "console=ttyS0 $2 panic=-1 quiet loglevel=3" \
		-display none -monitor none -serial stdio -no-reboot </dev/null | tr -d '\r' | tee "$work/console.log"
	qemu_rc=${PIPESTATUS[0]}
	set -e
	end=$(date +%s.%N)
	echo "$NAME: qemu exited $qemu_rc after $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
}
