"""cgroups/v1_resources.py and the Manager's hybrid/update rules on a fake
cgroup tree (tmp dirs with the kernel's file names): the writes for limits
the kernel of the test host cannot show (blkio weights without competing
readers on BFQ, realtime without RT_GROUP_SCHED, rdma without a device),
hugetlb on a hybrid host's cgroup2 hierarchy, memory.checkBeforeUpdate."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from pyruntime.cgroups import v1_resources
from pyruntime.cgroups.manager import Manager
from pyruntime.errors import PyruntimeError
from pyruntime.lifecycle.update import requested

MIB = 1 << 20


def fake_cgroup(d: Path, *files: str, **values: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for f in files:
        (d / f).write_text("")
    for f, v in values.items():
        (d / f.replace("__", ".")).write_text(v)
    return d


class Recorder:
    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str, str]] = []

    def __call__(self, path: str, fname: str, value: Any, field: str) -> None:
        self.writes.append((path, fname, str(value), field))
        Manager._set(path, fname, value, field)


def read(d: Path, f: str) -> str:
    return (d / f).read_text()


# ---------------------------------------------------------------- realtime (cpu.rt_*)

def test_realtime_period_then_runtime(tmp_path: Path) -> None:
    cpu = fake_cgroup(tmp_path / "cpu", "cpu.rt_period_us", "cpu.rt_runtime_us")
    rec = Recorder()
    v1_resources.apply_cpu({"cpu": str(cpu)}, {"realtimePeriod": 100000, "realtimeRuntime": 10000}, rec)
    assert [w[1] for w in rec.writes] == ["cpu.rt_period_us", "cpu.rt_runtime_us"]
    assert read(cpu, "cpu.rt_period_us") == "100000" and read(cpu, "cpu.rt_runtime_us") == "10000"
    assert rec.writes[1][3] == "linux.resources.cpu.realtimeRuntime"


def test_realtime_retried_in_reverse_on_einval(tmp_path: Path) -> None:
    calls: list[str] = []

    def set_(path: str, fname: str, value: Any, field: str) -> None:
        calls.append(fname)
        if fname == "cpu.rt_period_us" and calls.count(fname) == 1:
            raise PyruntimeError("EINVAL", field=field, errno=errno.EINVAL)

    v1_resources.apply_cpu({"cpu": str(tmp_path)}, {"realtimePeriod": 1000, "realtimeRuntime": 500}, set_)
    assert calls == ["cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.rt_period_us"]


def test_realtime_without_cpu_controller_names_field() -> None:
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_cpu({}, {"realtimeRuntime": 10000}, Recorder())
    assert e.value.field == "linux.resources.cpu.realtimeRuntime"


# ---------------------------------------------------------------- blkio weights

@pytest.mark.parametrize("wfile", ["blkio.weight", "blkio.bfq.weight"], ids=["cfq", "bfq"])
def test_blkio_weight_goes_to_the_scheduler_file(tmp_path: Path, wfile: str) -> None:
    d = fake_cgroup(tmp_path / "blkio", wfile, wfile + "_device")
    v1_resources.apply_block_io({"blkio": str(d)}, {
        "weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}, Recorder())
    assert read(d, wfile) == "300"
    assert read(d, wfile + "_device") == "8:0 500"


def test_blkio_weight_without_cfq_or_bfq_names_field(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "blkio", "blkio.throttle.read_bps_device")
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_block_io({"blkio": str(d)}, {"weight": 300}, Recorder())
    assert e.value.field == "linux.resources.blockIO.weight"
    assert "CFQ/BFQ" in str(e.value)


def test_blkio_leaf_weight_needs_cfq(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "blkio", "blkio.bfq.weight")
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_block_io({"blkio": str(d)}, {"leafWeight": 300}, Recorder())
    assert e.value.field == "linux.resources.blockIO.leafWeight"
    d2 = fake_cgroup(tmp_path / "cfq", "blkio.weight", "blkio.leaf_weight", "blkio.leaf_weight_device")
    v1_resources.apply_block_io({"blkio": str(d2)}, {
        "leafWeight": 300, "weightDevice": [{"major": 8, "minor": 16, "leafWeight": 700}]}, Recorder())
    assert read(d2, "blkio.leaf_weight") == "300"
    assert read(d2, "blkio.leaf_weight_device") == "8:16 700"


def test_blkio_throttles(tmp_path: Path) -> None:
    names = ["read_bps_device", "write_bps_device", "read_iops_device", "write_iops_device"]
    d = fake_cgroup(tmp_path / "blkio", *[f"blkio.throttle.{n}" for n in names])
    v1_resources.apply_block_io({"blkio": str(d)}, {
        "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": MIB}],
        "throttleWriteBpsDevice": [{"major": 7, "minor": 1, "rate": 2 * MIB}],
        "throttleReadIOPSDevice": [{"major": 7, "minor": 2, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 7, "minor": 3, "rate": 50}]}, Recorder())
    assert [read(d, f"blkio.throttle.{n}") for n in names] == \
        [f"7:0 {MIB}", f"7:1 {2 * MIB}", "7:2 100", "7:3 50"]


# ---------------------------------------------------------------- rdma, network

def test_rdma_max_line(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "rdma", "rdma.max")
    rec = Recorder()
    v1_resources.apply_rdma({"rdma": str(d)}, {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 1000},
                                               "mlx4_0": {"hcaObjects": 7}}, rec)
    assert [w[2] for w in rec.writes] == ["mlx5_0 hca_handle=3 hca_object=1000", "mlx4_0 hca_object=7"]
    assert rec.writes[0][3] == "linux.resources.rdma.mlx5_0"


def test_rdma_without_controller_names_field() -> None:
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_rdma({}, {"mlx5_0": {"hcaHandles": 3}}, Recorder())
    assert e.value.field == "linux.resources.rdma.mlx5_0" and "rdma" in str(e.value)


def test_network_classid_and_ifpriomap(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "net", "net_cls.classid", "net_prio.ifpriomap")
    rec = Recorder()
    v1_resources.apply_network({"net_cls": str(d), "net_prio": str(d)}, {
        "classID": 0x100001, "priorities": [{"name": "lo", "priority": 5}, {"name": "eth0", "priority": 2}]}, rec)
    assert read(d, "net_cls.classid") == str(0x100001)
    assert [w[2] for w in rec.writes if w[1] == "net_prio.ifpriomap"] == ["lo 5", "eth0 2"]


def test_network_without_hierarchy_names_field() -> None:
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_network({}, {"classID": 1}, Recorder())
    assert e.value.field == "linux.resources.network.classID"


# ---------------------------------------------------------------- hugetlb

@pytest.mark.parametrize(("kib", "name"), [(64, "64KB"), (2048, "2MB"), (32768, "32MB"),
                                           (1048576, "1GB"), (16 * 1048576, "16GB")])
def test_page_size_name(kib: int, name: str) -> None:
    assert v1_resources.page_size_name(kib) == name


def test_host_page_sizes(tmp_path: Path) -> None:
    for n in ("hugepages-1048576kB", "hugepages-2048kB", "other"):
        (tmp_path / n).mkdir()
    assert v1_resources.host_page_sizes(str(tmp_path)) == ["2MB", "1GB"]
    assert v1_resources.host_page_sizes(str(tmp_path / "missing")) == []


@pytest.fixture
def hugepages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sysdir = tmp_path / "hugepages"
    for n in ("hugepages-2048kB", "hugepages-1048576kB"):
        (sysdir / n).mkdir(parents=True)
    monkeypatch.setattr(v1_resources, "HUGEPAGES_DIR", str(sysdir))


@pytest.mark.usefixtures("hugepages")
def test_hugetlb_v1_limit_and_reservation(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.rsvd.limit_in_bytes")
    v1_resources.apply_hugetlb({"hugetlb": str(d)}, [{"pageSize": "2MB", "limit": 4 * MIB}], Recorder())
    assert read(d, "hugetlb.2MB.limit_in_bytes") == str(4 * MIB)
    assert read(d, "hugetlb.2MB.rsvd.limit_in_bytes") == str(4 * MIB)


def unified_tree(tmp_path: Path, ctrls: str = "hugetlb") -> tuple[Path, Path]:
    """A hybrid cgroup2 mount at tmp/fs/unified with a container at a/ctr."""
    root = fake_cgroup(tmp_path / "fs" / "unified", cgroup__controllers=ctrls, cgroup__subtree_control="")
    mid = fake_cgroup(root / "a", cgroup__controllers="", cgroup__subtree_control="")
    ctr = fake_cgroup(mid / "ctr", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", cgroup__controllers="",
                      cgroup__subtree_control="")
    return root, ctr


@pytest.mark.usefixtures("hugepages")
def test_hugetlb_on_hybrid_cgroup2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, ctr = unified_tree(tmp_path)
    (ctr / "hugetlb.2MB.max").unlink()  # appears once the parent gives hugetlb (fake_write)

    real_write = os.write
    enabled: list[str] = []

    def fake_write(fd: int, data: bytes) -> int:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.endswith("cgroup.subtree_control"):
            enabled.append(os.path.dirname(target))
            if os.path.dirname(target) == str(ctr.parent):
                (ctr / "hugetlb.2MB.max").write_text("max")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", fake_write)
    try:
        v1_resources.apply_hugetlb({"unified": str(ctr), "memory": "/x"},
                                   [{"pageSize": "2MB", "limit": 4 * MIB}], Recorder())
    finally:
        monkeypatch.undo()
    assert enabled == [str(root), str(root / "a")], "hugetlb enabled from the root down to the parent"
    assert read(root, "cgroup.subtree_control") == "+hugetlb"
    assert read(root / "a", "cgroup.subtree_control") == "+hugetlb"
    assert read(ctr, "cgroup.subtree_control") == "", "the container's own cgroup gives nothing"
    assert read(ctr, "hugetlb.2MB.max") == str(4 * MIB)
    assert read(ctr, "hugetlb.2MB.rsvd.max") == str(4 * MIB)


@pytest.mark.usefixtures("hugepages")
def test_hugetlb_on_cgroup2_already_enabled_writes_nothing_else(tmp_path: Path) -> None:
    root, ctr = unified_tree(tmp_path)
    rec = Recorder()
    v1_resources.apply_hugetlb({"unified": str(ctr)}, [{"pageSize": "2MB", "limit": 2 * MIB}], rec)
    assert [w[1] for w in rec.writes] == ["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"]
    assert read(root, "cgroup.subtree_control") == ""


@pytest.mark.usefixtures("hugepages")
def test_hugetlb_page_size_not_on_host(tmp_path: Path) -> None:
    _root, ctr = unified_tree(tmp_path)
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_hugetlb({"unified": str(ctr)}, [{"pageSize": "3MB", "limit": 1}], Recorder())
    assert e.value.field == "linux.resources.hugepageLimits[0]"
    assert "'3MB'" in str(e.value) and "2MB, 1GB" in str(e.value)


@pytest.mark.usefixtures("hugepages")
def test_hugetlb_nowhere_names_field(tmp_path: Path) -> None:
    _root, ctr = unified_tree(tmp_path, ctrls="")  # cgroup2 without hugetlb, no v1 hierarchy
    with pytest.raises(PyruntimeError) as e:
        v1_resources.apply_hugetlb({"unified": str(ctr)}, [{"pageSize": "2MB", "limit": 1}], Recorder())
    assert e.value.field == "linux.resources.hugepageLimits[0]" and "not mounted" in str(e.value)


def test_enable_in_parents_ebusy_explains_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, ctr = unified_tree(tmp_path)

    def busy(fd: int, data: bytes) -> int:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(os, "write", busy)
    with pytest.raises(PyruntimeError) as e:
        v1_resources.enable_in_parents(str(root), str(ctr), "hugetlb", "f")
    monkeypatch.undo()
    assert e.value.errno == errno.EBUSY and "no-internal-process" in str(e.value)
    assert e.value.path == str(root / "cgroup.subtree_control")


def test_needs_unified(tmp_path: Path) -> None:
    root, _ctr = unified_tree(tmp_path)
    hp = {"resources": {"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}}
    hybrid = {"memory": "/m", "unified": str(root)}
    assert Manager.needs_unified(hp, hybrid)
    assert not Manager.needs_unified({"resources": {}}, hybrid)
    assert not Manager.needs_unified({}, hybrid)
    assert not Manager.needs_unified(hp, dict(hybrid, hugetlb="/h")), "v1 hugetlb: not needed"
    assert not Manager.needs_unified(hp, {"memory": "/m"})
    (root / "cgroup.controllers").write_text("memory pids")
    assert not Manager.needs_unified(hp, hybrid)


def test_with_unified_keeps_or_drops_cgroup2(tmp_path: Path) -> None:
    mounts = {"memory": "/sys/fs/cgroup/memory", "unified": "/sys/fs/cgroup/unified"}
    assert "unified" in Manager.for_config("/c", "c", mounts, with_unified=True).paths
    assert "unified" not in Manager.for_config("/c", "c", mounts, with_unified=False).paths


# ---------------------------------------------------------------- memory.checkBeforeUpdate

def test_check_memory_usage_v1(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "memory", memory__usage_in_bytes=f"{20 * MIB}\n")
    m = Manager({"memory": str(d), "unified": str(tmp_path / "u")})
    with pytest.raises(PyruntimeError) as e:
        m.check_memory_usage(8 * MIB)
    assert "memory.usage_in_bytes" in str(e.value) and "linux.resources.memory.limit" in str(e.value)
    assert str(8 * MIB) in str(e.value) and str(20 * MIB) in str(e.value)
    with pytest.raises(PyruntimeError):
        m.check_memory_usage(20 * MIB)  # at the usage: refused (runc: usage >= limit)
    m.check_memory_usage(32 * MIB)
    m.check_memory_usage(-1)  # unlimited: nothing to check


def test_check_memory_usage_cgroup2(tmp_path: Path) -> None:
    d = fake_cgroup(tmp_path / "ctr", memory__current=f"{20 * MIB}\n")
    m = Manager({"unified": str(d)})
    with pytest.raises(PyruntimeError) as e:
        m.check_memory_usage(8 * MIB)
    assert "memory.current" in str(e.value)
    m.check_memory_usage(64 * MIB)


def test_check_memory_usage_unreadable_names_field(tmp_path: Path) -> None:
    with pytest.raises(PyruntimeError) as e:
        Manager({"memory": str(tmp_path)}).check_memory_usage(MIB)
    assert e.value.field == "linux.resources.memory.checkBeforeUpdate"


def test_update_takes_check_before_update() -> None:
    assert requested({"memory": {"limit": MIB, "checkBeforeUpdate": True}}) == \
        {"memory": {"limit": MIB, "checkBeforeUpdate": True}}
    with pytest.raises(PyruntimeError) as e:
        requested({"memory": {"checkBeforeUpdate": 1}})
    assert "LinuxResources.memory.checkBeforeUpdate of type bool" in str(e.value)
