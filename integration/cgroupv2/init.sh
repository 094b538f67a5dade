#!/bin/busybox sh
# shellcheck shell=dash
# /init of the cgroup v2 test guest (see run.sh). After the first stage (init-stage1.sh: into a
# tmpfs, for pivot_root), it mounts what the checks need, runs them and powers off. Everything
# is reported on the serial console.
export PATH=/bin
# shellcheck source=init-stage1.sh
. /init-stage1.sh

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# A block device for the io.* checks: loop0 (7:0) needs no backing file to be throttled.
insmod /lib/modules/loop.ko 2>/dev/null
# With BFQ=1 (run.sh): the BFQ scheduler, whose io.bfq.weight keel prefers to io.weight.
if [ -e /lib/modules/bfq.ko ]; then insmod /lib/modules/bfq.ko || echo "KEEL-V2-NOTE insmod bfq failed"; fi
echo "KEEL-V2-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) controllers=$(cat /sys/fs/cgroup/cgroup.controllers) bfq=$([ -d /sys/module/bfq ] && echo loaded || echo absent)"
sh /checks.sh
echo "KEEL-V2-DONE uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
