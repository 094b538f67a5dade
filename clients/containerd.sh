#!/usr/bin/env bash
# containerd 1.6 + ctr driving keel through the runc v2 shim (`--runc-binary`), isolated:
# own config, root, state, sockets and namespace under $WORK. Run by clients/run.sh.
#
# The shim calls keel with `--root <runc-root>/<ns> --log <bundle>/log.json --log-format json`:
# create --bundle --pid-file, start, exec --process --detach --pid-file [--console-socket],
# kill [--all], ps --format json, pause, resume, delete [--force].
# SC2016: container commands are single-quoted on purpose; SC2317: cleanup runs from the trap
# shellcheck disable=SC2016,SC2317
set -uo pipefail
CLIENT=containerd
# shellcheck source=clients/lib.sh
. "$(dirname "$0")/lib.sh"

W=$WORK
NS=keelc$$                      # ctr namespace: also the cgroup parent (/keelc<pid>/<id>)
SOCK=$W/containerd.sock
WRAP=$W/bin/keel                # logs each call, then runs $KEEL
make_wrapper "$WRAP"
CTR=(ctr --address "$SOCK" --namespace "$NS")
RUNOPTS=(--runc-binary "$WRAP" --runc-root "$W/runc-root" --fifo-dir "$W/fifo" --snapshotter overlayfs)
IMG=localhost/busybox:latest
snapshot /run/containerd/s "$W/shim-sockets-before"   # 1.6 shims always put their sockets here

cat >"$W/config.toml" <<TOML
version = 2
root = "$W/root"
state = "$W/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$W/debug.sock"
  level = "debug"
[plugins."io.containerd.internal.v1.opt"]
  path = "$W/opt"
TOML

CTRD_PID=
cleanup() {
	# forced cleanup after a failure; the checks of what is left come first
	local c
	alive "$CTRD_PID" || CTR=(true)   # ctr would wait 10 s per call for a stopped daemon
	for c in $("${CTR[@]}" task ls -q 2>/dev/null); do
		"${CTR[@]}" task kill -s KILL "$c" >/dev/null 2>&1
		sleep 0.3
		"${CTR[@]}" task delete -f "$c" >/dev/null 2>&1
	done
	for c in $("${CTR[@]}" container ls -q 2>/dev/null); do "${CTR[@]}" container delete "$c" >/dev/null 2>&1; done
	"${CTR[@]}" images rm "$IMG" >/dev/null 2>&1
	"${CTR[@]}" namespaces remove "$NS" >/dev/null 2>&1
	alive "$CTRD_PID" && kill -TERM "$CTRD_PID"
	[ -n "$CTRD_PID" ] && wait "$CTRD_PID"
	check_procs_mounts
	check_state_dir "$W/runc-root/$NS"
	check_state_dir /run/containerd/s "$W/shim-sockets-before"
	check_cgroup "/$NS"
	summarize_argv >"$LOGDIR/subcommands.txt"
}
trap cleanup EXIT

