#!/usr/bin/env python3
"""Measure keel against runc and crun, in the same run, on busybox bundles.

For each runtime, N times (env BENCH_N, default 30) after 2 warm-up rounds, interleaved
across runtimes (the order rotates every round) so that drift hits every column alike:

  run        `RT --root R run --bundle B ID` of /bin/true
  lifecycle  create (true), start, `state` until "stopped", delete
  state      `state` of a running `sleep 1000` container
  exec       `exec ID /bin/true` into that same running `sleep 1000` container

Each runtime invocation is forked and reaped with wait4(2) by scripts/spawn.c (built here
with gcc; it says why not from Python): wall time is fork to reap; CPU time is user+sys of
the runtime process and of the children it waited for (for `run`, the container too); peak
RSS is ru_maxrss. lifecycle sums its invocations. The floor is
`unshare --fork --pid --mount --uts --ipc --net --mount-proc true`, measured like `run`.

Then, CONC_REPS times after one warm-up round (env BENCH_CONC_REPS, default 5), also rotating:

  concurrent CONC_TOTAL (100) `run`s of /bin/true, unique ids, each container its own
             cgroup, CONC_JOBS (8) at a time from a Python thread pool: wall time from the
             first fork to the last reap, and CPU time summed over the invocations. The floor
             is CONC_TOTAL of its command through the same pool, so it also holds what the
             pool itself costs (its own Python CPU is in bench.json as harness_cpu_ms).

And MEM_ROUNDS (N/3, at least 3) times after one warm-up round, rotating, for memory:

  cgroup mem create + start of `sleep 1000` with cgroupsPath /keel-bench/<id>; once the
             container's process is `sleep` (start may return before the exec), read the
             memory charged to that cgroup: memory.usage_in_bytes and
             memory.max_usage_in_bytes of the v1 memory controller (memory.current and
             memory.peak on v2); STATS_SETTLE_S later (every runtime's container of the
             round at once), the sum of memory.stat's counters (memory_breakdown says why);
             all in KiB; then kill, wait for "stopped", delete.

keel-ro is the same keel binary run through a read-only bind mount of it, where keel skips
its CVE-2019-5736 re-execution (as when installed on a read-only filesystem): the difference
between the keel and keel-ro columns is what that protection costs.

Prints a table of medians with keel/runc, keel/crun, keel/floor and keel-ro/floor ratios; writes it, with every
sample, to build/bench.json. Exits non-zero if keel (or any runtime present) fails.
Needs root. Every bundle's cgroupsPath is under /keel-bench/, made beforehand in every
hierarchy (make_cgroup_parent says why) and removed at the end.
Environment: BENCH_N, BENCH_CONC_REPS, KEEL (default target/<host triple>/release/keel), RUNC, CRUN
(default: on PATH).
"""

import concurrent.futures
import ctypes
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("BENCH_N", "30"))
WARMUP = 2
CONC_REPS = int(os.environ.get("BENCH_CONC_REPS", "5"))
CONC_TOTAL = 100
CONC_JOBS = 8
MEM_ROUNDS = max(3, N // 3)
STATS_SETTLE_S = 2.5  # the kernel flushes memory cgroup statistics every 2 s (memory_breakdown)
TIMEOUT_S = 30
CGROUP_PARENT = "/keel-bench"
RO_MOUNTS = []  # the read-only bind mounts of keel's binary (keel-ro), unmounted at the end
SPAWN = os.path.join(REPO, "build/bench/spawn")
FLOOR = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc", "true"]
PR_SET_CHILD_SUBREAPER = 36

libc = ctypes.CDLL(None, use_errno=True)
MEMORY_FILES = None  # set in main: memory_files()


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


def host_triple():
    """The rustc host triple: .cargo/config.toml builds keel under target/<triple>/."""
    out = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("host: "))


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


# Each bench_* runs one measured iteration and returns (wall s, cpu s, maxrss KiB), except
# bench_concurrent and bench_memory (see there).


def floor_once():
    code, out, wall, cpu, rss = spawn(FLOOR)
    if code != 0:
        raise Failed(f"floor `{' '.join(FLOOR)}` exited {code}:\n{out.strip()}")
    return wall, cpu, rss


def bench_run(rt):
    if rt.name == "floor":
        return floor_once()
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


