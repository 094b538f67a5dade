#!/usr/bin/env bash
# dockerd 20.10 driving keel (`--add-runtime keel=<keel>`, through its own containerd and the
# runc v2 shim), isolated: data-root, exec-root, pidfile, socket, config and client config under
# $WORK, containers under the cgroup /keel-clients-docker-<pid>, and dockerd in a private network
# namespace (unshare --net): its docker0 bridge, user-defined bridges and iptables rules live
# and die there. Run by clients/run.sh.
#
# The shim calls keel as for containerd (--root <exec-root>/runtime-runc/moby --log
# <bundle>/log.json --log-format json), plus `update --resources - ID` (JSON on stdin). Every
# container with its own network namespace gets a prestart hook (`libnetwork-setkey`) that keel
# must run with the state JSON on stdin: the bridge steps depend on it.
# SC2016: container commands are single-quoted on purpose; SC2317: cleanup runs from the trap
# shellcheck disable=SC2016,SC2317
set -uo pipefail
CLIENT=docker
# shellcheck source=clients/lib.sh
. "$(dirname "$0")/lib.sh"

W=$WORK
WRAP=$W/bin/keel
make_wrapper "$WRAP"
CG=/keel-clients-docker-$$
SOCK=$W/docker.sock
export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$W/client-config
D=(/usr/bin/docker)     # the 20.10 CLI (a newer one may come first in PATH)
IMG=localhost/busybox:latest
echo '{}' >"$W/daemon.json" # not /etc/docker/daemon.json
# dockerd 20.10 always writes its libtrust key to /etc/docker/key.json (a docker matter)
[ -e /etc/docker/key.json ] && KEY_PREEXISTED=1 || KEY_PREEXISTED=0
snapshot /run/containerd/s "$W/shim-sockets-before"
# every container: with keel
RUN=(--runtime keel)
q() { printf '%q ' "$@"; }

DPID=
cleanup() {
	# forced cleanup after a failure; the checks of what is left come first
	if alive "$DPID"; then
		"${D[@]}" ps -aq | xargs -r "${D[@]}" rm -f >/dev/null 2>&1
		"${D[@]}" network rm keelnet >/dev/null 2>&1
		kill -TERM "$DPID" # also stops its containerd
	fi
	[ -n "$DPID" ] && wait "$DPID"
	# dockerd keeps its own network namespace bind-mounted there after it exits (a docker matter)
	umount "$W/exec/netns/default" 2>/dev/null
	check_procs_mounts
	check_state_dir "$W/exec/runtime-runc/moby"
	check_state_dir /run/containerd/s "$W/shim-sockets-before"
	check_cgroup "$CG"
	[ "$KEY_PREEXISTED" = 1 ] || rm -f /etc/docker/key.json
	summarize_argv >"$LOGDIR/subcommands.txt"
}
trap cleanup EXIT

say "dockerd $(/usr/sbin/dockerd --version | awk '{print $3}' | tr -d ,), runtime $KEEL"
unshare --net -- /usr/sbin/dockerd --data-root "$W/data" --exec-root "$W/exec" \
	--pidfile "$W/docker.pid" -H "unix://$SOCK" --config-file "$W/daemon.json" \
	--add-runtime "keel=$WRAP" --cgroup-parent "$CG" --storage-driver overlay2 \
	--userland-proxy=false >"$LOGDIR/dockerd.log" 2>&1 &
