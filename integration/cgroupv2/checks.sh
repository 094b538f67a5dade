#!/bin/sh
# The cgroup v2 checks, run by init.sh inside the guest (busybox sh). One line per check:
# "ok - ..." or "not ok - ...", then "KEEL-V2-RESULT pass=N fail=M" for run.sh to judge.
# Bundles come from bundles.py; keel and (when present) runc 1.1.5 run the same configs.
K="keel --root /run/keel"
R="runc --root /run/runc"
CG=/sys/fs/cgroup/keel-it
pass=0
fail=0
have_runc=false
command -v runc >/dev/null && have_runc=true

ok() {
	pass=$((pass + 1))
	echo "ok - $*"
}
not_ok() {
	fail=$((fail + 1))
	echo "not ok - $*"
}
eq() { # description got want
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: got '$2', want '$3'"; fi
}
has() { # description haystack needle
	case "$2" in *"$3"*) ok "$1" ;; *) not_ok "$1: '$3' not in '$2'" ;; esac
}
lacks() {
	case "$2" in *"$3"*) not_ok "$1: '$3' in '$2'" ;; *) ok "$1" ;; esac
}
cg() { head -n 1 "$CG/$1/$2" 2>&1; }
status() { $1 state "$2" 2>/dev/null | sed -n 's/.*"status": "\(.*\)".*/\1/p'; }
wait_status() { # runtime id status
	i=0
	while [ "$(status "$1" "$2")" != "$3" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	eq "$2 reaches $3" "$(status "$1" "$2")" "$3"
}
# The probe's JSON value for PATH, with \n unescaped to a space.
probe_val() { sed -n "s|.*\"$2\":\"\([^\"]*\)\".*|\1|p" "$1" | sed 's/\\n$//; s/\\n/ /g'; }
gone() { # id: no cgroup, no state
	if [ -e "$CG/$1" ]; then not_ok "$1: cgroup $CG/$1 left behind"; else ok "$1: no cgroup left"; fi
	if [ -e "/run/keel/$1" ]; then not_ok "$1: state left behind"; else ok "$1: no state left"; fi
}

echo "== resources: files on the host, values inside the container, runc on the same config"
$K create --bundle /bundles/res res >/tmp/res.out 2>/tmp/res.err || not_ok "create res: $(cat /tmp/res.err)"
for fv in "memory.max 67108864" "memory.low 33554432" "memory.swap.max 67108864" \
	"memory.high 52428800" "cpu.weight 20" "cpu.max 50000 200000" "cpu.max.burst 20000" \
	"cpuset.cpus 0" "cpuset.mems 0" "pids.max 42" \
	"io.max 7:0 rbps=1048576 wbps=max riops=max wiops=200" "hugetlb.2MB.max 4194304"; do
	f=${fv%% *}
	eq "res: host $f" "$(cg res "$f")" "${fv#* }"
	# runc 1.1.5 ignores burst.
	[ "$f" = cpu.max.burst ] || echo "$f $(cg res "$f")" >>/tmp/res.host
done
echo "io.weight $(cg res io.weight)" >>/tmp/res.host
# io.bfq.weight where BFQ is loaded, else io.weight with runc's conversion (300 -> 2930).
if [ -e $CG/res/io.bfq.weight ]; then
	echo "branch: BFQ loaded, blockIO.weight goes to io.bfq.weight"
	eq "res: host io.bfq.weight" "$(cg res io.bfq.weight)" "default 300"
else
	echo "branch: no BFQ, blockIO.weight goes to io.weight (converted)"
	eq "res: host io.weight" "$(cg res io.weight)" "default 2930"
fi
$K start res
wait_status "$K" res stopped
for fv in "memory.max 67108864" "memory.swap.max 67108864" "cpu.weight 20" \
	"cpu.max 50000 200000" "pids.max 42" "hugetlb.2MB.max 4194304" "memory.high 52428800"; do
	f=${fv%% *}
	eq "res: inside $f" "$(probe_val /tmp/res.out "/sys/fs/cgroup/$f")" "${fv#* }"
done
$K delete res
gone res
if $have_runc; then
	# runc 1.1.5 mounts the whole cgroup2 tree in the container (keel binds the container's
	# own cgroup there), so compare the host's files.
	$R create --bundle /bundles/res-runc res-runc >/dev/null 2>/tmp/res-runc.err ||
		not_ok "runc create res-runc: $(cat /tmp/res-runc.err)"
	while read -r f v; do
		eq "res: $f as runc" "$v" "$(cg res-runc "$f")"
	done </tmp/res.host
	$R delete --force res-runc 2>/dev/null
fi
$K run --bundle /bundles/idle idle >/tmp/idle.out 2>&1
eq "idle: cpu.idle inside" "$(probe_val /tmp/idle.out /sys/fs/cgroup/cpu.idle)" "1"
$K delete idle 2>/dev/null

echo "== devices: the eBPF filter"
$K run --bundle /bundles/dev dev >/tmp/dev.out 2>&1
has "dev: c 240:0 read reaches the driver (ENXIO)" "$(cat /tmp/dev.out)" '"open_read_errno":6'
has "dev: c 240:0 write is denied (EPERM)" "$(cat /tmp/dev.out)" '"rdev_minor":0,"symlink_target":null,"open_read_errno":6,"open_write_errno":1'
has "dev: /dev/null opens" "$(cat /tmp/dev.out)" '"rdev_minor":3,"symlink_target":null,"open_read_errno":0,"open_write_errno":0'
# create + start: the filter stays attached after the keel that loaded it has exited.
$K create --bundle /bundles/dev-deny dev-deny >/tmp/dev-deny.out 2>&1
$K start dev-deny
wait_status "$K" dev-deny stopped
$K delete dev-deny
has "dev-deny: an unlisted device is denied" "$(cat /tmp/dev-deny.out)" '"open_read_errno":1,"open_write_errno":1'
if $have_runc; then
	$R run --bundle /bundles/dev-runc dev-runc >/tmp/dev-runc.out 2>&1
	eq "dev: same as runc" "$(cat /tmp/dev.out)" "$(cat /tmp/dev-runc.out)"
	$R run --bundle /bundles/dev-deny-runc dev-deny-runc >/tmp/dev-deny-runc.out 2>&1
	eq "dev-deny: same as runc" "$(cat /tmp/dev-deny.out)" "$(cat /tmp/dev-deny-runc.out)"
fi

echo "== pause / resume (cgroup.freeze)"
count() { tail -n 2 /tmp/counter/count 2>/dev/null | head -n 1; }
mkdir -p /tmp/counter
$K run -d --bundle /bundles/counter counter >/dev/null 2>&1
sleep 0.3
$K pause counter
eq "pause: state" "$(status "$K" counter)" paused
eq "pause: cgroup.freeze" "$(cg counter cgroup.freeze)" 1
has "pause: list" "$($K list)" paused
if grep -q "frozen 1" $CG/counter/cgroup.events; then
	ok "pause: cgroup.events frozen 1"
else
	not_ok "pause: not frozen: $(cat $CG/counter/cgroup.events)"
fi
a=$(count)
sleep 0.5
eq "pause: the counter does not advance" "$(count)" "$a"
has "pause twice" "$($K pause counter 2>&1)" "container not running"
$K resume counter
eq "resume: state" "$(status "$K" counter)" running
sleep 0.3
if [ "$(count)" != "$a" ]; then ok "resume: the counter advances"; else not_ok "resume: counter stuck at $a"; fi
has "resume twice" "$($K resume counter 2>&1)" "container not paused"
$K pause counter
$K delete --force counter
gone counter
rm -f /tmp/counter/count
$K run -d --bundle /bundles/paused-kill paused-kill >/dev/null 2>&1
sleep 0.2
$K pause paused-kill
$K kill paused-kill KILL
wait_status "$K" paused-kill stopped
$K delete paused-kill
gone paused-kill

echo "== update"
$K run -d --bundle /bundles/upd upd >/dev/null 2>&1
$K update --resources - upd </bundles/dockerd-update.json
eq "update dockerd json: memory.max" "$(cg upd memory.max)" 67108864
eq "update dockerd json: memory.swap.max" "$(cg upd memory.swap.max)" 67108864
$K update --memory 48m --memory-swap 96m --cpu-share 512 --cpu-quota 20000 --cpu-period 100000 \
	--pids-limit 20 --cpuset-cpus 0 upd
eq "update flags: memory.max" "$(cg upd memory.max)" 50331648
eq "update flags: memory.swap.max" "$(cg upd memory.swap.max)" 50331648
eq "update flags: cpu.weight" "$(cg upd cpu.weight)" 20
eq "update flags: cpu.max" "$(cg upd cpu.max)" "20000 100000"
eq "update flags: pids.max" "$(cg upd pids.max)" 20
eq "update flags: cpuset.cpus" "$(cg upd cpuset.cpus)" 0
$K update --cpu-period 50000 upd
eq "update period only keeps the quota" "$(cg upd cpu.max)" "20000 50000"
$K update --pids-limit -1 upd
eq "update pids -1" "$(cg upd pids.max)" max
echo '{"memory": {"limit": 4096, "checkBeforeUpdate": true}}' >/tmp/check.json
has "update checkBeforeUpdate" "$($K update --resources /tmp/check.json upd 2>&1)" \
	"linux.resources.memory.limit: rejecting memory limit 4096 below current usage"
eq "update checkBeforeUpdate left memory.max" "$(cg upd memory.max)" 50331648
has "update bad quota" "$($K update --cpu-quota -5 upd 2>&1)" "linux.resources.cpu.quota: must be positive or -1"
if $have_runc; then
	$R run -d --bundle /bundles/upd-runc upd-runc >/dev/null 2>&1
	$R update --resources - upd-runc </bundles/dockerd-update.json
	for f in memory.max memory.swap.max; do
		eq "update dockerd json: $f as runc" "$(cg upd-runc $f)" 67108864
	done
	$R delete --force upd-runc
fi
$K delete --force upd
gone upd

echo "== memory limit: OOM kill, events"
$K create --bundle /bundles/oom oom >/dev/null 2>&1
$K events --interval 100ms oom >/tmp/oom.ev 2>&1 &
evpid=$!
sleep 0.3
$K start oom
wait_status "$K" oom stopped
has "oom: memory.events oom_kill" "$(cat $CG/oom/memory.events)" "oom_kill 1"
i=0
while kill -0 $evpid 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
has "oom: events reports it" "$(cat /tmp/oom.ev)" '{"type":"oom","id":"oom"}'
$K delete oom
gone oom

echo "== pids limit: fork fails"
$K run --bundle /bundles/pids pids >/tmp/pids.out 2>&1
has "pids: fork fails" "$(cat /tmp/pids.out)" "can't fork"
lacks "pids: the loop did not finish" "$(cat /tmp/pids.out)" "looped"
$K delete pids 2>/dev/null

echo "== ps, kill --all (cgroup.kill), events --stats"
$K run -d --bundle /bundles/killall killall >/dev/null 2>&1
sleep 0.3
n=$($K ps --format json killall | tr ',' '\n' | grep -c '[0-9]')
eq "ps json: three processes" "$n" 3
$K kill --all killall KILL
wait_status "$K" killall stopped
eq "ps json after kill --all" "$($K ps --format json killall)" null
$K delete killall
gone killall
$K run -d --bundle /bundles/stats stats >/dev/null 2>&1
st=$($K events --stats stats)
has "events --stats: type" "$st" '{"type":"stats","id":"stats","data":{"cpu":{"usage":{"total":'
has "events --stats: memory limit" "$st" '"memory":{"usage":{"limit":67108864,'
has "events --stats: pids" "$st" '"pids":{"current":1,"limit":50}'
$K delete --force stats
gone stats

echo "== bad values: the field is named, nothing is left"
for b in "bad-quota|linux.resources.cpu.quota: must be positive or -1 (unlimited), got -5" \
	"bad-unified|linux.resources.unified[\"memory.bogus\"]: " \
	"bad-unified-ctrl|linux.resources.unified[\"bogus.key\"]: unknown cgroup v2 controller" \
	"bad-cpus|linux.resources.cpu.cpus: " \
	"bad-dev|linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m" \
	"bad-rt|linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime CPU bandwidth control" \
	"bad-net|linux.resources.network.classID: cgroup v2 has no net_cls controller"; do
	id=${b%%|*}
	has "$id" "$($K create --bundle "/bundles/$id" "$id" 2>&1)" "${b#*|}"
	gone "$id"
done

echo "KEEL-V2-RESULT pass=$pass fail=$fail"