def bench_exec(rt):
    _, wall, cpu, rss = call(rt, "exec", rt.sleeper, "/bin/true")
    return wall, cpu, rss


def bench_concurrent(rt):
    """CONC_TOTAL `run`s of /bin/true, CONC_JOBS at a time; returns (total wall s, summed cpu s).

    Runs threads: nothing may reap children meanwhile (reap_orphans would take the status
    of a spawn that subprocess.run is waiting for); measure reaps after it returns.
    """
    if rt.name == "floor":
        jobs = [None] * CONC_TOTAL
        one = lambda _: floor_once()  # noqa: E731
    else:
        # Ids made here, in the main thread: new_id is not thread-safe.
        jobs = [(rt.bundles["conc"][k], rt.new_id("conc")) for k in range(CONC_TOTAL)]
        one = lambda job: call(rt, "run", "--bundle", job[0], job[1])[1:]  # noqa: E731
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=CONC_JOBS) as pool:
        costs = list(pool.map(one, jobs))  # re-raises the first Failed, after all have ended
    wall = time.monotonic() - t0
    return wall, sum(cpu for _, cpu, _ in costs)


def memory_files():
    """(usage, peak) file names and the hierarchy holding the memory controller, or None."""
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, fstype, opts, *_ = line.split()
            if fstype == "cgroup" and "memory" in opts.split(","):
                return "memory.usage_in_bytes", "memory.max_usage_in_bytes", mnt
            mounts[mnt] = fstype
    if mounts.get("/sys/fs/cgroup") == "cgroup2":
        return "memory.current", "memory.peak", "/sys/fs/cgroup"
    return None


def bench_memory(rt):
    """create + start `sleep 1000` in cgroup /keel-bench/<id>; returns (id, cgroup directory,
    {usage_kib, peak_kib}) read right after start. memory_finish reads the rest and removes it.

    "Right after" is once the container's process runs `sleep` and has gone to sleep: `start`
    may return before its init has exec'd.
    """
    usage_file, peak_file, hierarchy = MEMORY_FILES
    cid = rt.new_id("mem")
    bundle = os.path.join(REPO, "build/bench", f"{rt.name}-mem")
    write_bundle(rt, bundle, "sleep", f"{CGROUP_PARENT}/{cid}")
    cgroup = os.path.join(hierarchy, CGROUP_PARENT.lstrip("/"), cid)
    call(rt, "create", "--bundle", bundle, cid)
    call(rt, "start", cid)
    out, _, _, _ = call(rt, "state", cid)
    pid = json.loads(out)["pid"]
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError as e:
            raise Failed(f"{rt.name}: container {cid}: its process {pid}: {e}") from None
        if cmdline == b"sleep\0" + b"1000\0" and state == "S":
            break
        if time.monotonic() > deadline:
            raise Failed(f"{rt.name}: container {cid}: process {pid} did not exec `sleep 1000` after start")
        time.sleep(0.0002)
    try:
        values = {"usage_kib": read_int(cgroup, usage_file) / 1024, "peak_kib": read_int(cgroup, peak_file) / 1024}
    except (OSError, ValueError) as e:
        raise Failed(f"{rt.name}: container {cid}: reading its memory cgroup {cgroup}: {e}") from None
    return cid, cgroup, values


def memory_finish(rt, started):
    """bench_memory's second half, once the kernel has flushed the cgroup's statistics
    (STATS_SETTLE_S later): memory_breakdown, then kill, wait for "stopped" and delete, which
    should remove the cgroup (what a runtime leaves, rmcgroups.sh removes at the end)."""
    cid, cgroup, values = started
    try:
        values.update(memory_breakdown(cgroup))
    except (OSError, ValueError, KeyError) as e:
        raise Failed(f"{rt.name}: container {cid}: reading its memory cgroup {cgroup}: {e}") from None
    call(rt, "kill", cid, "KILL")
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        reap_orphans()  # the killed init is our child (we are its subreaper): a zombie until reaped
        status, _, _, _ = status_of(rt, cid)
        if status == "stopped":
            break
        if status != "running" or time.monotonic() > deadline:
            raise Failed(f"{rt.name}: container {cid} after kill: status {status!r}, expected stopped")
        time.sleep(0.001)
    call(rt, "delete", cid)
    return values


