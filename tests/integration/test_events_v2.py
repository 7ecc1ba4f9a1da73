"""`events` on a pure cgroup v2 host (runc fs2's stats in runc's v1-shaped
JSON; OOM events from memory.events' oom_kill), and `--systemd-cgroup`'s
clear error where systemd does not run (either host).

This machine is hybrid: the v2 tests run in the qemu guest lane
(`bash scripts/guest/test.sh`) and skip here."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import read_events
from tests.support.cgfiles import V2_ROOT, oom_kills, pure_v2
from tests.support.isolation import describe, install_probe, poll_until, start_detached

MakeBundle = Callable[..., Path]
MIB = 1 << 20
WAIT_GO = "while [ ! -e /go ]; do sleep 0.05; done; "


@pytest.fixture
def cgpath(cgpath: str) -> str:
    """The integration conftest's cgpath, on a pure cgroup v2 host only."""
    if not pure_v2():
        pytest.skip("needs a pure cgroup v2 host: run bash scripts/guest/test.sh")
    return cgpath


def bundle(make_bundle: MakeBundle, cgpath: str, args: list[str],
           resources: dict[str, Any] | None = None) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = cgpath
        c["root"]["readonly"] = False
        c["linux"]["resources"].update(resources or {})
    return make_bundle(args, mutate=mutate)


def test_events_stats_from_v2_files(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", "sleep 300 & i=0; while [ $i -lt 200 ]; do "
                                     "i=$((i+1)); done; wait"],
               {"memory": {"limit": 64 * MIB}, "pids": {"limit": 50}})
    start_detached(rt, b, cid)
    d = V2_ROOT / cgpath.lstrip("/")
    assert poll_until(lambda: len((d / "cgroup.procs").read_text().split()) >= 2)
    p = rt("events", "--stats", cid, timeout=30)
    assert p.returncode == 0, describe(p)
    ev = json.loads(p.stdout)
    assert list(ev) == ["type", "id", "data"] and ev["type"] == "stats"
    data = ev["data"]
    assert list(data) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                          "network_interfaces"]
    cpu_stat = dict(ln.split() for ln in (d / "cpu.stat").read_text().splitlines())
    usage = data["cpu"]["usage"]
    assert 0 < usage["total"] <= int(cpu_stat["usage_usec"]) * 1000  # usec -> ns
    assert usage["total"] % 1000 == 0 and {"kernel", "user"} <= set(usage)
    assert "percpu" not in usage  # v2 has no per-cpu figures
    assert data["pids"] == {"current": 2, "limit": 50}
    mem = data["memory"]
    assert mem["usage"]["limit"] == 64 * MIB and mem["usage"]["usage"] > 0
    assert mem["usage"]["failcnt"] == 0
    assert mem["swap"]["usage"] >= mem["usage"]["usage"]  # memory+swap, as v1 reports it
    assert mem["kernel"] == {"limit": 0, "failcnt": 0}
    assert "anon" in mem["raw"] and "file" in mem["raw"]
    assert set(data["blkio"]) <= {"ioServiceBytesRecursive", "ioServicedRecursive"}
    for size, h in data["hugetlb"].items():
        assert size.endswith("B") and "failcnt" in h
    assert data["intel_rdt"] == {} and data["network_interfaces"] is None


def test_events_oom_from_memory_events(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                       memhog: Path) -> None:
    # memory+swap == limit: no swap (memory.swap.max 0), so memhog is OOM-killed
    b = bundle(make_bundle, cgpath, ["sh", "-c", WAIT_GO + "/bin/memhog 64; sleep 300"],
               {"memory": {"limit": 32 * MIB, "swap": 32 * MIB}})
    install_probe(memhog, b)
    start_detached(rt, b, cid)
    proc = subprocess.Popen(rt.cmd("events", "--interval=1s", cid), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        got = read_events(proc, lambda g: len(g) >= 1, 30)
        assert [e["type"] for e in got] == ["stats"], got
        (b / "rootfs" / "go").write_text("")
        got = read_events(proc, lambda g: any(e["type"] == "oom" for e in g), 60)
        assert [e for e in got if e["type"] == "oom"] == [{"type": "oom", "id": cid}], got
        assert oom_kills(cgpath) >= 1
        # one OOM kill, one event: the stats that follow bring no second one
        got = read_events(proc, lambda g: len(g) >= 2, 10)
        assert all(e["type"] == "stats" for e in got), got
        assert rt("delete", "--force", cid).returncode == 0
        proc.wait(timeout=30)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_systemd_cgroup_without_systemd(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    if "pyruntime" not in rt.name:
        pytest.skip("pyruntime's message")
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs on this host")
    b = make_bundle(["true"], mutate=lambda c: c["linux"].__setitem__("cgroupsPath",
                                                                       f"system.slice:pyrt:{cid}"))
    p = subprocess.run([rt.path, "--root", str(rt.root),
                        "--systemd-cgroup", "create", "--bundle", str(b), cid],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, describe(p)
    assert ("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); "
            "use the cgroupfs driver (no --systemd-cgroup)") in p.stderr, describe(p)
    assert not (rt.root / cid).exists()
    # a malformed path is named before systemd is looked for
    b2 = make_bundle(["true"], mutate=lambda c: c["linux"].__setitem__("cgroupsPath", "nocolons"))
    p = subprocess.run([rt.path, "--root", str(rt.root),
                        "--systemd-cgroup", "create", "--bundle", str(b2), cid],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "slice:prefix:name" in p.stderr, describe(p)
