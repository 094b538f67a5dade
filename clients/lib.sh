# Shared helpers for the client tests (clients/*.sh). Source this file; it needs bash.
#
# Environment:
#   KEEL     the runtime under test (default: target/<host triple>/release/keel of this checkout). Any
#            runc-compatible binary works: KEEL=/usr/sbin/runc checks the tests themselves.
#   WORK     this client's temp dir (made by run.sh; removed at the end unless KEEP=1)
#   IMAGES   the busybox rootfs + image tarballs, shared by the three clients (run.sh)
#   RESULTS  file each step appends "<client>\t<PASS|FAIL|NOTE>\t<step>" to
#
# Every step is checked: exit code and output. A step that fails prints the command, its exit
# code and output, and every runtime call the client made during the step (argv, exit code,
# and the runtime's last `--log` error line), from the wrapper's log.

CLIENT=${CLIENT:?set CLIENT before sourcing lib.sh}
KEEL=${KEEL:?}
WORK=${WORK:?}
IMAGES=${IMAGES:?}
RESULTS=${RESULTS:?}
LOGDIR=$WORK/logs
ARGVLOG=$LOGDIR/runtime-argv.log
mkdir -p "$LOGDIR"
: >>"$ARGVLOG"

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%5.1fs", b-a}'; }
say() { echo "[$(elapsed)] $CLIENT: $*"; }
record() { printf '%s\t%s\t%s\n' "$CLIENT" "$1" "$2" >>"$RESULTS"; }
indent() { sed 's/^/      | /'; }

note() {
	say "NOTE: $*"
	record NOTE "$*"
}
fail_result() {
	say "FAIL: $*"
	record FAIL "$*"
}

# --- steps ---------------------------------------------------------------------------------

# t NAME [--rc N|--rc nonzero] [--out ERE]... [--not ERE]... [--timeout S] -- CMD...
# Runs CMD (stdin from /dev/null), output in $OUT, exit code in $RC; returns 0 when every check holds.
t() {
	local name=$1 rc_want=0 timeout=90 outs=() nots=()
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--rc) rc_want=$2; shift 2 ;;
		--out) outs+=("$2"); shift 2 ;;
		--not) nots+=("$2"); shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--) shift; break ;;
		*) echo "t: bad option $1" >&2; return 2 ;;
		esac
	done
	local lines0 start
	lines0=$(wc -l <"$ARGVLOG")
	start=$(date +%s.%N)
	if [ "$(type -t "$1")" = function ]; then
		# a helper of the client's script: it bounds its own waits
		OUT=$("$@" 2>&1 </dev/null)
	else
		OUT=$(timeout -k 5 "$timeout" "$@" 2>&1 </dev/null)
	fi
	RC=$?
	OUT=${OUT//$'\r'/} # terminal line endings
	local why=() o
	if [ "$rc_want" = nonzero ]; then
		[ "$RC" != 0 ] || why+=("exit code 0, want non-zero")
	elif [ "$RC" != "$rc_want" ]; then
		why+=("exit code $RC, want $rc_want")
	fi
	[ "$RC" = 124 ] && why+=("timed out after ${timeout}s")
	for o in "${outs[@]}"; do grep -Eq -- "$o" <<<"$OUT" || why+=("output lacks /$o/"); done
	for o in "${nots[@]}"; do grep -Eq -- "$o" <<<"$OUT" && why+=("output has /$o/"); done
	local dt
	dt=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1fs", b-a}')
	if [ ${#why[@]} = 0 ]; then
		say "ok   $name ($dt)"
		record PASS "$name"
		return 0
	fi
	say "FAIL $name ($dt): $(IFS=';'; echo "${why[*]}")"
	record FAIL "$name: $(IFS=';'; echo "${why[*]}")"
	{
		printf 'command:'
		printf ' %q' "$@"
		printf '\nexit code: %s\noutput:\n' "$RC"
		echo "$OUT" | tail -40
		echo "runtime calls during the step:"
		tail -n +"$((lines0 + 1))" "$ARGVLOG" | cut -c1-600
	} | indent
	return 1
}

# must NAME ... -- CMD: a step the rest of the client depends on; stop this client if it fails.
must() {
	t "$@" || exit 1
}

# alive PID: PID runs (and is not a zombie)
alive() {
	[ -n "$1" ] && [ -e "/proc/$1" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# stop_daemon PID: SIGTERM a daemon this script started, wait up to 10 s for it to exit (to be
# a zombie: the script reaps it later)
stop_daemon() {
	kill -TERM "$1" || return 1
	for _ in $(seq 50); do
		alive "$1" || return 0
		sleep 0.2
	done
	echo "pid $1 still running after 10 s"
	return 1
}

# --- the runtime wrapper -------------------------------------------------------------------

# make_wrapper PATH: a runtime that logs each call (argv, cwd, parent), copies the config.json /
# process.json / update resources it is given to $LOGDIR/specs, runs $KEEL, and logs its exit
# code and, on failure, the last line of the `--log` file. stdio passes straight through.
make_wrapper() {
	local w=$1
	mkdir -p "$(dirname "$w")" "$LOGDIR/specs"
	cat >"$w" <<WRAP
#!/bin/bash
LOGDIR=$LOGDIR
REAL=$KEEL
WRAP
	cat >>"$w" <<'WRAP'
n=$(date +%s%N)
log=$LOGDIR/runtime-argv.log
{ printf '%s pid=%s parent=%s(%s) cwd=%s argv:' "$(date +%T.%3N)" "$$" "$(cat /proc/$PPID/comm 2>/dev/null)" "$PPID" "$PWD"
  printf ' %q' "$0" "$@"; printf '\n'; } >>"$log"
prev= stdin_res= logfile=
for a in "$@"; do
  case "$prev" in
    --bundle|-b) [ -f "$a/config.json" ] && cp "$a/config.json" "$LOGDIR/specs/config-$n.json" ;;
    --process|-p) [ -f "$a" ] && cp "$a" "$LOGDIR/specs/process-$n.json" ;;
    --resources|-r) [ "$a" = - ] && stdin_res=1 ;;
    --log) logfile=$a ;;
  esac
  case "$a" in
    --bundle=*) b=${a#--bundle=}; [ -f "$b/config.json" ] && cp "$b/config.json" "$LOGDIR/specs/config-$n.json" ;;
    --log=*) logfile=${a#--log=} ;;
  esac
  prev=$a
done
if [ -n "$stdin_res" ]; then
  # `update --resources -` reads the resources JSON on stdin: keep a copy, replay it
  cat >"$LOGDIR/specs/resources-$n.json"
  "$REAL" "$@" <"$LOGDIR/specs/resources-$n.json"
else
  "$REAL" "$@"
fi
rc=$?
{ printf '%s pid=%s rc=%s' "$(date +%T.%3N)" "$$" "$rc"
  [ "$rc" != 0 ] && [ -n "$logfile" ] && [ -f "$logfile" ] && printf ' last-log: %s' "$(tail -1 "$logfile")"
  printf '\n'; } >>"$log"
exit $rc
WRAP
	chmod +x "$w"
}