def read_int(cgroup, name):
    with open(os.path.join(cgroup, name)) as f:
        return int(f.read())


def memory_breakdown(cgroup):
    """{anon_kib, file_kib, kernel_kib, stat_kib} of the cgroup, from its memory.stat.

    usage_in_bytes (and memory.current, and the peaks) also count the pages a CPU has
    reserved for the cgroup in batches of 64 (MEMCG_CHARGE_BATCH) and not used yet, so they
    read up to 256 KiB per CPU (4 KiB pages) above what is charged: a start-up that charges
    less than one batch reads as 256 KiB or more whatever it did. The sum of memory.stat's
    counters has no such batching, but those counters are only brought up to date when many
    updates are pending or by the kernel's periodic flush, every 2 s: read earlier, a small
    cgroup's can still say 0 (seen: keel's rss, one time in three). Hence STATS_SETTLE_S.
    v1: rss + cache, and memory.kmem.usage_in_bytes (a page counter, which usage_in_bytes
    includes); v2: anon + file + kernel.
    """
    with open(os.path.join(cgroup, "memory.stat")) as f:
        stat = dict((k, int(v)) for k, v in (line.split() for line in f))
    if "rss" in stat:
        parts = (stat["rss"], stat["cache"], read_int(cgroup, "memory.kmem.usage_in_bytes"))
    else:
        kernel = stat.get("kernel")  # since Linux 6.0; before, its parts
        if kernel is None:
            kernel = sum(stat.get(k, 0) for k in ("kernel_stack", "pagetables", "percpu", "sock", "vmalloc", "slab"))
        parts = (stat["anon"], stat["file"], kernel)
    kib = [v / 1024 for v in parts]
    return {"anon_kib": kib[0], "file_kib": kib[1], "kernel_kib": kib[2], "stat_kib": sum(kib)}


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
    keel = os.environ.get("KEEL") or os.path.join(REPO, "target", host_triple(), "release/keel")
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
        if name == "keel":
            # The same binary seen through a read-only bind mount: keel then skips its
            # CVE-2019-5736 re-execution (README, "Performance"), as it would when installed on
            # a read-only filesystem. Shows what that protection costs.
            ro = os.path.join(state_dir, "keel-ro.bin")
            open(ro, "w").close()
            subprocess.run(["mount", "--bind", os.path.realpath(path), ro], check=True)
            RO_MOUNTS.append(ro)
            subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
            root = os.path.join(state_dir, "keel-ro")
            os.mkdir(root, 0o700)
            found.append(Runtime("keel-ro", ro, root))
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
    # One bundle per concurrent container, so that each has its own cgroup, as it would in
    # use (on a shared one, a runtime's teardown would find the others still in it).
    rt.bundles["conc"] = []
    for k in range(CONC_TOTAL):
        bundle = os.path.join(REPO, "build/bench", f"{rt.name}-conc", str(k))
        write_bundle(rt, bundle, "true", f"{CGROUP_PARENT}/{rt.name}-conc-{k}")
        rt.bundles["conc"].append(bundle)


def make_cgroup_parent():
    """Make CGROUP_PARENT in every cgroup hierarchy before measuring, as /docker, /kubepods or
    machine.slice exist before any container in use. A runtime makes a missing parent itself,
    but runc and crun then leave it in place while keel removes one it made once it is empty:
    without this, keel alone would make and remove 10 cgroups more on every run here."""
    with open("/proc/self/mounts") as f:
        mounts = [l.split() for l in f]
    for _, mnt, fstype, opts, *_ in mounts:
        if fstype not in ("cgroup", "cgroup2"):
            continue
        top = mnt + CGROUP_PARENT
        os.makedirs(top, exist_ok=True)
        if fstype == "cgroup" and "cpuset" in opts.split(","):
            # A new v1 cpuset starts empty and refuses tasks (and children copy it).
            for name in ("cpuset.cpus", "cpuset.mems"):
                with open(os.path.join(mnt, name)) as src, open(os.path.join(top, name), "w") as dst:
                    dst.write(src.read())


