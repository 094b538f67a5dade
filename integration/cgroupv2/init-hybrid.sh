#!/bin/busybox sh
# shellcheck shell=dash
# /init of the hybrid-layout guest (see run-hybrid.sh). After the first stage (init-stage1.sh:
# into a tmpfs, for pivot_root), it mounts the hybrid cgroup layout (as the CI host has it: one
# v1 hierarchy per controller, name=systemd, cgroup2 at unified), loads loop and BFQ, runs the
# integration tests and powers off. Everything is reported on the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
# shellcheck source=init-stage1.sh
. /init-stage1.sh

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/mqueue /tmp /run /root
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run

# The hybrid layout, in the CI host's order.
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
	mkdir -p /sys/fs/cgroup/$c
	mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c || echo "KEEL-HYBRID-NOTE mount cgroup $c failed"
done
mkdir -p /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd || echo "KEEL-HYBRID-NOTE mount name=systemd failed"
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified || echo "KEEL-HYBRID-NOTE mount cgroup2 failed"

# loop0 (7:0) for the throttle files; BFQ for blkio.bfq.weight(_device).
insmod /lib/modules/loop.ko || echo "KEEL-HYBRID-NOTE insmod loop failed"
insmod /lib/modules/bfq.ko || echo "KEEL-HYBRID-NOTE insmod bfq failed"

echo "KEEL-HYBRID-BOOTED uptime=$(cut -d' ' -f1 /proc/uptime) kernel=$(uname -r) cmdline=$(cat /proc/cmdline)"
echo "KEEL-HYBRID-MOUNTINFO (cgroup lines):"
grep cgroup /proc/self/mountinfo
echo "KEEL-HYBRID-UNIFIED controllers=$(cat /sys/fs/cgroup/unified/cgroup.controllers)"
if [ -d /sys/module/bfq ]; then echo "KEEL-HYBRID-BFQ /sys/module/bfq exists"; else echo "KEEL-HYBRID-BFQ /sys/module/bfq absent"; fi
probe=/sys/fs/cgroup/blkio/hybrid-probe
mkdir "$probe"
echo "KEEL-HYBRID-BLKIO-CHILD ls $probe:"
ls "$probe"
if [ -e "$probe/blkio.bfq.weight" ]; then
	echo "KEEL-HYBRID-BFQ child-has-blkio.bfq.weight=yes ($(cat "$probe/blkio.bfq.weight" | tr '\n' ' '))"
else
	echo "KEEL-HYBRID-BFQ child-has-blkio.bfq.weight=no"
fi
rmdir "$probe"
echo "KEEL-HYBRID-VERSIONS keel: $(keel --version | tr '\n' ' ') runc: $(runc --version | tr '\n' ' ')"

# A direct check: blockIO.weight 300 lands in blkio.bfq.weight, with keel and with runc.
for rt in keel runc; do
	id=weight-$rt
	if $rt --root /run/$rt create -b /weight-bundle $id </dev/null >/dev/null; then
		echo "KEEL-HYBRID-WEIGHT $rt: blkio.bfq.weight=$(cat /sys/fs/cgroup/blkio/hybrid-proof-weight/blkio.bfq.weight 2>&1 | tr '\n' ' ')"
		$rt --root /run/$rt delete --force $id
	else
		echo "KEEL-HYBRID-WEIGHT $rt: create failed"
	fi
	rmdir /sys/fs/cgroup/*/hybrid-proof-weight 2>/dev/null
done

# The tests (--nocapture: the harness's SKIP lines appear where they happen).
export HOME=/root KEEL_RUNTIME=/bin/keel KEEL_PROBE=/bin/keel-probe KEEL_SKIP_LOG=/tmp/skips.log
t0=$(cut -d' ' -f1 /proc/uptime)
echo "KEEL-HYBRID-TESTS-START uptime=$t0 filter=$(cat /tests)"
cd /tmp && /integration --test-threads=1 --nocapture $(cat /tests) 2>&1
rc=$?
t1=$(cut -d' ' -f1 /proc/uptime)
echo "KEEL-HYBRID-SKIPLOG:"
cat /tmp/skips.log 2>/dev/null || echo "(no skips)"
echo "KEEL-HYBRID-LEFTOVERS: $(ls -d /sys/fs/cgroup/*/keel-it /tmp/keel-it-* 2>/dev/null | tr '\n' ' ')"
echo "KEEL-HYBRID-RESULT rc=$rc tests_seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') uptime=$t1"
sync
poweroff -f
