"""The cgroup v2 manager (pyruntime/cgroups/v2.py) and the factory's choice,
on a fake cgroup2 tree of plain files in tmp_path (no root, no kernel)."""

from __future__ import annotations

import _signal as signal
from pathlib import Path
from typing import Any

import pytest

from pyruntime.cgroups import ebpf, factory, v2
from pyruntime.cgroups.devices import DEFAULT_ALLOWED
from pyruntime.cgroups.manager import Manager
from pyruntime.cgroups.support import check_resources
from pyruntime.cgroups.v2 import V2Manager, shares_to_weight, swap_v2
from pyruntime.errors import ConfigError, PyruntimeError

MIB = 1 << 20


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids rdma misc\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


@pytest.fixture
def filters(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Any]]:
    calls: list[tuple[str, Any, Any]] = []
    monkeypatch.setattr(ebpf, "set_device_filter", lambda d, rules, extra: calls.append((d, rules, extra)))
    return calls


def files(d: Path, *names: str) -> None:
    for n in names:
        (d / n).write_text("")


# ---------------------------------------------------------------- choosing and finding

def test_factory_picks_v2_only_on_a_pure_v2_host() -> None:
    assert type(factory.for_config("/x", "id", {"unified": "/sys/fs/cgroup"})) is V2Manager
    hybrid = {"memory": "/sys/fs/cgroup/memory", "unified": "/sys/fs/cgroup/unified"}
    assert type(factory.for_config("/x", "id", hybrid)) is Manager


def test_state_round_trip_and_dispatch() -> None:
    m = V2Manager("/sys/fs/cgroup/a/b", ["/sys/fs/cgroup/a", "/sys/fs/cgroup/a/b"])
    d = m.to_state()
    assert d["kind"] == "v2"
    assert d["paths"] == {"unified": "/sys/fs/cgroup/a/b"}  # what the rootfs cgroup mount reads
    back = factory.from_state(d)
    assert isinstance(back, V2Manager)
    assert (back.path, back.created, back.mount) == (m.path, m.created, m.mount)
    assert type(factory.from_state({"paths": {"memory": "/x"}})) is Manager  # no kind: v1
    assert type(factory.from_state(None)) is Manager


def test_absolute_and_relative_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v2, "own_cgroups", lambda: {"unified": "/user.slice/me"})
    mounts = {"unified": "/sys/fs/cgroup"}
    assert V2Manager.for_config("/a//b/", "id", mounts).path == "/sys/fs/cgroup/a/b"
    assert V2Manager.for_config("c/d", "id", mounts).path == "/sys/fs/cgroup/user.slice/me/c/d"
    assert V2Manager.for_config(None, "myid", mounts).path == "/sys/fs/cgroup/user.slice/me/myid"


