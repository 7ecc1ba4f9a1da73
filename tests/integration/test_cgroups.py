"""cgroups (v1 / hybrid hosts): placement by linux.cgroupsPath and by default,
memory and pids limits, the devices allow-list, `kill --all`, removal on
delete (runtime-spec config-linux.md "Control groups"; runc's behaviour)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import (
    add_capabilities,
    cgroup_dir,
    create_detached,
    describe,
    host_block_device,
    install_probe,
    pid_alive,
    poll_until,
    proc_cgroups,
    run_ok,
    set_namespace,
    start_detached,
    stdio_log,
    v1_hierarchies,
)

MakeBundle = Callable[..., Path]
MIB = 1 << 20


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


@pytest.fixture(autouse=True)
def _needs_v1() -> None:
    if not v1_hierarchies():
        pytest.skip("these tests are written for cgroup v1 / hybrid hosts")


def with_cgroups_path(path: str, extra: Callable[[dict[str, Any]], None] | None = None,
                      ) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = path
        if extra is not None:
            extra(c)
    return mutate


# ---------------------------------------------------------------- placement

def test_processes_in_cgroups_path(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["sleep", "60"], mutate=with_cgroups_path(cgpath))
    pid = create_detached(rt, b, cid)
    placed = proc_cgroups(pid)
    for key, mount in v1_hierarchies().items():
        assert placed.get(key) == cgpath, f"{key}: init in {placed.get(key)!r}, want {cgpath}"
        procs = (cgroup_dir(mount, cgpath) / "cgroup.procs").read_text().split()
        assert str(pid) in procs, f"{key}: {pid} not in {procs}"


def test_default_cgroup_path_ends_with_id(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["sleep", "60"])
    pid = create_detached(rt, b, cid)
    placed = proc_cgroups(pid)
    mine = proc_cgroups("self")
    try:
        for key in v1_hierarchies():
            path = placed.get(key, "")
            assert path.endswith("/" + cid), f"{key}: init in {path!r}, want .../{cid}"
            assert path == os.path.join(mine[key], cid), f"{key}: {path!r} is not under the caller's cgroup"
    finally:
        rt("delete", "--force", cid)
    for key, mount in v1_hierarchies().items():
        assert not cgroup_dir(mount, placed[key]).exists(), f"{key}: {placed[key]} left after delete"


# ---------------------------------------------------------------- memory

def _memory_limit(limit: int) -> Callable[[dict[str, Any]], None]:
    def extra(c: dict[str, Any]) -> None:
        c["linux"]["resources"]["memory"] = {"limit": limit}
        if (v1_hierarchies()["memory"] / "memory.memsw.limit_in_bytes").exists():
            # v1 "swap" is memory+swap: equal to the limit means no swapping out of the OOM
            c["linux"]["resources"]["memory"]["swap"] = limit
    return extra


def test_memory_limit_is_written(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"], mutate=with_cgroups_path(cgpath, _memory_limit(32 * MIB)))
    create_detached(rt, b, cid)
    mem = v1_hierarchies()["memory"]
    assert int((cgroup_dir(mem, cgpath) / "memory.limit_in_bytes").read_text()) == 32 * MIB


def test_memory_limit_oom_kills(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                memhog: Path) -> None:
    b = make_bundle(["/bin/memhog", "64"], mutate=with_cgroups_path(cgpath, _memory_limit(32 * MIB)))
    install_probe(memhog, b)
    p = rt("run", "--bundle", str(b), cid)
    assert "survived" not in p.stdout, describe(p)
    assert p.returncode == 137, f"expected SIGKILL by the OOM killer: {describe(p)}"


def test_memory_under_limit_survives(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                     memhog: Path) -> None:
    # control for the OOM test: the probe works when it fits
    b = make_bundle(["/bin/memhog", "8"], mutate=with_cgroups_path(cgpath, _memory_limit(32 * MIB)))
    install_probe(memhog, b)
    assert run_ok(rt, b, cid).strip() == "survived 8"


# ---------------------------------------------------------------- pids

def _forked(out: str) -> tuple[int, int]:
    fields: dict[str, str] = {}
    for f in out.split():
        k, _, v = f.partition("=")
        fields[k] = v
    return int(fields["forked"]), int(fields["failed"])


def test_pids_limit(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle, forkmany: Path) -> None:
    def extra(c: dict[str, Any]) -> None:
        c["linux"]["resources"]["pids"] = {"limit": 10}

    b = make_bundle(["/bin/forkmany", "20"], mutate=with_cgroups_path(cgpath, extra))
    install_probe(forkmany, b)
    pids_dir = cgroup_dir(v1_hierarchies()["pids"], cgpath)
    out = run_ok(rt, b, cid)
    forked, failed = _forked(out)
    # the probe itself is one of the 10
    assert forked <= 9 and failed >= 11, out
    assert forked >= 5, out
    assert not pids_dir.exists()


def test_pids_limit_is_written(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    def extra(c: dict[str, Any]) -> None:
        c["linux"]["resources"]["pids"] = {"limit": 10}

    create_detached(rt, make_bundle(["true"], mutate=with_cgroups_path(cgpath, extra)), cid)
    pids_max = cgroup_dir(v1_hierarchies()["pids"], cgpath) / "pids.max"
    assert pids_max.read_text().strip() == "10"


def test_pids_without_limit_control(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                    forkmany: Path) -> None:
    # control for test_pids_limit: without a limit all 20 children start
    b = make_bundle(["/bin/forkmany", "20"], mutate=with_cgroups_path(cgpath))
    install_probe(forkmany, b)
    assert _forked(run_ok(rt, b, cid)) == (20, 0)


# ---------------------------------------------------------------- devices

def _disk_script(major: int, minor: int) -> str:
    return (f"mknod /dev/hostdisk b {major} {minor} && echo mknod-ok; "
            "head -c1 /dev/hostdisk > /dev/null && echo disk-read-ok; "
            "head -c1 /dev/null && echo null-ok")


def test_devices_deny_host_disk(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    major, minor, name = host_block_device()
    b = make_bundle(sh(_disk_script(major, minor)),
                    mutate=with_cgroups_path(cgpath, lambda c: add_capabilities(c, "CAP_MKNOD")))
    p = rt("run", "--bundle", str(b), cid)
    assert "mknod-ok" in p.stdout, f"mknod with CAP_MKNOD should succeed: {describe(p)}"
    assert "disk-read-ok" not in p.stdout, f"read host disk {name} ({major}:{minor}): {describe(p)}"
    assert "Operation not permitted" in p.stderr, describe(p)
    assert "null-ok" in p.stdout, describe(p)


def test_devices_allow_rule_control(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    # control for test_devices_deny_host_disk: an allow rule for that disk lets it be read
    major, minor, _name = host_block_device()

    def extra(c: dict[str, Any]) -> None:
        add_capabilities(c, "CAP_MKNOD")
        c["linux"]["resources"]["devices"].append(
            {"allow": True, "type": "b", "major": major, "minor": minor, "access": "rm"})

    b = make_bundle(sh(_disk_script(major, minor)), mutate=with_cgroups_path(cgpath, extra))
    out = run_ok(rt, b, cid)
    assert out.split() == ["mknod-ok", "disk-read-ok", "null-ok"], out


# ---------------------------------------------------------------- kill --all

def _container_pids(cgpath: str) -> set[int]:
    procs = cgroup_dir(v1_hierarchies()["pids"], cgpath) / "cgroup.procs"
    return {int(x) for x in procs.read_text().split()}


@pytest.mark.parametrize("pidns", [True, False], ids=["own-pidns", "host-pidns"])
def test_kill_all(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle, pidns: bool) -> None:
    def extra(c: dict[str, Any]) -> None:
        if not pidns:
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]

    b = make_bundle(sh("sleep 300 & sleep 300 & sleep 300 & echo ready; wait"),
                    mutate=with_cgroups_path(cgpath, extra))
    init = start_detached(rt, b, cid)
    assert poll_until(lambda: len(_container_pids(cgpath)) >= 4), stdio_log(b, cid)
    pids = _container_pids(cgpath)
    assert init in pids
    p = rt("kill", "--all", cid, "KILL")
    assert p.returncode == 0, describe(p)
    assert poll_until(lambda: not any(pid_alive(x) for x in pids)), \
        f"still alive after kill --all: {[x for x in pids if pid_alive(x)]}"
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped")


# ---------------------------------------------------------------- removal

def test_cgroups_removed_on_delete(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["sleep", "300"], mutate=with_cgroups_path(cgpath))
    start_detached(rt, b, cid)
    dirs = [cgroup_dir(m, cgpath) for m in v1_hierarchies().values()]
    assert all(d.is_dir() for d in dirs), [d for d in dirs if not d.is_dir()]
    assert rt("kill", cid, "KILL").returncode == 0
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped")
    p = rt("delete", cid)
    assert p.returncode == 0, describe(p)
    left = [d for d in dirs if d.exists()]
    assert not left, f"cgroup dirs left after delete: {left}"


def test_cgroups_removed_after_run(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    run_ok(rt, make_bundle(["true"], mutate=with_cgroups_path(cgpath)), cid)
    left = [cgroup_dir(m, cgpath) for m in v1_hierarchies().values() if cgroup_dir(m, cgpath).exists()]
    assert not left, f"cgroup dirs left after run: {left}"


def test_cgroup_namespace_with_path(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    # with a cgroup namespace the container sees its own cgroup as the root
    b = make_bundle(["cat", "/proc/self/cgroup"],
                    mutate=with_cgroups_path(cgpath, lambda c: set_namespace(c, "cgroup")))
    out = run_ok(rt, b, cid)
    assert all(line.split(":", 2)[2] == "/" for line in out.strip().splitlines()), out
