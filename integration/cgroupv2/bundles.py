#!/usr/bin/env python3
"""bundles.py OUT DEFAULT_SPEC: write the config.json of every bundle checks.sh uses into
OUT/<name>/config.json. Each is runc's default spec (src/spec/default.json) plus a patch:
no terminal, the shared read-only rootfs /bundles/rootfs, cgroupsPath /keel-it/<name>.
Bundles named *-runc are the same config for runc, in their own cgroup."""

import copy
import json
import os
import sys

out, default_spec = sys.argv[1], sys.argv[2]
with open(default_spec) as f:
    BASE = json.load(f)
BASE["process"]["terminal"] = False
BASE["root"] = {"path": "/bundles/rootfs", "readonly": True}

# dockerd's exact `update --resources -` stdin for `docker update --memory 64m --memory-swap 128m`.
DOCKERD_UPDATE = (
    '{"memory":{"limit":67108864,"reservation":0,"swap":134217728,"kernel":0},'
    '"cpu":{"shares":0,"quota":0,"period":0},"blockIO":{"weight":0}}'
)

RESOURCES = {
    "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
    "cpu": {"shares": 512, "quota": 50000, "period": 200000, "burst": 20000,
            "cpus": "0", "mems": "0"},
    "pids": {"limit": 42},
    "blockIO": {"weight": 300,
                "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 200}]},
    "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
    "unified": {"memory.high": "52428800"},
}

# The files the probe reads inside the container (/sys/fs/cgroup is the container's cgroup).
RES_FILES = ["memory.max", "memory.low", "memory.swap.max", "memory.high", "cpu.weight",
             "cpu.max", "cpu.max.burst", "cpuset.cpus", "cpuset.mems", "pids.max", "io.max",
             "io.weight", "hugetlb.2MB.max"]

LOCAL0 = {"path": "/dev/local0", "type": "c", "major": 240, "minor": 0, "fileMode": 0o666}
COUNTER = ["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i >> /out/count; done"]


def bundle(name, args, resources=None, devices=None, mounts=None, runc=False):
    for n in [name] + ([name + "-runc"] if runc else []):
        c = copy.deepcopy(BASE)
        c["process"]["args"] = args
        c["linux"]["cgroupsPath"] = "/keel-it/" + n
        c["linux"]["resources"].update(copy.deepcopy(resources or {}))
        c["linux"].setdefault("devices", []).extend(devices or [])
        c["mounts"].extend(mounts or [])
        os.makedirs(os.path.join(out, n), exist_ok=True)
        with open(os.path.join(out, n, "config.json"), "w") as f:
            json.dump(c, f, indent=1)


bundle("res", ["/probe", "read"] + ["/sys/fs/cgroup/" + f for f in RES_FILES],
       RESOURCES, runc=True)
bundle("idle", ["/probe", "read", "/sys/fs/cgroup/cpu.idle"], {"cpu": {"idle": 1}})
allow_read = {"devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 240, "minor": 0, "access": "r"}]}
bundle("dev", ["/probe", "check", "/dev/local0", "/dev/null"], allow_read,
       devices=[LOCAL0], runc=True)
bundle("dev-deny", ["/probe", "check", "/dev/local0"], devices=[LOCAL0], runc=True)
out_mount = [{"destination": "/out", "type": "bind", "source": "/tmp/counter",
              "options": ["rbind", "rw"]}]
bundle("counter", COUNTER, mounts=out_mount)
bundle("paused-kill", COUNTER, mounts=out_mount)
bundle("upd", ["/probe", "sleep", "60"], {"memory": {"limit": 33554432}}, runc=True)
bundle("oom", ["/bin/sh", "-c", "tail /dev/zero; echo survived"],
       {"memory": {"limit": 33554432, "swap": 33554432}})
bundle("pids", ["/bin/sh", "-c", "for i in 1 2 3 4 5 6; do sleep 5 & done; echo looped"],
       {"pids": {"limit": 4}}, runc=True)
bundle("killall", ["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"], runc=True)
bundle("stats", ["/probe", "sleep", "60"], {"memory": {"limit": 67108864}, "pids": {"limit": 50}})
bundle("bad-quota", ["/probe"], {"cpu": {"quota": -5}})
bundle("bad-unified", ["/probe"], {"unified": {"memory.bogus": "1"}})
bundle("bad-unified-ctrl", ["/probe"], {"unified": {"bogus.key": "1"}})
bundle("bad-cpus", ["/probe"], {"cpu": {"cpus": "0-63"}})
bundle("bad-dev", ["/probe"], {"devices": [{"allow": True, "type": "c", "major": 1,
                                             "access": "rwx"}]})
bundle("bad-rt", ["/probe"], {"cpu": {"realtimeRuntime": 1000}})
bundle("bad-net", ["/probe"], {"network": {"classID": 1048577}})

with open(os.path.join(out, "dockerd-update.json"), "w") as f:
    f.write(DOCKERD_UPDATE)