# --- images --------------------------------------------------------------------------------

# make_images: busybox-static rootfs dir, a plain tarball of it (podman/docker import) and an
# OCI image-layout tarball (ctr images import), built with umoci. Once per run (run.sh).
make_images() {
	[ -f "$IMAGES/busybox-oci.tar" ] && [ -f "$IMAGES/rootfs.tar" ] && return 0
	local r=$IMAGES/rootfs app
	rm -rf "$r" "$IMAGES/oci" "$IMAGES/bundle"
	mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp,root,run,var/tmp,usr/bin,usr/sbin}
	cp /bin/busybox "$r/bin/busybox"
	for app in $("$r/bin/busybox" --list); do [ -e "$r/bin/$app" ] || ln -s busybox "$r/bin/$app"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	tar -C "$r" --numeric-owner -cf "$IMAGES/rootfs.tar" .
	umoci init --layout "$IMAGES/oci"
	umoci new --image "$IMAGES/oci:latest"
	umoci unpack --image "$IMAGES/oci:latest" "$IMAGES/bundle" >/dev/null
	cp -a "$r/." "$IMAGES/bundle/rootfs/"
	umoci repack --image "$IMAGES/oci:latest" "$IMAGES/bundle"
	umoci config --image "$IMAGES/oci:latest" --config.cmd /bin/sh \
		--config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.workingdir /
	umoci gc --layout "$IMAGES/oci"
	tar -C "$IMAGES/oci" -cf "$IMAGES/busybox-oci.tar" .
	rm -rf "$IMAGES/bundle" "$IMAGES/oci"
}

# --- what is left behind -------------------------------------------------------------------

# procs_of DIR: pids (not ours) whose cwd, root or command line names DIR: the client's
# daemons, shims, conmons and the containers' processes all do.
procs_of() {
	python3 - "$1/" $$ <<'PY'
import os, sys
d, me = sys.argv[1], {sys.argv[2], str(os.getpid()), str(os.getppid())}
for pid in filter(str.isdigit, os.listdir("/proc")):
    if pid in me:
        continue
    try:
        links = [os.readlink(f"/proc/{pid}/{l}") + "/" for l in ("root", "cwd")]
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    if any(l.startswith(d) for l in links) or d in cmd:
        print(pid)
PY
}

# mounts_of DIR: mount points under DIR, deepest first
mounts_of() {
	awk -v d="$1/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r
}