def write_bundle(rt, bundle, kind, cgroups_path):
    """A bundle at `bundle` running what rt.bundles[kind] runs, on its rootfs (by absolute
    path), with another cgroupsPath. Only writes config.json: no mkbundle.sh per bundle."""
    base = rt.bundles[kind]
    with open(os.path.join(base, "config.json")) as f:
        spec = json.load(f)
    spec["root"]["path"] = os.path.join(base, spec["root"]["path"])
    spec["linux"]["cgroupsPath"] = cgroups_path
    os.makedirs(bundle, exist_ok=True)
    tmp = os.path.join(bundle, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(spec, f, indent=2)
    os.rename(tmp, os.path.join(bundle, "config.json"))


def fail(rt, err):
    rt.error = str(err)
    print(f"\n*** {rt.name} FAILED, left out from here on:\n{rt.error}\n", file=sys.stderr)


def invocation_metrics(fn):
    """fn returning (wall s, cpu s, maxrss KiB) as a function returning the metrics dict."""
    def metrics(rt):
        wall, cpu, rss = fn(rt)
        return {"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "maxrss_kib": rss}
    return metrics


def concurrent_metrics(rt):
    before = resource.getrusage(resource.RUSAGE_SELF)
    wall, cpu = bench_concurrent(rt)
    after = resource.getrusage(resource.RUSAGE_SELF)
    harness = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "harness_cpu_ms": harness * 1000}


def measure(name, fn, runtimes, results, rounds=None, warmup=WARMUP, finish=None, settle_s=0):
    """warmup + rounds (default N) rounds of fn over runtimes, rotating the order each round.

    fn(rt) returns {metric: value}; results[name][runtime] holds the median of each metric
    and every sample. With finish: fn(rt) returns what finish(rt, it) takes, and finish,
    called for each runtime settle_s after the round, returns the metrics.
    """
    rounds = N if rounds is None else rounds
    samples = {rt.name: {} for rt in runtimes}

    def attempt(rt, fn, *args):
        try:
            return fn(rt, *args)
        except Failed as e:
            fail(rt, f"{name}: {e}")
            return None
        finally:
            reap_orphans()

    for i in range(warmup + rounds):
        k = i % len(runtimes)
        done = {}
        for rt in runtimes[k:] + runtimes[:k]:
            if not rt.error:
                done[rt.name] = (rt, attempt(rt, fn))
        if finish is not None:
            time.sleep(settle_s)
            done = {n: (rt, attempt(rt, finish, v)) for n, (rt, v) in done.items() if not rt.error}
        for rt, values in done.values():
            if i >= warmup and not rt.error:
                for metric, v in values.items():
                    samples[rt.name].setdefault(metric, []).append(v)
        if sys.stderr.isatty():
            print(f"  {name}: {i + 1}/{warmup + rounds}  ", end="\r", file=sys.stderr, flush=True)
    results[name] = {
        rt.name: {
            **{m: statistics.median(v) for m, v in samples[rt.name].items()},
            "samples": samples[rt.name],
        }
        for rt in runtimes
        if not rt.error and samples[rt.name]
    }


def cleanup(runtimes, state_dir):
    """Delete every container we may have left, then our cgroups, mounts and state directories."""
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
    for ro in RO_MOUNTS:
        subprocess.run(["umount", ro])
    shutil.rmtree(state_dir, ignore_errors=True)


# The rows of the table, per metric that a bench reports, in this order.
LABELS = (
    ("wall_ms", "wall ms"),
    ("cpu_ms", "cpu ms"),
    ("maxrss_kib", "peak RSS KiB"),
    ("usage_kib", "usage KiB"),
    ("peak_kib", "peak KiB"),
    ("stat_kib", "stat KiB"),
)


def print_table(results, names, sizes):
    rows = []
    for bench, per_rt in results.items():
        for metric, label in LABELS:
            vals = {n: per_rt[n][metric] for n in names if n in per_rt and metric in per_rt[n]}
            if vals:
                rows.append((bench, label, vals))
    rows.append(("binary", "size KiB", {n: s / 1024 for n, s in sizes.items()}))

    def ratio(vals, other, rt="keel"):
        return vals[rt] / vals[other] if rt in vals and vals.get(other) else None

    def cell(v, width, digits):
        return f"{'-':>{width}}" if v is None else f"{v:>{width}.{digits}f}"

    head = (f"{'':10} {'':13}" + "".join(f"{n:>10}" for n in names)
            + f"{'keel/runc':>11}{'keel/crun':>11}{'keel/floor':>11}{'ro/floor':>10}")
    print(head)
    print("-" * len(head))
    for bench, label, vals in rows:
        cells = "".join(cell(vals.get(n), 10, 1) for n in names)
        print(f"{bench:10} {label:13}{cells}{cell(ratio(vals, 'runc'), 11, 2)}{cell(ratio(vals, 'crun'), 11, 2)}"
              f"{cell(ratio(vals, 'floor'), 11, 2)}{cell(ratio(vals, 'floor', 'keel-ro'), 10, 2)}")
    return {
        f"{bench} {label}": {
            "keel/runc": ratio(vals, "runc"),
            "keel/crun": ratio(vals, "crun"),
            "keel/floor": ratio(vals, "floor"),
            "keel-ro/floor": ratio(vals, "floor", "keel-ro"),
        }
        for bench, label, vals in rows
    }


def main():
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root")
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.exit(f"bench.py: prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
    global MEMORY_FILES
    MEMORY_FILES = memory_files()
    build_spawn()
    make_cgroup_parent()
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
        measure("run", invocation_metrics(bench_run), [rt for rt in live if not rt.error] + [floor], results)
        measure("lifecycle", invocation_metrics(bench_lifecycle), [rt for rt in live if not rt.error], results)
        measure("state", invocation_metrics(bench_state), [rt for rt in live if not rt.error], results)
        measure("exec", invocation_metrics(bench_exec), [rt for rt in live if not rt.error], results)
        measure("concurrent", concurrent_metrics, [rt for rt in live if not rt.error] + [floor], results,
                rounds=CONC_REPS, warmup=1)
        if MEMORY_FILES is None:
            print("\n*** no memory cgroup controller mounted: cgroup mem is skipped ***\n", file=sys.stderr)
        else:
            measure("cgroup mem", bench_memory, [rt for rt in live if not rt.error], results,
                    rounds=MEM_ROUNDS, warmup=1, finish=memory_finish, settle_s=STATS_SETTLE_S)
    finally:
        cleanup(runtimes, state_dir)

    # keel-ro's binary is keel's (and its mount is gone by now).
    sizes = {rt.name: os.path.getsize(rt.path) for rt in runtimes if rt.name != "keel-ro"}
    print(f"\nmedians of N={N} (after {WARMUP} warm-up rounds), interleaved; "
          f"cpu = user+sys incl. waited-for children\n"
          f"concurrent: {CONC_TOTAL} `run`s of /bin/true, {CONC_JOBS} at a time: total wall, summed cpu; "
          f"median of {CONC_REPS} (after 1 warm-up)\n"
          f"cgroup mem: memory charged to the container's cgroup once `sleep` runs: "
          f"{' and '.join(MEMORY_FILES[:2]) if MEMORY_FILES else '-'}; median of {MEM_ROUNDS} (after 1 warm-up);\n"
          f"            stat = rss+cache+kmem from memory.stat, {STATS_SETTLE_S} s later, without usage's "
          f"per-CPU batches of 64 pages\n")
    ratios = print_table(results, [rt.name for rt in runtimes] + ["floor"], sizes)
    for rt in runtimes:
        if rt.name == "keel-ro":
            print("  keel-ro: keel through a read-only bind mount of its binary: no CVE-2019-5736 re-execution"
                  + (" (FAILED)" if rt.error else ""))
            continue
        print("  " + " ".join(filter(None, (f"{rt.name}:", rt.path, version(rt.path), rt.error and "(FAILED)"))))
    print(f"  floor: {' '.join(FLOOR)}")
    if any(rt.mntns is not None for rt in runtimes):
        print("  crun ran in a mount namespace without /sys/fs/cgroup/unified (hybrid cgroups; see bench.py)")

    os.makedirs(os.path.join(REPO, "build"), exist_ok=True)
    report = {
        "n": N,
        "warmup": WARMUP,
        "concurrent": {"total": CONC_TOTAL, "jobs": CONC_JOBS, "reps": CONC_REPS, "warmup": 1},
        "cgroup_mem": {"rounds": MEM_ROUNDS, "warmup": 1, "stats_settle_s": STATS_SETTLE_S},
        "memory_files": MEMORY_FILES and {"usage": MEMORY_FILES[0], "peak": MEMORY_FILES[1], "hierarchy": MEMORY_FILES[2]},
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
