#!/usr/bin/env bash
# podman 4.3 (root, cgroupfs manager) driving keel through conmon (`--runtime`), isolated:
# storage, run root, tmp dir, config and events under $WORK, containers under the cgroup
# /keel-clients-podman-<pid>. Run by clients/run.sh.
#
# conmon calls `keel --log-format=json --log F create --bundle B --pid-file P
# [--console-socket S] ID` and `exec` likewise; podman itself `start`, `kill ID 15|9`, `pause`,
# `resume`, `delete --force` with no --root (podman 4.3 drops runtime flags in conmon's exit
# command), so keel's default root /run/keel is used. The wrapper is named `keel`: podman only
# passes --log-format=json to runtimes whose file name is in runtime_supports_json.
# SC2016: container commands are single-quoted on purpose; SC2317: cleanup runs from the trap
# shellcheck disable=SC2016,SC2317
set -uo pipefail
CLIENT=podman
# shellcheck source=clients/lib.sh
. "$(dirname "$0")/lib.sh"

W=$WORK
WRAP=$W/bin/keel
make_wrapper "$WRAP"
mkdir -p "$W"/{tmp,cni}
CG=/keel-clients-podman-$$
IMG=localhost/busybox:latest
KEEL_ROOT=/run/keel
snapshot "$KEEL_ROOT" "$W/keel-root-before"
# podman writes /var/lib/containers/cache whatever its --root (a podman matter, not keel's)
[ -e /var/lib/containers ] && VLC_PREEXISTED=1 || VLC_PREEXISTED=0

cat >"$W/storage.conf" <<TOML
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run"
TOML
NPROC=$(ulimit -Hu)
{ [ "$NPROC" = unlimited ] || [ "$NPROC" -gt 32768 ]; } && NPROC=32768 # podman runs with nproc <= 32768
cat >"$W/containers.conf" <<TOML
[containers]
log_driver = "k8s-file"
# podman (as root) defaults RLIMIT_NOFILE to 1048576: raising the hard limit needs
# CAP_SYS_RESOURCE, which this machine's root may lack
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$NPROC:$NPROC"]
[network]
network_backend = "cni"
network_config_dir = "$W/cni"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/events.log"
tmp_dir = "$W/tmp"
static_dir = "$W/storage/libpod"
volume_path = "$W/storage/volumes"
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "youki", "keel"]
TOML
export CONTAINERS_CONF=$W/containers.conf CONTAINERS_STORAGE_CONF=$W/storage.conf
PM=(podman --root "$W/storage" --runroot "$W/run" --tmpdir "$W/tmp" --storage-driver overlay
	--cgroup-manager cgroupfs --events-backend file --runtime "$WRAP")
# every container: in our cgroup
RUN=(--cgroup-parent "$CG")
q() { printf '%q ' "$@"; }

cleanup() {
	# forced cleanup after a failure; the checks of what is left come first
	"${PM[@]}" rm -a -f -t 0 >/dev/null 2>&1
	"${PM[@]}" rmi -a -f >/dev/null 2>&1
	check_procs_mounts
	check_state_dir "$KEEL_ROOT" "$W/keel-root-before"
	check_cgroup "$CG" conmon # podman's cgroup for its conmons, kept by podman
	[ "$VLC_PREEXISTED" = 1 ] || rm -rf /var/lib/containers
	summarize_argv >"$LOGDIR/subcommands.txt"
}
trap cleanup EXIT

say "podman $(podman --version | awk '{print $3}'), runtime $KEEL"
must "podman uses the keel wrapper" --out "^$WRAP cgroups=v1/cgroupfs" -- \
	"${PM[@]}" info --format '{{.Host.OCIRuntime.Path}} cgroups={{.Host.CgroupsVersion}}/{{.Host.CgroupManager}}'
must "import the busybox rootfs" -- "${PM[@]}" import --change 'CMD ["/bin/sh"]' "$IMAGES/rootfs.tar" "$IMG"

# --- foreground -----------------------------------------------------------------------------
t "run --rm --network none in the foreground" --out '^hello-from-[0-9a-f]{12}$' --out '^net: lo $' -- \
	"${PM[@]}" run --rm "${RUN[@]}" --network none "$IMG" \
	sh -c 'echo hello-from-$(hostname); echo "net: $(ls /sys/class/net | tr "\n" " ")"'
t "run --rm --network host" --out 'lo' -- \
	"${PM[@]}" run --rm "${RUN[@]}" --network host "$IMG" sh -c 'ls /sys/class/net | tr "\n" " "'