say "containerd $(containerd --version | awk '{print $3}'), runtime $KEEL"
containerd --config "$W/config.toml" >"$LOGDIR/containerd.log" 2>&1 &
CTRD_PID=$!
started() {
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && "${CTR[@]}" version >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
must "containerd starts" -- started
must "import the busybox OCI image" --out "$IMG" -- \
	"${CTR[@]}" images import --base-name localhost/busybox "$IMAGES/busybox-oci.tar"

# --- foreground -----------------------------------------------------------------------------
t "run --rm in the foreground: output and uid" --out '^hello-from-' --out '^uid=0$' -- \
	"${CTR[@]}" run --rm "${RUNOPTS[@]}" "$IMG" fg1 \
	sh -c 'echo hello-from-$(hostname); echo uid=$(id -u)'
t "run --rm --net-host (no network namespace)" --out 'lo' -- \
	"${CTR[@]}" run --rm --net-host "${RUNOPTS[@]}" "$IMG" fg2 sh -c 'ls /sys/class/net | tr "\n" " "'
t "run --rm: the exit code comes through" --rc 3 -- \
	"${CTR[@]}" run --rm "${RUNOPTS[@]}" "$IMG" fg3 sh -c 'exit 3'
t "run -t in the foreground (create --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(printf '%q ' "${CTR[@]}") run --rm -t $(printf '%q ' "${RUNOPTS[@]}") $IMG fg4 sh -c 'tty; echo tty-ok'" /dev/null
# containerd reads the last error line of keel's --log and puts it in its error
t "a failing create shows keel's message" --rc nonzero \
	--out 'exec: "no-such-command": executable file not found in \$PATH' -- \
	"${CTR[@]}" run --rm "${RUNOPTS[@]}" "$IMG" bad1 no-such-command
t "after a failing create: no task, container removable" --not 'bad1' -- \
	sh -c "$(printf '%q ' "${CTR[@]}") container rm bad1 2>/dev/null; $(printf '%q ' "${CTR[@]}") task ls -q; $(printf '%q ' "${CTR[@]}") container ls -q"

# --- detached: exec, ps, pause, stop --------------------------------------------------------
t "run -d (detached)" -- \
	"${CTR[@]}" run -d "${RUNOPTS[@]}" --log-uri "file://$W/c1.stdout" "$IMG" c1 \
	sh -c 'trap "echo got-TERM; exit 0" TERM; echo started; while :; do sleep 0.2; done'
# task_status ID STATUS: wait up to 5 s for the task to show STATUS in `ctr task ls`
task_status() {
	for _ in $(seq 25); do
		"${CTR[@]}" task ls | grep -Eq "^$1 +[0-9]+ +$2\$" && { "${CTR[@]}" task ls; return 0; }
		sleep 0.2
	done
	"${CTR[@]}" task ls
	return 1
}
t "c1 is RUNNING" --out '^c1 ' -- task_status c1 RUNNING
t "exec" --out '^exec-ok pid1=sh$' -- \
	"${CTR[@]}" task exec --fifo-dir "$W/fifo" --exec-id e1 c1 sh -c 'echo exec-ok pid1=$(cat /proc/1/comm)'
t "exec: the exit code comes through" --rc 5 -- \
	"${CTR[@]}" task exec --fifo-dir "$W/fifo" --exec-id e2 c1 sh -c 'exit 5'
t "exec -t (exec --console-socket)" --out '/dev/pts/[0-9]+$' --out '^tty-ok' -- \
	script -qec "$(printf '%q ' "${CTR[@]}") task exec -t --fifo-dir $W/fifo --exec-id e3 c1 sh -c 'tty; echo tty-ok'" /dev/null
t "exec of a missing command shows keel's message" --rc nonzero \
	--out 'executable file not found in \$PATH' -- \
	"${CTR[@]}" task exec --fifo-dir "$W/fifo" --exec-id e4 c1 no-such-command
t "task ps (keel ps --format json)" --out '^ *PID' --out "^ *$("${CTR[@]}" task ls | awk '$1 == "c1" {print $2}') " -- \
	"${CTR[@]}" task ps c1
pause_resume() {
	"${CTR[@]}" task pause c1 || return 1
	task_status c1 PAUSED || return 1
	"${CTR[@]}" task exec --fifo-dir "$W/fifo" --exec-id e5 c1 true && { echo "exec into a paused container worked"; return 1; }
	"${CTR[@]}" task resume c1 || return 1
	task_status c1 RUNNING
}
t "pause, exec refused while paused, resume" --out 'c1 .*RUNNING' -- pause_resume
t "metrics (the shim reads the cgroups)" --out 'memory' -- "${CTR[@]}" task metrics c1
t "kill SIGTERM: the trap runs, task STOPPED" --out 'c1 .*STOPPED' -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task kill -s SIGTERM c1 && sleep 0.3 && $(printf '%q ' "${CTR[@]}") task ls"
t "... STOPPED" -- task_status c1 STOPPED
t "the container's stdout went to the log" --out '^started$' --out '^got-TERM$' -- cat "$W/c1.stdout"
t "delete the task (exit code 0) and the container" --not 'non-zero exit' -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task delete c1 && $(printf '%q ' "${CTR[@]}") container delete c1"

# stop = SIGTERM, then SIGKILL: sleep as pid 1 ignores SIGTERM
t "run -d a TERM-ignoring pid 1" -- "${CTR[@]}" run -d "${RUNOPTS[@]}" "$IMG" c2 sleep 1000
t "kill SIGTERM: ignored, still RUNNING" -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task kill -s SIGTERM c2 && sleep 1 && $(printf '%q ' "${CTR[@]}") task ls | grep -E '^c2 .*RUNNING'"
t "kill --all SIGKILL: STOPPED" -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task kill --all -s SIGKILL c2"
t "... STOPPED" -- task_status c2 STOPPED
t "delete --force the task, delete the container" -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task delete -f c2 && $(printf '%q ' "${CTR[@]}") container delete c2"

# a running task removed with `task delete --force` (keel delete --force)
t "run -d, then task delete --force while running" -- \
	sh -c "$(printf '%q ' "${CTR[@]}") run -d $(printf '%q ' "${RUNOPTS[@]}") $IMG c3 sleep 1000 &&
	       $(printf '%q ' "${CTR[@]}") task delete -f c3 && $(printf '%q ' "${CTR[@]}") container delete c3"

t "no tasks or containers left" --not '.' -- \
	sh -c "$(printf '%q ' "${CTR[@]}") task ls -q; $(printf '%q ' "${CTR[@]}") container ls -q"
t "containerd stops on SIGTERM" -- stop_daemon "$CTRD_PID"
exit 0