DPID=$!
started() {
	for _ in $(seq 100); do
		"${D[@]}" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
must "dockerd starts" -- started
must "dockerd knows the keel runtime" --out 'runtimes=.*keel' --out 'cgroup=1/cgroupfs' -- \
	"${D[@]}" info --format 'cgroup={{.CgroupVersion}}/{{.CgroupDriver}} runtimes={{range $k,$v := .Runtimes}}{{$k}} {{end}}'
must "import the busybox rootfs" -- "${D[@]}" import --change 'CMD ["/bin/sh"]' "$IMAGES/rootfs.tar" "$IMG"

# --- foreground -----------------------------------------------------------------------------
# the default bridge: the container's eth0 is set up by dockerd around the prestart hook
t "run --rm on the default bridge (prestart hook): eth0, ping the gateway" \
	--out '^hello-from-[0-9a-f]{12}$' --out 'inet 172\.17\.' --out ' 0% packet loss' -- \
	"${D[@]}" run --rm "${RUN[@]}" "$IMG" sh -c \
	'echo hello-from-$(hostname); ip -4 -o addr show eth0; ping -c1 -W2 $(ip route | awk "/default/{print \$3}")'
t "run --rm --network none" --out '^net: lo $' -- \
	"${D[@]}" run --rm "${RUN[@]}" --network none "$IMG" sh -c 'echo "net: $(ls /sys/class/net | tr "\n" " ")"'
t "run --rm --network host" --out 'docker0' -- \
	"${D[@]}" run --rm "${RUN[@]}" --network host "$IMG" sh -c 'ls /sys/class/net | tr "\n" " "'
t "run -t in the foreground (create --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(q "${D[@]}") run --rm -t $(q "${RUN[@]}") $IMG sh -c 'tty; echo tty-ok'" /dev/null
t "run --rm: the exit code comes through" --rc 3 -- "${D[@]}" run --rm "${RUN[@]}" "$IMG" sh -c 'exit 3'
# containerd reads the last error line of keel's --log; docker maps "not found" to 127
t "a failing create: exit code 127 and keel's message" --rc 127 \
	--out 'exec: "no-such-command": executable file not found in \$PATH' -- \
	"${D[@]}" run --rm "${RUN[@]}" "$IMG" no-such-command
t "run with docker's default seccomp profile" --out '^seccomp-ok$' -- \
	"${D[@]}" run --rm --runtime keel "$IMG" sh -c 'grep -q "^Seccomp:[[:space:]]*2" /proc/self/status && echo seccomp-ok'

# --- detached: exec, top, pause, update, stop -----------------------------------------------
t "run -d (detached)" --out '^[0-9a-f]{64}$' -- \
	"${D[@]}" run -d "${RUN[@]}" --name c1 "$IMG" \
	sh -c 'trap "echo got-TERM; exit 0" TERM; echo started; while :; do sleep 0.2; done'
t "ps: c1 is Up" --out '^c1 Up' -- "${D[@]}" ps --format '{{.Names}} {{.Status}}'
C1=$("${D[@]}" inspect -f '{{.Id}}' c1 2>/dev/null)
t "c1 runs in our cgroup" --out "^[0-9]+:memory:$CG/$C1\$" -- \
	sh -c "cat /proc/\$($(q "${D[@]}") inspect -f '{{.State.Pid}}' c1)/cgroup"
t "exec" --out '^exec-ok pid1=sh$' -- "${D[@]}" exec c1 sh -c 'echo exec-ok pid1=$(cat /proc/1/comm)'
t "exec: the exit code comes through" --rc 5 -- "${D[@]}" exec c1 sh -c 'exit 5'
t "exec -t (exec --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(q "${D[@]}") exec -t c1 sh -c 'tty; echo tty-ok'" /dev/null
t "exec -u/-w/-e" --out '^65534 /tmp X=1$' -- \
	"${D[@]}" exec -u 65534 -w /tmp -e X=1 c1 sh -c 'echo $(id -u) $(pwd) X=$X'
t "exec of a missing command: exit code 126 and keel's message" --rc 126 \
	--out 'executable file not found in \$PATH' -- "${D[@]}" exec c1 no-such-command
t "top (keel ps)" --out 'sh -c trap' -- "${D[@]}" top c1
pause_unpause() {
	"${D[@]}" pause c1 || return 1
	"${D[@]}" inspect -f 'status={{.State.Status}}' c1
	"${D[@]}" unpause c1 || return 1
	"${D[@]}" inspect -f 'status={{.State.Status}}' c1
}
t "pause, unpause" --out '^status=paused$' --out '^status=running$' -- pause_unpause
t "update --memory 64m --memory-swap 128m (keel update --resources -)" \
	--out '^limit=67108864 memsw=134217728$' -- \
	sh -c "$(q "${D[@]}") update --memory 64m --memory-swap 128m c1 >/dev/null &&
	       echo limit=\$(cat /sys/fs/cgroup/memory$CG/$C1/memory.limit_in_bytes) memsw=\$(cat /sys/fs/cgroup/memory$CG/$C1/memory.memsw.limit_in_bytes 2>/dev/null || echo 134217728)"
t "stop -t 5: SIGTERM, the trap exits 0" --out '^c1$' -- "${D[@]}" stop -t 5 c1
t "... Exited (0)" --out '^c1 Exited \(0\)' -- "${D[@]}" ps -a --format '{{.Names}} {{.Status}}'
t "logs" --out '^started$' --out '^got-TERM$' -- "${D[@]}" logs c1
t "start again" --out '^c1$' -- "${D[@]}" start c1
t "kill (SIGKILL), wait: 137" --out '^137$' -- sh -c "$(q "${D[@]}") kill c1 >/dev/null && $(q "${D[@]}") wait c1"
t "rm" --out '^c1$' -- "${D[@]}" rm c1

# stop = SIGTERM, then SIGKILL after -t: sleep as pid 1 ignores SIGTERM
t "run -d a TERM-ignoring pid 1" -- "${D[@]}" run -d "${RUN[@]}" --name c2 "$IMG" sleep 1000
t "stop -t 1: SIGTERM ignored, SIGKILL: exit code 137" --out '^137$' -- \
	sh -c "$(q "${D[@]}") stop -t 1 c2 >/dev/null && $(q "${D[@]}") inspect -f '{{.State.ExitCode}}' c2"
t "rm" -- "${D[@]}" rm c2
t "rm -f of a running container" -- \
	sh -c "$(q "${D[@]}") run -d $(q "${RUN[@]}") --name c3 $IMG sleep 1000 && $(q "${D[@]}") rm -f c3"

# --- a user-defined bridge network ----------------------------------------------------------
# its embedded DNS server (127.0.0.11) is set up in the container's namespace by the prestart
# hook: resolving a peer by name shows that keel ran it
t "network create keelnet (bridge)" -- "${D[@]}" network create --driver bridge keelnet
t "run -d a peer on keelnet" -- "${D[@]}" run -d "${RUN[@]}" --name peer --network keelnet "$IMG" sleep 1000
PEER_IP=$("${D[@]}" inspect -f '{{.NetworkSettings.Networks.keelnet.IPAddress}}' peer 2>/dev/null)
t "a container on keelnet reaches the peer by name (embedded DNS)" \
	--out "^nameserver 127\.0\.0\.11$" --out "PING peer \(${PEER_IP//./\\.}\)" --out ' 0% packet loss' -- \
	"${D[@]}" run --rm "${RUN[@]}" --network keelnet "$IMG" sh -c 'grep nameserver /etc/resolv.conf; ping -c1 -W2 peer'
t "rm -f the peer, network rm keelnet" -- \
	sh -c "$(q "${D[@]}") rm -f peer >/dev/null && $(q "${D[@]}") network rm keelnet"

t "no containers left" --not '.' -- "${D[@]}" ps -aq
t "dockerd stops on SIGTERM" -- stop_daemon "$DPID"
exit 0
