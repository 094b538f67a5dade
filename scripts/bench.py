#!/usr/bin/env python3
"""Measure keel against runc and crun, in the same run, on busybox bundles.

For each runtime, N times (env BENCH_N, default 30) after 2 warm-up rounds, interleaved
across runtimes (the order rotates every round) so that drift hits every column alike:

  run        `RT --root R run --bundle B ID` of /bin/true
  lifecycle  create (true), start, `state` until "stopped", delete
  state      `state` of a running `sleep 1000` container

Each runtime invocation is forked and reaped with wait4(2) by scripts/spawn.c (built here
with gcc; it says why not from Python): wall time is fork to reap; CPU time is user+sys of
the runtime process and of the children it waited for (for `run`, the container too); peak
RSS is ru_maxrss. lifecycle sums its invocations. The floor is
`unshare --fork --pid --mount --uts --ipc --net --mount-proc true`, measured like `run`.

Prints a table of medians with keel/runc and keel/crun ratios; writes it, with every
sample, to build/bench.json. Exits non-zero if keel (or any runtime present) fails.
Needs root. Every bundle's cgroupsPath is under /keel-bench/, removed at the end.
Environment: BENCH_N, KEEL (default target/release/keel), RUNC, CRUN (default: on PATH).
"""

import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("BENCH_N", "30"))
WARMUP = 2
TIMEOUT_S = 30
CGROUP_PARENT = "/keel-bench"
SPAWN = os.path.join(REPO, "build/bench/spawn")
FLOOR = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc", "true"]
PR_SET_CHILD_SUBREAPER = 36

libc = ctypes.CDLL(None, use_errno=True)


class Failed(Exception):
    """One runtime invocation did not do what it should; the message says which and why."""


class Runtime:
    def __init__(self, name, path, root, mntns=None):
        self.name = name
        self.path = path
        self.root = root  # --root state directory, ours alone
        self.mntns = mntns  # fd of the mount namespace to run in (crun, see crun_mount_namespace)
        self.error = None  # set on the first failure; the runtime is then left out
        self.ids = []  # every container id handed to it, for the cleanup
        self.sleeper = None  # id of the running `sleep 1000` container
        self.bundles = {}

    def argv(self, *args):
        return [self.path, "--root", self.root, *args]

    def new_id(self, kind):
        cid = f"kb-{os.getpid()}-{self.name}-{kind}-{len(self.ids)}"
        self.ids.append(cid)
        return cid


def spawn(argv, mntns=None):
    """Run argv under scripts/spawn.c (stdin /dev/null, stdout+stderr to a temp file).

    Returns (exit code, output, wall s, cpu s, maxrss KiB). spawn.c kills it after TIMEOUT_S.
    """
    with tempfile.TemporaryFile() as log, tempfile.TemporaryFile() as res:
        fds = (res.fileno(),) if mntns is None else (res.fileno(), mntns)
        subprocess.run(
            [SPAWN, str(res.fileno()), str(TIMEOUT_S), "-" if mntns is None else str(mntns), *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=fds, check=False,
        )
        log.seek(0)
        out = log.read().decode(errors="replace")
        res.seek(0)
        result = res.read().decode().split()
    if result == ["timeout"]:
        raise Failed(f"`{' '.join(argv)}` timed out after {TIMEOUT_S} s; output:\n{out}")
    if len(result) != 5:
        raise Failed(f"spawn `{' '.join(argv)}` failed:\n{out}")
    code, wall_ns, user_us, sys_us, maxrss = map(int, result)
    return code, out, wall_ns / 1e9, (user_us + sys_us) / 1e6, maxrss


def build_spawn():
    src = os.path.join(REPO, "scripts/spawn.c")
    if os.path.exists(SPAWN) and os.path.getmtime(SPAWN) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(SPAWN), exist_ok=True)
    try:
        subprocess.run(["gcc", "-O2", "-Wall", "-static", "-o", SPAWN, src], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"bench.py: building {src}: {e} (needs gcc and libc6-dev)")