@pytest.mark.parametrize("path", ["/a/../b", "slice:prefix:name", "/"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(PyruntimeError):
        V2Manager.for_config(path, "id", {"unified": "/sys/fs/cgroup"})


# ---------------------------------------------------------------- create

def test_create_enables_controllers_on_the_way_down(tree: Path) -> None:
    m = V2Manager(str(tree / "a" / "b"), mount=str(tree))
    # the middle level exists already, with its own files
    (tree / "a").mkdir()
    (tree / "a" / "cgroup.controllers").write_text("cpu memory pids\n")
    (tree / "a" / "cgroup.subtree_control").write_text("memory\n")
    m.create()
    assert (tree / "a" / "b").is_dir()
    assert m.created == [str(tree / "a" / "b")]  # only what it made
    assert (tree / "cgroup.subtree_control").read_text() == "+cpu +cpuset +io +memory +pids +hugetlb +misc +rdma"
    assert (tree / "a" / "cgroup.subtree_control").read_text().startswith("+cpu +pids")


# ---------------------------------------------------------------- apply

@pytest.mark.parametrize(("swap", "limit", "want"), [
    (0, None, -1),                   # memory unlimited, swap unset: both unlimited
    (-1, 32 * MIB, -1),
    (0, 32 * MIB, None),             # unset: left alone
    (32 * MIB, 32 * MIB, 0),         # memory+swap == memory: no swap
    (48 * MIB, 32 * MIB, 16 * MIB),
])
def test_swap_conversion(swap: int, limit: int | None, want: int | None) -> None:
    assert swap_v2(swap, limit) == want


@pytest.mark.parametrize(("swap", "limit"), [(16 * MIB, 32 * MIB), (16 * MIB, None), (16 * MIB, -1)])
def test_swap_conversion_errors(swap: int, limit: int | None) -> None:
    with pytest.raises(PyruntimeError) as e:
        swap_v2(swap, limit)
    assert e.value.field == "linux.resources.memory.swap"


def test_apply_writes_the_v2_files(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "memory.max", "memory.low", "memory.swap.max", "pids.max")
    rules = [{"allow": False, "access": "rwm"}]
    V2Manager(str(d), mount=str(tree)).apply({
        "memory": {"limit": 32 * MIB, "reservation": 16 * MIB, "swap": 48 * MIB},
        "pids": {"limit": -1}, "devices": rules})
    assert (d / "memory.max").read_text() == str(32 * MIB)
    assert (d / "memory.low").read_text() == str(16 * MIB)
    assert (d / "memory.swap.max").read_text() == str(16 * MIB)
    assert (d / "pids.max").read_text() == "max"
    assert filters == [(str(d), rules, DEFAULT_ALLOWED)]


def test_apply_swap_alone_uses_the_limit_in_force(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    (d / "memory.max").write_text(f"{32 * MIB}\n")
    files(d, "memory.swap.max")
    V2Manager(str(d), mount=str(tree)).apply({"memory": {"swap": 64 * MIB}})
    assert (d / "memory.swap.max").read_text() == str(32 * MIB)


def test_apply_without_the_controller_names_the_field(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    with pytest.raises(PyruntimeError) as e:
        V2Manager(str(d), mount=str(tree)).apply({"pids": {"limit": 5}})
    assert e.value.field == "linux.resources.pids.limit"
    assert "pids controller is not enabled" in str(e.value)


def test_no_swap_accounting_is_fine_for_no_swap(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "memory.max")  # no memory.swap.max
    V2Manager(str(d), mount=str(tree)).apply({"memory": {"limit": 32 * MIB, "swap": 32 * MIB}})
    assert (d / "memory.max").read_text() == str(32 * MIB)


# ---------------------------------------------------------------- freeze, kill, destroy

def test_freeze_waits_for_events(tree: Path) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "cgroup.freeze")
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert V2Manager(str(d), mount=str(tree)).freeze(True)
    assert (d / "cgroup.freeze").read_text() == "1"
    assert not V2Manager(str(tree / "gone"), mount=str(tree)).freeze(True)


def test_sigkill_goes_through_cgroup_kill(tree: Path) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "cgroup.kill")
    V2Manager(str(d), mount=str(tree)).signal_all(signal.SIGKILL)
    assert (d / "cgroup.kill").read_text() == "1"


def test_destroy_removes_sub_cgroups_and_its_leaf_not_parents(tree: Path) -> None:
    top = tree / "a"
    (top / "b" / "sub" / "deeper").mkdir(parents=True)
    m = V2Manager(str(top / "b"), [str(top), str(top / "b")], mount=str(tree))
    m.destroy()
    assert not (top / "b").exists()
    assert top.is_dir()  # a parent we made stays, as runc's RemovePath leaves it
    assert m.created == []


def test_pids_zero_is_a_limit(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "pids.max")
    V2Manager(str(d), mount=str(tree)).apply({"pids": {"limit": 0}})
    assert (d / "pids.max").read_text() == "0"


def test_cpu_and_io_files(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    files(d, "cpu.weight", "cpu.max", "cpuset.cpus", "io.weight", "io.max", "hugetlb.2MB.max")
    V2Manager(str(d), mount=str(tree)).apply({
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
        "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MIB}]})
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpuset.cpus").read_text() == "0"
    assert (d / "io.weight").read_text() == str(1 + (500 - 10) * 9999 // 990)
    assert (d / "io.max").read_text() == "8:0 rbps=1000"
    assert (d / "hugetlb.2MB.max").read_text() == str(4 * MIB)


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (0, 0)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize(("res", "field"), [
    ({"memory": {"swappiness": 10}}, "linux.resources.memory.swappiness"),
    ({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller"),
    ({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime"),
    ({"network": {"classID": 7}}, "linux.resources.network.classID"),
])
def test_v1_only_fields_are_refused(tree: Path, filters: list[Any], res: dict[str, Any], field: str) -> None:
    d = tree / "c"
    d.mkdir()
    with pytest.raises(PyruntimeError) as e:
        V2Manager(str(d), mount=str(tree)).apply(res)
    assert e.value.field == field


def test_frozen_cgroup_is_refused(tree: Path) -> None:
    d = tree / "c"
    d.mkdir()
    (d / "cgroup.events").write_text("populated 0\nfrozen 1\n")
    with pytest.raises(PyruntimeError) as e:
        V2Manager(str(d), mount=str(tree)).check_not_frozen()
    assert e.value.field == "linux.cgroupsPath"


# ---------------------------------------------------------------- linux.resources.unified

def test_unified_written_last_and_line_by_line(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    (d / "cgroup.controllers").write_text("memory io\n")
    files(d, "memory.max", "io.max", "cgroup.max.depth")
    V2Manager(str(d), mount=str(tree)).apply({"memory": {"limit": 32 * MIB},
                                              "unified": {"memory.max": str(48 * MIB), "cgroup.max.depth": "3",
                                                          "io.max": "8:0 rbps=1\n8:16 wbps=2\n"}})
    assert (d / "memory.max").read_text() == str(48 * MIB), "unified must win over memory.limit"
    assert (d / "cgroup.max.depth").read_text() == "3"
    assert (d / "io.max").read_text() == "8:16 wbps=2", "each line is its own write (the last one stays here)"


@pytest.mark.parametrize("key", ["../memory.max", "a/b", "..", "", "x..y"])
def test_unified_bad_key_refused_before_anything(key: str) -> None:
    with pytest.raises(ConfigError) as e:
        check_resources({"unified": {key: "1"}})
    assert e.value.field == f'linux.resources.unified["{key}"]'


def test_unified_value_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match=r'unified\["pids.max"\]'):
        check_resources({"unified": {"pids.max": 3}})


def test_unified_controller_not_offered_or_file_missing(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    (d / "cgroup.controllers").write_text("memory\n")
    (tree / "cgroup.controllers").write_text("memory\n")
    m = V2Manager(str(d), mount=str(tree))
    with pytest.raises(ConfigError, match=r'unified\["rdma.max"\]: the rdma controller is not available'):
        m.apply({"unified": {"rdma.max": "max"}})
    with pytest.raises(ConfigError, match=r'unified\["memory.pyrtbogus"\].*no such file'):
        m.apply({"unified": {"memory.pyrtbogus": "1"}})


def test_unified_enables_an_offered_controller_in_the_parents(tree: Path, filters: list[Any]) -> None:
    d = tree / "c"
    d.mkdir()
    (d / "cgroup.controllers").write_text("")
    files(d, "hugetlb.2MB.max")
    V2Manager(str(d), mount=str(tree)).apply({"unified": {"hugetlb.2MB.max": "4194304"}})
    assert "+hugetlb" in (tree / "cgroup.subtree_control").read_text()
    assert (d / "hugetlb.2MB.max").read_text() == "4194304"


def test_unified_on_a_hybrid_hosts_cgroup2_dir(tmp_path: Path) -> None:
    uni = tmp_path / "unified"
    (uni / "c").mkdir(parents=True)
    (uni / "cgroup.controllers").write_text("hugetlb\n")
    (uni / "c" / "cgroup.controllers").write_text("")
    files(uni / "c", "cgroup.max.depth")
    Manager({"unified": str(uni / "c")}).apply({"unified": {"cgroup.max.depth": "2"}})
    assert (uni / "c" / "cgroup.max.depth").read_text() == "2"
    with pytest.raises(PyruntimeError, match="cgroup v1 host"):
        Manager({"memory": str(tmp_path)}).apply({"unified": {"cgroup.max.depth": "2"}})


# ---------------------------------------------------------------- v1 memory + memsw order

def _v1_mem(tmp_path: Path, limit: int, memsw: int) -> Path:
    d = tmp_path / "memory"
    d.mkdir()
    (d / "memory.limit_in_bytes").write_text(str(limit))
    (d / "memory.memsw.limit_in_bytes").write_text(str(memsw))
    return d


@pytest.mark.parametrize("cur,limit,swap,first", [
    (64 * MIB, 256 * MIB, 512 * MIB, "memory.memsw.limit_in_bytes"),  # raising: memsw first
    (256 * MIB, 32 * MIB, 48 * MIB, "memory.limit_in_bytes"),         # lowering: the limit first
    (64 * MIB, -1, -1, "memory.memsw.limit_in_bytes"),                # unlimited: memsw first
    (64 * MIB, -1, None, "memory.memsw.limit_in_bytes"),              # -1 alone: memsw -1 too
])
def test_v1_memory_and_swap_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cur: int, limit: int,
                                  swap: int | None, first: str) -> None:
    d = _v1_mem(tmp_path, cur, cur)
    order: list[tuple[str, str]] = []
    monkeypatch.setattr(Manager, "_set", staticmethod(lambda p, f, v, fld: order.append((f, str(v)))))
    mem: dict[str, Any] = {"limit": limit}
    if swap is not None:
        mem["swap"] = swap
    Manager({"memory": str(d)}).apply({"memory": mem})
    assert order[0][0] == first, order
    assert dict(order) == {"memory.limit_in_bytes": str(limit),
                           "memory.memsw.limit_in_bytes": str(swap if swap is not None else -1)}