# cgroups_of NAME: existing /sys/fs/cgroup/<hierarchy>/NAME dirs (NAME: a top-level cgroup this
# test made, e.g. /keel-clients-docker-123), in every mounted v1 and v2 hierarchy
cgroups_of() {
	local mnt
	while read -r _ mnt fstype _; do
		case $fstype in cgroup | cgroup2) [ -d "$mnt$1" ] && echo "$mnt$1" ;; esac
	done </proc/self/mounts
}

# rm_cgroup NAME: rmdir (only) NAME and everything below it in every hierarchy, deepest first
rm_cgroup() {
	local d
	case $1 in /keel-clients-?* | /keelc[0-9]*) ;; *) echo "rm_cgroup: refusing $1" >&2; return 1 ;; esac
	for d in $(cgroups_of "$1"); do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
	[ -z "$(cgroups_of "$1")" ]
}

# After the client removed its containers and its daemon stopped, nothing of the test may
# remain. Each kind of leftover found is a FAIL, then cleaned up: our pids only (by pid), our
# mounts, our cgroups (rmdir only).

# check_procs_mounts: processes or mounts naming $WORK
check_procs_mounts() {
	local pids p mnts d
	pids=$(procs_of "$WORK" | tr '\n' ' ')
	if [ -n "$pids" ]; then
		fail_result "left behind: processes $(for p in $pids; do printf '%s(%s) ' "$p" "$(cat "/proc/$p/comm" 2>/dev/null)"; done)"
		for p in $pids; do kill -KILL "$p" 2>/dev/null; done
		sleep 0.5
	fi
	mnts=$(mounts_of "$WORK")
	if [ -n "$mnts" ]; then
		fail_result "left behind: mounts $(tr '\n' ' ' <<<"$mnts")"
		for d in $mnts; do umount -l "$d"; done
	fi
}

# snapshot DIR FILE / check_state_dir DIR [FILE]: entries of DIR (a runtime root, a socket dir)
# that were not in the snapshot FILE (or any entry, without FILE)
snapshot() { ls -A "$1" 2>/dev/null | sort >"$2"; }
check_state_dir() {
	local left
	if [ -n "${2:-}" ]; then
		left=$(ls -A "$1" 2>/dev/null | sort | comm -13 "$2" - | tr '\n' ' ')
	else
		left=$(ls -A "$1" 2>/dev/null | tr '\n' ' ')
	fi
	[ -z "$left" ] || fail_result "left behind: in $1: $left"
}

# check_cgroup NAME [KEEP...]: no cgroup below the test's top-level cgroup NAME but the KEEP
# subdirs (relative: the client's own, e.g. podman's `conmon`; the client may keep NAME itself,
# e.g. containerd's namespace cgroup); then rmdir it all
check_cgroup() {
	local name=$1 left d k
	shift
	left=$(for d in $(cgroups_of "$name"); do
		find "$d" -mindepth 1 -type d | while read -r c; do
			for k in "$@"; do [ "$c" = "$d/$k" ] && continue 2; done
			echo "$c"
		done
	done | tr '\n' ' ')
	[ -z "$left" ] || fail_result "left behind: cgroups $left"
	rm_cgroup "$name" || fail_result "cannot remove cgroup $name: $(cgroups_of "$name" | tr '\n' ' ')"
}

# summarize_argv: the shapes of the runtime calls the client made (values and ids stripped)
summarize_argv() {
	python3 - "$ARGVLOG" <<'PY'
import sys, shlex, collections
SUBS = {"create","start","run","exec","kill","delete","state","ps","pause","resume","update",
        "events","features","checkpoint","restore","list","spec"}
VALUED = {"--root","--log","--log-format","--bundle","-b","--pid-file","--console-socket","--process",
          "-p","--format","-f","--resources","-r","--cwd","--env","-e","--user","-u","--cgroup"}
shapes = collections.Counter()
for line in open(sys.argv[1]):
    if " argv: " not in line:
        continue
    argv = shlex.split(line.split(" argv: ", 1)[1])[1:]
    out, i, seen = [], 0, False
    while i < len(argv):
        a = argv[i]
        if not seen and a in SUBS:
            seen = True; out.append(f"[{a}]")
        elif a.startswith("-"):
            if "=" in a:
                k, v = a.split("=", 1); out.append(a if k == "--log-format" else k + "=X")
            elif a in VALUED and i + 1 < len(argv):
                out.append(a + " " + (argv[i+1] if a == "--log-format" else "X")); i += 1
            else:
                out.append(a)
        else:
            out.append("<id>" if seen and not out[-1].startswith("<") else "ARG")
        i += 1
    shapes[" ".join(out)] += 1
for s, n in sorted(shapes.items(), key=lambda x: x[0].split("[")[-1]):
    print(f"{n:4d}  {s}")
PY
}