def reap_orphans():
    """Reap container processes reparented to us (we are a subreaper, as a shim would be).

    Only called between invocations, when no runtime process of ours is running.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def call(rt, *args):
    """Run one runtime command that must succeed; returns (output, wall, cpu, maxrss)."""
    code, out, wall, cpu, rss = spawn(rt.argv(*args), rt.mntns)
    if code != 0:
        raise Failed(f"`{rt.name} {' '.join(args)}` exited {code}:\n{out.strip()}")
    return out, wall, cpu, rss


def status_of(rt, cid):
    out, wall, cpu, rss = call(rt, "state", cid)
    try:
        status = json.loads(out)["status"]
    except (ValueError, KeyError, TypeError):
        raise Failed(f"`{rt.name} state {cid}` printed no JSON with a status:\n{out.strip()!r}") from None
    return status, wall, cpu, rss


# Each bench_* runs one measured iteration and returns (wall s, cpu s, maxrss KiB).


def bench_run(rt):
    if rt.name == "floor":
        code, out, wall, cpu, rss = spawn(FLOOR)
        if code != 0:
            raise Failed(f"floor `{' '.join(FLOOR)}` exited {code}:\n{out.strip()}")
        return wall, cpu, rss
    _, wall, cpu, rss = call(rt, "run", "--bundle", rt.bundles["true"], rt.new_id("run"))
    return wall, cpu, rss


def bench_lifecycle(rt):
    cid = rt.new_id("life")
    wall = cpu = rss = 0
    for args in (("create", "--bundle", rt.bundles["true"], cid), ("start", cid)):
        _, w, c, r = call(rt, *args)
        wall, cpu, rss = wall + w, cpu + c, max(rss, r)
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        status, w, c, r = status_of(rt, cid)
        wall, cpu, rss = wall + w, cpu + c, max(rss, r)
        if status == "stopped":
            break
        if status != "running" or time.monotonic() > deadline:
            raise Failed(f"{rt.name}: container {cid} after start: status {status!r}, expected running then stopped")
    _, w, c, r = call(rt, "delete", cid)
    return wall + w, cpu + c, max(rss, r)


def bench_state(rt):
    status, wall, cpu, rss = status_of(rt, rt.sleeper)
    if status != "running":
        raise Failed(f"{rt.name}: sleeping container {rt.sleeper}: status {status!r}, expected running")
    return wall, cpu, rss


def preflight(rt):
    """Check that the runtime really runs a container (a stub that exits 0 would not)."""
    out, _, _, _ = call(rt, "run", "--bundle", rt.bundles["hello"], rt.new_id("hello"))
    if "keel-bench-ok keel-demo" not in out:
        raise Failed(
            f"`{rt.name} run` exited 0 but the container did not print "
            f"'keel-bench-ok keel-demo' (its output: {out.strip()!r})"
        )


def start_sleeper(rt):
    rt.sleeper = rt.new_id("sleep")
    call(rt, "create", "--bundle", rt.bundles["sleep"], rt.sleeper)
    call(rt, "start", rt.sleeper)


def crun_mount_namespace():
    """A mount namespace for crun, or None if crun needs none.

    crun 1.8.1 refuses a hybrid layout (v1 controllers + cgroup2 at /sys/fs/cgroup/unified):
    "cgroups in hybrid mode not supported". Without the cgroup2 mount it sees plain v1 and
    works. So: a helper `unshare -m --propagation private` lazily unmounts the cgroup2 mount
    in its private namespace; we keep an fd to that namespace, end the helper, and spawn.c
    setns(2)es every crun invocation into it between fork and exec. keel and runc stay in
    our own namespace, on the real layout. The cost to crun is one setns in the forked child
    (microseconds), not an unshare + sh per call that would have to be measured and
    subtracted. The difference that remains: crun makes no cgroup in the v2 hierarchy,
    which runc (and keel) do on this layout.
    """
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype, *_ = line.split()
            mounts[mnt] = fstype
    if mounts.get("/sys/fs/cgroup") == "cgroup2" or mounts.get("/sys/fs/cgroup/unified") != "cgroup2":
        return None  # pure v2 or pure v1: crun needs no help
    helper = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         "umount -l /sys/fs/cgroup/unified && echo ready && exec sleep 600"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )
    try:
        if helper.stdout.readline() != b"ready\n":
            raise Failed("could not prepare crun's mount namespace (unshare/umount failed)")
        return os.open(f"/proc/{helper.pid}/ns/mnt", os.O_RDONLY)
    finally:
        helper.kill()  # the namespace lives on through our fd
        helper.wait()


def version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0] if out else ""


def find_runtimes(state_dir):
    """The runtimes to measure. A missing runc or crun is skipped loudly; a missing keel fails."""
    found, missing = [], []
    keel = os.environ.get("KEEL", os.path.join(REPO, "target/release/keel"))
    for name, path in (
        ("keel", keel if os.access(keel, os.X_OK) else None),
        ("runc", shutil.which(os.environ.get("RUNC", "runc"))),
        ("crun", shutil.which(os.environ.get("CRUN", "crun"))),
    ):
        if path is None:
            print(f"\n*** {name} NOT FOUND: its column is skipped ***\n", file=sys.stderr)
            missing.append(name)
            continue
        root = os.path.join(state_dir, name)
        os.mkdir(root, 0o700)
        found.append(Runtime(name, os.path.realpath(path), root))
    return found, missing


def make_bundles(rt):
    for kind, args in (
        ("true", ["true"]),
        ("sleep", ["sleep", "1000"]),
        ("hello", ["sh", "-c", "echo keel-bench-ok $(hostname)"]),
    ):
        bundle = os.path.join(REPO, "build/bench", f"{rt.name}-{kind}")
        env = dict(os.environ, CGROUPS_PATH=f"{CGROUP_PARENT}/{rt.name}-{kind}")
        subprocess.run([os.path.join(REPO, "scripts/mkbundle.sh"), bundle, *args], env=env, check=True)
        rt.bundles[kind] = bundle


def fail(rt, err):
    rt.error = str(err)
    print(f"\n*** {rt.name} FAILED, left out from here on:\n{rt.error}\n", file=sys.stderr)


def measure(name, fn, runtimes, results):
    """WARMUP + N rounds of fn over runtimes, rotating the order each round."""
    samples = {rt.name: {"wall_ms": [], "cpu_ms": [], "maxrss_kib": []} for rt in runtimes}
    for i in range(WARMUP + N):
        k = i % len(runtimes)
        for rt in runtimes[k:] + runtimes[:k]:
            if rt.error:
                continue
            try:
                wall, cpu, rss = fn(rt)
            except Failed as e:
                fail(rt, f"{name}: {e}")
                continue
            finally:
                reap_orphans()
            if i >= WARMUP:
                samples[rt.name]["wall_ms"].append(wall * 1000)
                samples[rt.name]["cpu_ms"].append(cpu * 1000)
                samples[rt.name]["maxrss_kib"].append(rss)
        if sys.stderr.isatty():
            print(f"  {name}: {i + 1}/{WARMUP + N}", end="\r", file=sys.stderr, flush=True)
    results[name] = {
        rt.name: {
            **{m: statistics.median(v) for m, v in samples[rt.name].items()},
            "samples": samples[rt.name],
        }
        for rt in runtimes
        if not rt.error and samples[rt.name]["wall_ms"]
    }


def cleanup(runtimes, state_dir):
    """Delete every container we may have left, then our cgroups and state directories."""
    def attempt(rt, *args):
        try:
            spawn(rt.argv(*args), rt.mntns)
        except Failed as e:
            print(f"cleanup: {e}", file=sys.stderr)

    for rt in runtimes:
        if rt.sleeper:
            attempt(rt, "kill", rt.sleeper, "KILL")
        for cid in rt.ids:
            if os.path.exists(os.path.join(rt.root, cid)):
                attempt(rt, "delete", "--force", cid)
        reap_orphans()
        left = os.listdir(rt.root) if os.path.isdir(rt.root) else []
        if left:
            print(f"*** cleanup: {rt.name} still has state for {left} in {rt.root}", file=sys.stderr)
    subprocess.run([os.path.join(REPO, "scripts/rmcgroups.sh"), CGROUP_PARENT])
    shutil.rmtree(state_dir, ignore_errors=True)


def print_table(results, names, sizes):
    rows = []
    for bench, per_rt in results.items():
        for metric, label in (("wall_ms", "wall ms"), ("cpu_ms", "cpu ms"), ("maxrss_kib", "peak RSS KiB")):
            vals = {n: per_rt[n][metric] for n in names if n in per_rt}
            rows.append((bench, label, vals))
    rows.append(("binary", "size KiB", {n: s / 1024 for n, s in sizes.items()}))

    def ratio(vals, other):
        return vals["keel"] / vals[other] if "keel" in vals and vals.get(other) else None

    def cell(v, width, digits):
        return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"

    head = f"{'':10} {'':13}" + "".join(f"{n:>10}" for n in names) + f"{'keel/runc':>11}{'keel/crun':>11}"
    print(head)
    print("-" * len(head))
    for bench, label, vals in rows:
        cells = "".join(cell(vals.get(n), 10, 1) for n in names)
        print(f"{bench:10} {label:13}{cells}{cell(ratio(vals, 'runc'), 11, 2)}{cell(ratio(vals, 'crun'), 11, 2)}")
    return {
        f"{bench} {label}": {"keel/runc": ratio(vals, "runc"), "keel/crun": ratio(vals, "crun")}
        for bench, label, vals in rows
    }


def main():
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root")
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"bench.py: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    build_spawn()
    state_dir = tempfile.mkdtemp(prefix="keel-bench-", dir="/run")
    runtimes, missing = find_runtimes(state_dir)
    results = {}
    try:
        for rt in runtimes:
            make_bundles(rt)
            try:
                if rt.name == "crun":
                    rt.mntns = crun_mount_namespace()
                preflight(rt)
            except Failed as e:
                fail(rt, f"preflight: {e}")
            reap_orphans()
        live = [rt for rt in runtimes if not rt.error]
        for rt in live:
            try:
                start_sleeper(rt)
            except Failed as e:
                fail(rt, f"state: starting the sleeping container: {e}")
        floor = Runtime("floor", shutil.which("unshare"), None)
        measure("run", bench_run, [rt for rt in live if not rt.error] + [floor], results)
        measure("lifecycle", bench_lifecycle, [rt for rt in live if not rt.error], results)
        measure("state", bench_state, [rt for rt in live if not rt.error], results)
    finally:
        cleanup(runtimes, state_dir)

    sizes = {rt.name: os.path.getsize(rt.path) for rt in runtimes}
    print(f"\nmedians of N={N} (after {WARMUP} warm-up rounds), interleaved; "
          f"cpu = user+sys incl. waited-for children\n")
    ratios = print_table(results, [rt.name for rt in runtimes] + ["floor"], sizes)
    for rt in runtimes:
        print("  " + " ".join(filter(None, (f"{rt.name}:", rt.path, version(rt.path), rt.error and "(FAILED)"))))
    print(f"  floor: {' '.join(FLOOR)}")
    if any(rt.mntns is not None for rt in runtimes):
        print("  crun ran in a mount namespace without /sys/fs/cgroup/unified (hybrid cgroups; see bench.py)")

    os.makedirs(os.path.join(REPO, "build"), exist_ok=True)
    report = {
        "n": N,
        "warmup": WARMUP,
        "floor": FLOOR,
        "runtimes": {
            rt.name: {"path": rt.path, "version": version(rt.path), "size_bytes": sizes.get(rt.name), "error": rt.error}
            for rt in runtimes
        },
        "missing": missing,
        "results": results,
        "ratios": ratios,
    }
    with open(os.path.join(REPO, "build/bench.json"), "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {os.path.join(REPO, 'build/bench.json')}")

    failed = [rt for rt in runtimes if rt.error]
    for rt in failed:
        print(f"\n*** {rt.name} FAILED:\n{rt.error}", file=sys.stderr)
    if failed or "keel" in missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
