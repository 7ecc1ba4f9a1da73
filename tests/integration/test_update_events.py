"""update (limits of a live container, from flags or LinuxResources JSON as
containerd and Podman send it) and events (stats JSON lines, OOM events), as
runc 1.1 does them (runc update.go, events.go, types/events.go).

The update tests are written for v1 files; the events tests run on a pure
cgroup v2 host too (scripts/guest/test.sh), reading the cgroup through
tests/support/cgfiles.py."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import cgfiles
from tests.support.cgfiles import pure_v2, remove_test_cgroups
from tests.support.isolation import (
    build_probe,
    describe,
    install_probe,
    pid_alive,
    start_detached,
    stdio_log,
    v1_hierarchies,
    wait_for,
)

MakeBundle = Callable[..., Path]
MIB = 1 << 20
# the container's process waits for this file (in its rootfs) before the real work
WAIT_GO = "while [ ! -e /go ]; do sleep 0.05; done; "

STATS_KEYS = {"cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"}


@pytest.fixture(autouse=True)
def _needs_v1(request: pytest.FixtureRequest) -> None:
    h = v1_hierarchies()
    if "memory" in h and "pids" in h:
        return
    if pure_v2() and request.node.name.startswith("test_events"):
        return  # events read v2 files too
    pytest.skip("these tests are written for cgroup v1 / hybrid hosts (events: v2 too)")


@pytest.fixture
def cgpath(rt: Any, cid: str) -> Iterator[str]:
    path = f"/pyrt-test-{cid}"
    yield path
    rt.cleanup()
    remove_test_cgroups(path)


def _probe(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # scripts/guest/test.sh builds the probes on the host: gcc is slow in the guest
    prebuilt = os.environ.get("PYRT_PROBES_DIR")
    if prebuilt and (Path(prebuilt) / name).exists():
        return Path(prebuilt) / name
    return build_probe(name, tmp_path_factory.mktemp("probes"))


@pytest.fixture(scope="session")
def memhog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _probe("memhog", tmp_path_factory)


@pytest.fixture(scope="session")
def forkmany(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _probe("forkmany", tmp_path_factory)


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
    assert int(cg_file("memory", cgpath, "memory.limit_in_bytes").read_text()) == 32 * MIB
    assert int(cg_file("memory", cgpath, "memory.soft_limit_in_bytes").read_text()) == 16 * MIB
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "20"
    # an update that does not name a limit leaves it as it is
    assert rt("update", "--pids-limit", "30", cid).returncode == 0
    assert int(cg_file("memory", cgpath, "memory.limit_in_bytes").read_text()) == 32 * MIB
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "30"
    # -1: unlimited
    assert rt("update", "--pids-limit", "-1", "--memory", "-1", cid).returncode == 0
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "max"
    assert int(cg_file("memory", cgpath, "memory.limit_in_bytes").read_text()) > 1 << 50


@pytest.mark.skipif(not v1_hierarchies() or not has_memsw(), reason="needs v1 swap accounting")
def test_update_memory_and_swap_both_ways(rt: Any, cid: str, cgpath: str,
                                          make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sleep", "300"],
               {"memory": {"limit": 64 * MIB, "swap": 64 * MIB}})
    start_detached(rt, b, cid)
    mem, memsw = (cg_file("memory", cgpath, f) for f in ("memory.limit_in_bytes",
                                                        "memory.memsw.limit_in_bytes"))
    # raising both needs memsw written first, lowering needs the limit first
    assert rt("update", "--memory", "128M", "--memory-swap", "256M", cid).returncode == 0
    assert (int(mem.read_text()), int(memsw.read_text())) == (128 * MIB, 256 * MIB)
    assert rt("update", "--memory", "32M", "--memory-swap", "48M", cid).returncode == 0
    assert (int(mem.read_text()), int(memsw.read_text())) == (32 * MIB, 48 * MIB)


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
    assert wait_for(lambda: not pid_alive(init), timeout=20)
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
    assert int(cg_file("memory", cgpath, "memory.limit_in_bytes").read_text()) == 32 * MIB
    assert cg_file("pids", cgpath, "pids.max").read_text().strip() == "max"
    go(b)
    assert wait_for(lambda: not pid_alive(init), timeout=20)
    assert "survived" not in stdio_log(b, cid)
    oom = dict(ln.split() for ln in cg_file("memory", cgpath, "memory.oom_control").read_text()
               .splitlines())
    assert int(oom.get("oom_kill", "1")) > 0, oom


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
    assert wait_for(lambda: not pid_alive(init))
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    fails_with(rt("update", "--pids-limit", "5", cid), "container not running")


def test_update_cpu_and_ignored_fields(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    start_detached(rt, bundle(make_bundle, cgpath, ["sleep", "300"]), cid)
    p = rt("update", "--cpu-share", "512", cid)
    assert p.returncode == 0, describe(p)
    assert cg_file("cpu", cgpath, "cpu.shares").read_text().strip() == "512"
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


# ---------------------------------------------------------------- events

def test_events_stats(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle(make_bundle, cgpath, ["sh", "-c", "sleep 300 & wait"],
               {"memory": {"limit": 64 * MIB}, "pids": {"limit": 50}})
    start_detached(rt, b, cid)
    assert wait_for(lambda: len(cg_file("pids", cgpath, "cgroup.procs").read_text().split()) >= 2)
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
    assert wait_for(lambda: not pid_alive(init))
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    fails_with(rt("events", "--stats", cid), f"container with id {cid} is not running")


def _read_events(proc: subprocess.Popen[str], until: Callable[[list[dict[str, Any]]], bool],
                 timeout: float) -> list[dict[str, Any]]:
    assert proc.stdout is not None
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        line = proc.stdout.readline()
        if not line:
            break
        got.append(json.loads(line))
    return got


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
        got = _read_events(proc, lambda g: sum(e["type"] == "stats" for e in g) >= 2, 10)
        assert [e["type"] for e in got] == ["stats", "stats"], got
        assert all(e["id"] == cid and set(e["data"]) == STATS_KEYS for e in got)
        go(b)
        got = _read_events(proc, lambda g: any(e["type"] == "oom" for e in g), 20)
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
        _read_events(proc, lambda g: len(g) >= 1, 10)
        go(b)
        assert wait_for(lambda: not pid_alive(init))
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
