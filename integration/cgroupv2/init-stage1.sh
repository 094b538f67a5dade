#!/bin/busybox sh
# shellcheck shell=dash
# The first stage of a test guest's /init, sourced by init.sh and init-hybrid.sh: pivot_root
# cannot leave the initramfs, so copy it into a tmpfs and switch_root there; the second stage
# (the same /init, now in the tmpfs) returns from here and goes on.
if [ ! -e /.stage2 ]; then
	busybox mount -t proc proc /proc
	busybox mkdir -p /newroot
	busybox mount -t tmpfs -o mode=755 tmpfs /newroot
	for f in /*; do
		case "$f" in /newroot | /proc | /sys | /dev) ;; *) busybox cp -a "$f" /newroot/ ;; esac
	done
	busybox mkdir -p /newroot/proc /newroot/sys /newroot/dev
	busybox touch /newroot/.stage2
	busybox umount /proc
	exec busybox switch_root /newroot /init
fi
