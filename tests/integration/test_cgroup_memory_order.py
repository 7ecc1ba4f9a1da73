"""The v1 memory pair, the cgroup2 hierarchy of a hybrid host, and
linux.resources.unified there, on a live container (each runs with runc
too: RUNTIME=/usr/sbin/runc).

- memory.memsw.limit_in_bytes must stay >= memory.limit_in_bytes (the
  kernel answers EINVAL): raising both writes memsw first, lowering both
  the limit first (runc's setMemoryAndSwap), at create and at `update`.
- On a hybrid host the init is at cgroupsPath in the cgroup2 hierarchy too
  (runc), an exec'd process joins it there, and delete removes it.
- unified keys are files of that cgroup2 directory (crun; runc 1.1.5
  refuses unified on a hybrid host); a bad key is an error naming
  linux.resources.unified["<key>"] that leaves nothing behind.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import create
from tests.support.isolation import (
    cgroup_dir,
    create_detached,
    describe,
    pid_alive,
    proc_cgroups,
    v1_hierarchies,
)
from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]
MIB = 1 << 20
UNIFIED_MOUNT = Path("/sys/fs/cgroup/unified")



def _memory_dir(cgpath: str) -> Path:
    mem = next((m for k, m in v1_hierarchies().items() if "memory" in k.split(",")), None)
    if mem is None:
        pytest.skip("no v1 memory hierarchy")
    d = cgroup_dir(mem, cgpath)
    if not (mem / "memory.memsw.limit_in_bytes").exists():
        pytest.skip("no swap accounting (memory.memsw.limit_in_bytes)")
    return d


def _hybrid() -> None:
    if not v1_hierarchies() or not (UNIFIED_MOUNT / "cgroup.procs").exists():
        pytest.skip("not a hybrid host (v1 hierarchies and cgroup2 at /sys/fs/cgroup/unified)")


def _bundle(make_bundle: MakeBundle, cgpath: str, resources: dict[str, Any] | None = None,
            name: str = "bundle") -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = cgpath
        if resources:
            c["linux"].setdefault("resources", {}).update(resources)
    return make_bundle(["sleep", "60"], mutate=mutate, name=name)


def _pair(d: Path) -> tuple[int, int]:
    return (int((d / "memory.limit_in_bytes").read_text()),
            int((d / "memory.memsw.limit_in_bytes").read_text()))


def _update(rt: Any, cid: str, *args: str, res: dict[str, Any] | None = None) -> None:
    if res is not None:
        p = rt("update", "--resources", "-", cid, input=json.dumps(res))
    else:
        p = rt("update", *args, cid)
    assert p.returncode == 0, describe(p)


UNLIMITED = 1 << 62  # the kernel shows -1 as PAGE_COUNTER_MAX pages, ~2^63


@pytest.mark.parametrize("form", ["resources", "flags"])
def test_update_raises_and_lowers_memory_and_swap(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                                  form: str) -> None:
    d = _memory_dir(cgpath)
    create_detached(rt, _bundle(make_bundle, cgpath, {"memory": {"limit": 64 * MIB, "swap": 64 * MIB}}), cid)
    assert _pair(d) == (64 * MIB, 64 * MIB)

    def update(limit: int, swap: int) -> None:
        if form == "resources":
            _update(rt, cid, res={"memory": {"limit": limit, "swap": swap}})
        else:
            _update(rt, cid, "--memory", str(limit), "--memory-swap", str(swap))

    # up: a limit above the memsw in force (memsw first, else EINVAL)
    update(256 * MIB, 512 * MIB)
    assert _pair(d) == (256 * MIB, 512 * MIB)
    # down: a memsw below the limit in force (the limit first)
    update(32 * MIB, 48 * MIB)
    assert _pair(d) == (32 * MIB, 48 * MIB)
    # unlimited both: memsw first
    update(-1, -1)
    lim, sw = _pair(d)
    assert lim >= UNLIMITED and sw >= UNLIMITED, (lim, sw)
    # and back down from unlimited
    update(16 * MIB, 24 * MIB)
    assert _pair(d) == (16 * MIB, 24 * MIB)


def test_create_raises_an_existing_cgroups_limits(rt: Any, cid: str, cgpath: str,
                                                  make_bundle: MakeBundle) -> None:
    """The cgroup exists with 64 MiB / 64 MiB; the config asks for more of
    both: memsw must be written first."""
    d = _memory_dir(cgpath)
    d.mkdir()
    (d / "memory.limit_in_bytes").write_text(str(64 * MIB))
    (d / "memory.memsw.limit_in_bytes").write_text(str(64 * MIB))
    create_detached(rt, _bundle(make_bundle, cgpath, {"memory": {"limit": 128 * MIB, "swap": 256 * MIB}}), cid)
    assert _pair(d) == (128 * MIB, 256 * MIB)


def test_limit_minus_one_alone_unlimits_memsw(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    """limit -1 and no swap: memsw -1 too (runc), else the limit could not be raised above it."""
    d = _memory_dir(cgpath)
    d.mkdir()
    (d / "memory.limit_in_bytes").write_text(str(64 * MIB))
    (d / "memory.memsw.limit_in_bytes").write_text(str(64 * MIB))
    create_detached(rt, _bundle(make_bundle, cgpath, {"memory": {"limit": -1}}), cid)
    lim, sw = _pair(d)
    assert lim >= UNLIMITED and sw >= UNLIMITED, (lim, sw)


# ---------------------------------------------------------------- cgroup2 of a hybrid host

def test_init_and_exec_in_cgroup2_and_delete_removes_it(rt: Any, cid: str, cgpath: str,
                                                         make_bundle: MakeBundle) -> None:
    _hybrid()
    pid = create_detached(rt, _bundle(make_bundle, cgpath), cid)
    d = cgroup_dir(UNIFIED_MOUNT, cgpath)
    assert proc_cgroups(pid).get("") == cgpath, proc_cgroups(pid)
    assert str(pid) in (d / "cgroup.procs").read_text().split()
    p = rt("start", cid)
    assert p.returncode == 0, describe(p)
    p = rt("exec", cid, "cat", "/proc/self/cgroup")
    assert p.returncode == 0, describe(p)
    assert f"0::{cgpath}" in p.stdout.splitlines(), p.stdout
    p = rt("delete", "--force", cid)
    assert p.returncode == 0, describe(p)
    assert not d.exists(), f"{d} left after delete"
    for key, mount in v1_hierarchies().items():
        assert not cgroup_dir(mount, cgpath).exists(), f"{key}: left after delete"


# ---------------------------------------------------------------- unified on a hybrid host

def _runc_refuses_unified(rt: Any, p: subprocess.CompletedProcess[str]) -> None:
    if is_runc(rt):
        assert p.returncode != 0, describe(p)
        pytest.xfail("runc 1.1.5 refuses linux.resources.unified on a hybrid host (crun and pyruntime "
                     "write it to the cgroup2 hierarchy)")


def _hugetlb_2mb() -> None:
    if "hugetlb" not in (UNIFIED_MOUNT / "cgroup.controllers").read_text().split() or \
            not Path("/sys/kernel/mm/hugepages/hugepages-2048kB").exists():
        pytest.skip("needs hugetlb on the cgroup2 hierarchy and 2MB huge pages")


def test_unified_overrides_the_same_file_from_hugepage_limits(rt: Any, cid: str, cgpath: str,
                                                               make_bundle: MakeBundle) -> None:
    _hybrid()
    _hugetlb_2mb()
    if any("hugetlb" in k.split(",") for k in v1_hierarchies()):
        pytest.skip("hugetlb is on a v1 hierarchy here")
    b = _bundle(make_bundle, cgpath, {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}],
                                      "unified": {"hugetlb.2MB.max": str(8 * MIB)}})
    p = create(rt, b, cid)
    _runc_refuses_unified(rt, p)
    assert p.returncode == 0, describe(p)
    d = cgroup_dir(UNIFIED_MOUNT, cgpath)
    assert (d / "hugetlb.2MB.max").read_text().strip() == str(8 * MIB), "unified is not applied last"
    assert (d / "hugetlb.2MB.rsvd.max").read_text().strip() == str(4 * MIB)


@pytest.mark.parametrize("key", ["../cgroup.max.depth", "sub/cgroup.max.depth", "..", "cgroup.pyrtbogus",
                                 "pyrtbogus.max", "rdma.max"])
def test_unified_bad_key_named_and_nothing_left(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle,
                                                key: str) -> None:
    _hybrid()
    ctrl = key.split(".")[0]
    if ctrl in (UNIFIED_MOUNT / "cgroup.controllers").read_text().split():
        pytest.skip(f"the {ctrl} controller is on the cgroup2 hierarchy here")
    b = _bundle(make_bundle, cgpath, {"unified": {key: "3"}})
    p = create(rt, b, cid)
    _runc_refuses_unified(rt, p)
    assert p.returncode != 0, describe(p)
    named = f'linux.resources.unified["{key}"]'
    assert named in p.stderr or json.dumps(named)[1:-1] in p.stderr, describe(p)  # (logfmt quotes it)
    assert rt("state", cid).returncode != 0, "a refused create left a container"
    for name, mount in {**{k: m for k, m in v1_hierarchies().items()}, "cgroup2": UNIFIED_MOUNT}.items():
        assert not cgroup_dir(mount, cgpath).exists(), f"{name}: {cgpath} left behind"
    assert not [x for x in rt.root.iterdir()] if rt.root.exists() else True
    # no process of the container left: nothing runs the bundle's sleep in a cgroup of that name
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cg = (proc / "cgroup").read_text()
            except OSError:
                continue
            assert cgpath not in cg or not pid_alive(int(proc.name)), f"pid {proc.name} left in {cgpath}"
