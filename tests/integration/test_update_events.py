"""update (limits of a live container, from flags or LinuxResources JSON as
containerd and Podman send it) and events (stats JSON lines, OOM events), as
runc 1.1 does them (runc update.go, events.go, types/events.go).

Both run on a v1 / hybrid host and on a pure cgroup v2 host
(scripts/guest/test.sh), reading the cgroup through tests/support/cgfiles.py:
on v2 update writes memory.max, memory.swap.max (swap - limit), memory.low,
pids.max, cpu.weight (from shares), cpu.max, checks memory.current, and
refuses the v1-only realtime fields by name."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import read_events
from tests.support import cgfiles
from tests.support.cgfiles import pure_v2
from tests.support.isolation import (
    describe,
    install_probe,
    pid_alive,
    poll_until,
    start_detached,
    stdio_log,
    v1_hierarchies,
)

MakeBundle = Callable[..., Path]
MIB = 1 << 20
# the container's process waits for this file (in its rootfs) before the real work
WAIT_GO = "while [ ! -e /go ]; do sleep 0.05; done; "

STATS_KEYS = {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}


@pytest.fixture(autouse=True)
def _needs_cgroups() -> None:
    h = v1_hierarchies()
    if ("memory" in h and "pids" in h) or pure_v2():
        return
    pytest.skip("needs v1 memory and pids hierarchies, or a pure cgroup v2 host")


def cg_int(ctrl: str, cgpath: str, name: str) -> int:
    """v1 name, either host; "max" reads as U64_MAX."""
    return cgfiles.cg_int(ctrl, cgpath, name)


def cpu_max(cgpath: str) -> tuple[str, str]:
    """(quota, period): v2 cpu.max, v1 cpu.cfs_quota_us ("-1": "max") and cpu.cfs_period_us."""
    if pure_v2():
        q, per = cg_file("cpu", cgpath, "cpu.max").read_text().split()
        return q, per
    q = cg_file("cpu", cgpath, "cpu.cfs_quota_us").read_text().strip()
    return ("max" if q == "-1" else q), cg_file("cpu", cgpath, "cpu.cfs_period_us").read_text().strip()


def has_memsw() -> bool:
    return cgfiles.has_memsw()


def bundle(make_bundle: MakeBundle, cgpath: str, args: list[str],
           resources: dict[str, Any] | None = None) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = cgpath
        c["root"]["readonly"] = False
        c["linux"]["resources"].update(resources or {})
    return make_bundle(args, mutate=mutate)


def cg_file(ctrl: str, cgpath: str, name: str) -> Path:
    return cgfiles.cg_file(ctrl, cgpath, name)


def go(b: Path) -> None:
    (b / "rootfs" / "go").write_text("")


def fails_with(p: Any, text: str) -> None:
    assert p.returncode == 1, describe(p)
    assert text in p.stderr, describe(p)


# ---------------------------------------------------------------- update

def test_update_memory_and_pids_flags(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sleep", "300"], {"memory": {"limit": 64 * MIB}})
    start_detached(rt, b, cid)
    p = rt("update", "--memory", "32m", "--pids-limit", "20", "--memory-reservation", "16M", cid)
    assert p.returncode == 0 and p.stdout == "", describe(p)
    # (v2: memory.max, memory.low)
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") == 32 * MIB
    assert cg_int("memory", cgpath, "memory.soft_limit_in_bytes") == 16 * MIB
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "20"
    # an update that does not name a limit leaves it as it is
    assert rt("update", "--pids-limit", "30", cid).returncode == 0
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") == 32 * MIB
    assert cg_int("memory", cgpath, "memory.soft_limit_in_bytes") == 16 * MIB
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "30"
    # -1: unlimited
    assert rt("update", "--pids-limit", "-1", "--memory", "-1", cid).returncode == 0
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "max"
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") > 1 << 50


@pytest.mark.skipif(not pure_v2() and not has_memsw(), reason="needs v1 swap accounting")
def test_update_memory_and_swap_both_ways(rt: Any, cid: str, cgpath: str,
                                          make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sleep", "300"],
               {"memory": {"limit": 64 * MIB, "swap": 64 * MIB}})
    start_detached(rt, b, cid)
    v2 = pure_v2()
    if v2 and not cg_file("memory", cgpath, "memory.swap.max").exists():
        pytest.skip("no swap accounting in this kernel (no memory.swap.max)")

    def limits() -> tuple[int, int]:
        """(memory, memory+swap): v2 keeps swap alone in memory.swap.max"""
        mem = cg_int("memory", cgpath, "memory.limit_in_bytes")
        if v2:
            return mem, mem + cg_int("memory", cgpath, "memory.swap.max")
        return mem, cg_int("memory", cgpath, "memory.memsw.limit_in_bytes")

    assert limits() == (64 * MIB, 64 * MIB)
    # v1: raising both needs memsw written first, lowering needs the limit first
    assert rt("update", "--memory", "128M", "--memory-swap", "256M", cid).returncode == 0
    assert limits() == (128 * MIB, 256 * MIB)
    assert rt("update", "--memory", "32M", "--memory-swap", "48M", cid).returncode == 0
    assert limits() == (32 * MIB, 48 * MIB)
    if v2:
        assert cg_int("memory", cgpath, "memory.swap.max") == 16 * MIB  # runc: swap - limit
    # the limit alone keeps memory+swap (v2: memory.swap.max follows, as runc's config does)
    assert rt("update", "--memory", "40M", cid).returncode == 0
    assert limits() == (40 * MIB, 48 * MIB)
    # swap alone: against the limit in force
    assert rt("update", "--memory-swap", "56M", cid).returncode == 0
    assert limits() == (40 * MIB, 56 * MIB)
    # memory+swap below memory is refused (v2: before any write; v1, runc too:
    # memsw is written first, then the kernel refuses the limit)
    p = rt("update", "--memory", "64M", "--memory-swap", "48M", cid)
    assert p.returncode == 1, describe(p)
    if v2:
        assert limits() == (40 * MIB, 56 * MIB)
    # unlimited memory, swap not named: unlimited swap too
    assert rt("update", "--memory", "-1", cid).returncode == 0
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") > 1 << 50
    swap_file = "memory.swap.max" if v2 else "memory.memsw.limit_in_bytes"
    assert cg_int("memory", cgpath, swap_file) > 1 << 50


def test_update_resources_stdin_pids_limit_is_hit(rt: Any, cid: str, cgpath: str,
                                                  make_bundle: MakeBundle, forkmany: Path) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", WAIT_GO + "exec /bin/forkmany 20"])
    install_probe(forkmany, b)
    init = start_detached(rt, b, cid)
    # what containerd's shim does: LinuxResources JSON on stdin
    res = {"pids": {"limit": 5}, "cpu": {"shares": 0}, "memory": {"limit": 0}}
    p = rt("update", "--resources=-", cid, input=json.dumps(res))
    assert p.returncode == 0, describe(p)
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "5"
    go(b)
    assert poll_until(lambda: not pid_alive(init), timeout=20)
    out = stdio_log(b, cid)
    fields = dict(f.partition("=")[::2] for f in out.split())
    assert int(fields["forked"]) <= 4 and int(fields["failed"]) >= 16, out


def test_update_resources_file_memory_limit_is_hit(rt: Any, cid: str, cgpath: str,
                                                   make_bundle: MakeBundle, memhog: Path,
                                                   tmp_path: Path) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", WAIT_GO + "/bin/memhog 64"],
               {"memory": {"limit": 512 * MIB}})
    install_probe(memhog, b)
    init = start_detached(rt, b, cid)
    # what Podman does: a file; and the flags are ignored when --resources is given
    mem: dict[str, Any] = {"limit": 32 * MIB}
    if has_memsw():
        mem["swap"] = 32 * MIB
    f = tmp_path / "res.json"
    f.write_text(json.dumps({"memory": mem}))
    p = rt("update", "--resources", str(f), "--pids-limit", "7", cid)
    assert p.returncode == 0, describe(p)
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") == 32 * MIB
    if pure_v2() and cg_file("memory", cgpath, "memory.swap.max").exists():
        assert cg_int("memory", cgpath, "memory.swap.max") == 0  # swap == limit: no swap
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "max"
    go(b)
    assert poll_until(lambda: not pid_alive(init), timeout=20)
    assert "survived" not in stdio_log(b, cid)
    assert cgfiles.oom_kills(cgpath) > 0


def test_update_errors(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    fails_with(rt("update", "--memory", "1m", cid), "container does not exist")
    init = start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"]), cid)
    fails_with(rt("update", "--memory", "1x", cid), "invalid value for memory: invalid size: '1x'")
    fails_with(rt("update", "--cpu-period", "abc", cid), "invalid value for cpu-period")
    fails_with(rt("update", "--l3-cache-schema", "L3:0=f", cid),
               "Intel RDT/CAT: l3 cache schema is not enabled")
    fails_with(rt("update", "--mem-bw-schema", "MB:0=70", cid),
               "Intel RDT/MBA: memory bandwidth schema is not enabled")
    p = rt("update", "--resources=-", cid, input="{bad")
    assert p.returncode == 1, describe(p)
    fails_with(rt("update", "--resources", "/nonexistent-pyrt.json", cid), "no such file or directory")
    assert rt("kill", cid, "KILL").returncode == 0
    assert poll_until(lambda: not pid_alive(init))
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped")
    fails_with(rt("update", "--pids-limit", "5", cid), "container not running")


def test_update_cpu_and_ignored_fields(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"]), cid)
    p = rt("update", "--cpu-share", "512", cid)
    assert p.returncode == 0, describe(p)
    # v2: cpu.weight = 1 + (shares - 2) * 9999 / 262142 (runc 1.1's conversion)
    want = "20" if pure_v2() else "512"
    assert cg_file("cpu", cgpath, "cpu.shares").read_text().strip() == want
    # ignored as runc ignores them: devices, hugepageLimits (update takes only its own fields)
    res = {"pids": {"limit": 9}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
           "devices": [{"allow": False, "access": "rwm"}]}
    p = rt("update", "-r", "-", cid, input=json.dumps(res))
    assert p.returncode == 0, describe(p)
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "9"
    if "pyruntime" in rt.name:
        # pyruntime's config snapshot in the state dir shows the new limits (runc keeps none)
        cfg = json.loads((rt.root / cid / "config.json").read_text())
        assert cfg["linux"]["resources"]["pids"]["limit"] == 9
        assert cfg["linux"]["resources"]["cpu"]["shares"] == 512


def test_update_cpu_quota_and_period(rt: Any, cid: str, cgpath: str,
                                     make_bundle: MakeBundle) -> None:
    """v1 cpu.cfs_quota_us / cpu.cfs_period_us, v2 cpu.max "quota period"; a
    field left out keeps its value (runc takes it from its config)."""
    start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"]), cid)
    p = rt("update", "--cpu-quota", "50000", "--cpu-period", "100000", cid)
    assert p.returncode == 0, describe(p)
    assert cpu_max(cgpath) == ("50000", "100000")
    assert rt("update", "--cpu-period", "200000", cid).returncode == 0
    assert cpu_max(cgpath) == ("50000", "200000")
    assert rt("update", "--cpu-quota", "30000", cid).returncode == 0
    assert cpu_max(cgpath) == ("30000", "200000")
    assert rt("update", "--cpu-quota", "-1", cid).returncode == 0
    assert cpu_max(cgpath) == ("max", "200000")


def test_update_check_before_update(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    """memory.checkBeforeUpdate: a new limit at or below the usage (v1
    memory.usage_in_bytes, v2 memory.current) is refused and the old limit
    kept; above it the update goes through."""
    b = bundle(make_bundle, cgpath,
               ["sh", "-c", "dd if=/dev/zero of=/big bs=1M count=24 conv=fsync 2>/dev/null; "
                "echo ready; sleep 300"], {"memory": {"limit": 64 * MIB}})
    start_detached(rt, b, cid)
    assert poll_until(lambda: "ready" in stdio_log(b, cid), timeout=30), stdio_log(b, cid)
    usage = cg_int("memory", cgpath, "memory.usage_in_bytes")
    assert usage >= 16 * MIB, f"usage {usage}: the page cache was not charged to the container"
    res = {"memory": {"limit": 8 * MIB, "checkBeforeUpdate": True}}
    p = rt("update", "--resources", "-", cid, input=json.dumps(res))
    if rt.name == "runc" and not pure_v2() and p.returncode == 0:
        pytest.xfail("runc 1.1 checks memory.checkBeforeUpdate on cgroup v2 only")
    assert p.returncode == 1 and "memory.limit" in p.stderr, describe(p)
    if "pyruntime" in rt.name:
        assert ("memory.current" if pure_v2() else "memory.usage_in_bytes") in p.stderr, describe(p)
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") == 64 * MIB, "the old limit was not kept"
    res = {"memory": {"limit": 48 * MIB, "checkBeforeUpdate": True}}
    p = rt("update", "--resources", "-", cid, input=json.dumps(res))
    assert p.returncode == 0, describe(p)
    assert cg_int("memory", cgpath, "memory.limit_in_bytes") == 48 * MIB


@pytest.mark.skipif(not pure_v2(), reason="cgroup v2 only (v1 has cpu.rt_* files)")
def test_update_v1_only_fields_refused_on_v2(rt: Any, cid: str, cgpath: str,
                                             make_bundle: MakeBundle) -> None:
    start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"], {"pids": {"limit": 50}}), cid)
    for flag, field in (("--cpu-rt-runtime", "realtimeRuntime"), ("--cpu-rt-period", "realtimePeriod")):
        p = rt("update", flag, "1000", "--pids-limit", "7", cid)
        assert p.returncode == 1, describe(p)
        if "pyruntime" in rt.name:
            assert f"linux.resources.cpu.{field}" in p.stderr, describe(p)
        else:
            assert "realtime" in p.stderr.lower() or "rt" in p.stderr, describe(p)
        # refused before anything was written
        assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "50"


# ---------------------------------------------------------------- events

def test_events_stats(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", "sleep 300 & wait"],
               {"memory": {"limit": 64 * MIB}, "pids": {"limit": 50}})
    start_detached(rt, b, cid)
    assert poll_until(lambda: len(cg_file("pids", cgpath, "cgroup.procs").read_text().split()) >= 2)
    p = rt("events", "--stats", cid, timeout=10)
    assert p.returncode == 0, describe(p)
    lines = p.stdout.splitlines()
    assert len(lines) == 1 and p.stdout.endswith("\n"), p.stdout
    ev = json.loads(lines[0])
    assert list(ev) == ["type", "id", "data"] and ev["type"] == "stats" and ev["id"] == cid
    data = ev["data"]
    assert set(data) == STATS_KEYS, sorted(data)
    assert data["pids"] == {"current": 2, "limit": 50}
    assert data["memory"]["usage"]["limit"] == 64 * MIB
    assert data["memory"]["usage"]["usage"] > 0
    assert set(data["memory"]) >= {"usage", "swap", "kernel", "kernelTCP", "raw"}
    assert ("anon" if pure_v2() else "total_rss") in data["memory"]["raw"]
    assert set(data["cpu"]) == {"usage", "throttling"}
    assert data["cpu"]["usage"]["total"] > 0 and {"kernel", "user"} <= set(data["cpu"]["usage"])
    assert isinstance(data["hugetlb"], dict) and data["network_interfaces"] is None


def test_events_errors(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    fails_with(rt("events", "--stats", cid), "container does not exist")
    init = start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"]), cid)
    p = rt("events", "--interval", "5", cid)
    assert p.returncode != 0 and "interval" in p.stderr, describe(p)
    fails_with(rt("events", "--interval", "0s", cid), "duration interval must be greater than 0")
    assert rt("kill", cid, "KILL").returncode == 0
    assert poll_until(lambda: not pid_alive(init))
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped")
    fails_with(rt("events", "--stats", cid), f"container with id {cid} is not running")


def test_events_interval_and_oom(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                 memhog: Path) -> None:
    mem: dict[str, Any] = {"limit": 32 * MIB}
    if has_memsw():
        mem["swap"] = 32 * MIB
    b = bundle(make_bundle, cgpath, ["sh", "-c", WAIT_GO + "/bin/memhog 64; sleep 300"],
               {"memory": mem})
    install_probe(memhog, b)
    start_detached(rt, b, cid)
    proc = subprocess.Popen(rt.cmd("events", "--interval=300ms", cid), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        got = read_events(proc, lambda g: sum(e["type"] == "stats" for e in g) >= 2, 10)
        assert [e["type"] for e in got] == ["stats", "stats"], got
        assert all(e["id"] == cid and set(e["data"]) == STATS_KEYS for e in got)
        go(b)
        got = read_events(proc, lambda g: any(e["type"] == "oom" for e in g), 20)
        ooms = [e for e in got if e["type"] == "oom"]
        assert ooms == [{"type": "oom", "id": cid}], got
        # the stream ends once the container is gone
        assert rt("delete", "--force", cid).returncode == 0
        proc.wait(timeout=10)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_events_end_when_container_stops(rt: Any, cid: str, cgpath: str,
                                         make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", WAIT_GO + "exit 0"])
    init = start_detached(rt, b, cid)
    proc = subprocess.Popen(rt.cmd("events", "--interval=200ms", cid), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        read_events(proc, lambda g: len(g) >= 1, 10)
        go(b)
        assert poll_until(lambda: not pid_alive(init))
        if rt.name == "runc":
            # runc 1.1 goes on until the cgroup is removed, i.e. until delete
            assert rt("delete", cid).returncode == 0
        proc.wait(timeout=10)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