t "run -t in the foreground (create --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(q "${PM[@]}") run --rm -t $(q "${RUN[@]}") --network none $IMG sh -c 'tty; echo tty-ok'" /dev/null
t "run --rm: the exit code comes through" --rc 3 -- \
	"${PM[@]}" run --rm "${RUN[@]}" --network none "$IMG" sh -c 'exit 3'
# podman maps the runtime's message to exit code 127
t "a failing create: exit code 127 and keel's message" --rc 127 \
	--out 'executable file not found in \$PATH' -- \
	"${PM[@]}" run --rm "${RUN[@]}" --network none "$IMG" no-such-command
t "run with podman's default seccomp profile" --out '^seccomp-ok$' -- \
	"${PM[@]}" run --rm --cgroup-parent "$CG" --network none "$IMG" sh -c 'grep -q "^Seccomp:[[:space:]]*2" /proc/self/status && echo seccomp-ok'

# --- detached: exec, top, pause, stop -------------------------------------------------------
t "run -d (detached)" --out '^[0-9a-f]{64}$' -- \
	"${PM[@]}" run -d "${RUN[@]}" --name c1 --network none "$IMG" \
	sh -c 'trap "echo got-TERM; exit 0" TERM; echo started; while :; do sleep 0.2; done'
t "ps: c1 is Up" --out '^c1 Up' -- "${PM[@]}" ps --format '{{.Names}} {{.Status}}'
t "c1 runs in our cgroup" --out "^[0-9]+:memory:$CG/libpod-[0-9a-f]{64}$" -- \
	sh -c "cat /proc/\$($(q "${PM[@]}") inspect -f '{{.State.Pid}}' c1)/cgroup"
t "exec" --out '^exec-ok pid1=sh$' -- "${PM[@]}" exec c1 sh -c 'echo exec-ok pid1=$(cat /proc/1/comm)'
t "exec: the exit code comes through" --rc 5 -- "${PM[@]}" exec c1 sh -c 'exit 5'
t "exec -t (exec --tty --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(q "${PM[@]}") exec -t c1 sh -c 'tty; echo tty-ok'" /dev/null
t "exec -u/-w/-e" --out '^65534 /tmp X=1$' -- \
	"${PM[@]}" exec -u 65534 -w /tmp -e X=1 c1 sh -c 'echo $(id -u) $(pwd) X=$X'
t "exec of a missing command: exit code 127 and keel's message" --rc 127 \
	--out 'executable file not found in \$PATH' -- "${PM[@]}" exec c1 no-such-command
t "top (podman reads /proc itself)" --out 'sh -c trap' -- "${PM[@]}" top c1
pause_unpause() {
	"${PM[@]}" pause c1 || return 1
	"${PM[@]}" inspect -f 'status={{.State.Status}}' c1
	"${PM[@]}" unpause c1 || return 1
	"${PM[@]}" inspect -f 'status={{.State.Status}}' c1
}
t "pause, unpause" --out '^status=paused$' --out '^status=running$' -- pause_unpause
t "stop -t 5: SIGTERM, the trap exits 0" --out '^c1$' -- "${PM[@]}" stop -t 5 c1
t "... Exited (0)" --out '^c1 Exited \(0\)' -- "${PM[@]}" ps -a --format '{{.Names}} {{.Status}}'
t "logs" --out '^started$' --out '^got-TERM$' -- "${PM[@]}" logs c1
t "start again" --out '^c1$' -- "${PM[@]}" start c1
t "... running" --out '^running$' -- "${PM[@]}" inspect -f '{{.State.Status}}' c1
t "kill (SIGKILL), wait: 137" --out '^137$' -- sh -c "$(q "${PM[@]}") kill c1 && $(q "${PM[@]}") wait c1"
t "rm" --out '^c1$' -- "${PM[@]}" rm c1

# stop = SIGTERM, then SIGKILL after -t: sleep as pid 1 ignores SIGTERM
t "run -d a TERM-ignoring pid 1" -- "${PM[@]}" run -d "${RUN[@]}" --name c2 --network none "$IMG" sleep 1000
t "stop -t 1: SIGTERM ignored, SIGKILL" --out 'resorting to SIGKILL' -- "${PM[@]}" stop -t 1 c2
t "... exit code 137" --out '^137$' -- "${PM[@]}" inspect -f '{{.State.ExitCode}}' c2
t "rm" -- "${PM[@]}" rm c2
t "rm -f of a running container" -- \
	sh -c "$(q "${PM[@]}") run -d $(q "${RUN[@]}") --name c3 --network none $IMG sleep 1000 && $(q "${PM[@]}") rm -f -t 0 c3"
t "no containers left" --not '.' -- "${PM[@]}" ps -aq
exit 0
