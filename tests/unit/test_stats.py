"""cgroups/stats.py: runc's `events` stats from v1 cgroup files.

tests/unit/data/stats_v1 holds the files of a (paused) container run by
runc 1.1.5 and runc-events.json what `runc events --stats` printed for it
at that moment: the reader must give exactly that, key order included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyruntime.cgroups import stats
from tests.unit.conftest import DATA

V1 = DATA / "stats_v1"


def paths(root: Path) -> dict[str, str]:
    return {c: str(root / c) for c in ("cpu", "cpuacct", "cpuset", "pids", "blkio", "memory")}


def test_same_as_runc_1_1_5() -> None:
    want = json.loads((V1 / "runc-events.json").read_text())
    assert want["type"] == "stats"
    got = stats.read_stats(paths(V1))
    assert got == want["data"]
    # the same bytes as Go's encoder: key order and omitted zero values
    assert json.dumps(got, separators=(",", ":")) == json.dumps(want["data"], separators=(",", ":"))


def test_no_controllers_gives_runc_zero_shape() -> None:
    got = stats.read_stats({})
    entry = {"limit": 0, "failcnt": 0}
    assert got == {
        "cpu": {"usage": {"kernel": 0, "user": 0}, "throttling": {}},
        "cpuset": {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0, "memory_migrate": 0,
                   "memory_spread_page": 0, "memory_spread_slab": 0, "memory_pressure": 0,
                   "sched_load_balance": 0, "sched_relax_domain_level": 0},
        "memory": {"usage": entry, "swap": entry, "kernel": entry, "kernelTCP": entry},
        "pids": {}, "blkio": {}, "hugetlb": {}, "intel_rdt": {}, "network_interfaces": None,
    }


def test_memory_without_swap_accounting(tmp_path: Path) -> None:
    m = tmp_path / "memory"
    m.mkdir()
    for f, v in (("usage_in_bytes", "4096"), ("max_usage_in_bytes", "8192"), ("failcnt", "3"),
                 ("limit_in_bytes", "9223372036854771712")):
        (m / f"memory.{f}").write_text(v + "\n")
    (m / "memory.stat").write_text("cache 12288\nrss 4096\n")
    got = stats.memory(str(m))
    assert got == {"cache": 12288,
                   "usage": {"limit": 9223372036854771712, "usage": 4096, "max": 8192, "failcnt": 3},
                   "swap": {"limit": 0, "failcnt": 0}, "kernel": {"limit": 0, "failcnt": 0},
                   "kernelTCP": {"limit": 0, "failcnt": 0},
                   "raw": {"cache": 12288, "rss": 4096}}


def test_pids_and_throttling(tmp_path: Path) -> None:
    (tmp_path / "pids.current").write_text("3\n")
    (tmp_path / "pids.max").write_text("max\n")
    assert stats.pids(str(tmp_path)) == {"current": 3}
    (tmp_path / "pids.max").write_text("10\n")
    assert stats.pids(str(tmp_path)) == {"current": 3, "limit": 10}
    (tmp_path / "cpu.stat").write_text("nr_periods 7\nnr_throttled 2\nthrottled_time 99\nnr_bursts 0\n")
    assert stats.cpu_throttling(str(tmp_path)) == {"periods": 7, "throttledPeriods": 2,
                                                   "throttledTime": 99}


def test_blkio_parsing_and_fallback(tmp_path: Path) -> None:
    text = "8:0 Read 1282048\n8:0 Write 0\n8:16 Total 5\nTotal 1282053\n"
    assert stats.parse_blkio(text) == [{"major": 8, "op": "Read", "value": 1282048},
                                       {"major": 8, "op": "Write"},
                                       {"major": 8, "minor": 16, "op": "Total", "value": 5}]
    assert stats.parse_blkio("8:0 6792\n") == [{"major": 8, "value": 6792}]
    with pytest.raises(stats.StatsError):
        stats.parse_blkio("garbage\n")
    # no bfq/cfq data: the throttle files
    (tmp_path / "blkio.bfq.io_serviced_recursive").write_text("")
    (tmp_path / "blkio.throttle.io_serviced_recursive").write_text("8:0 Read 2\nTotal 2\n")
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text("8:0 Read 8192\nTotal 8192\n")
    assert stats.blkio(str(tmp_path)) == {
        "ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 8192}],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 2}]}


def test_hugetlb(tmp_path: Path) -> None:
    hp = tmp_path / "hugepages"
    for d in ("hugepages-2048kB", "hugepages-1048576kB", "hugepages-64kB"):
        (hp / d).mkdir(parents=True)
    assert stats.hugepage_sizes(str(hp)) == ["1GB", "2MB", "64KB"]
    cg = tmp_path / "cg"
    cg.mkdir()
    for f, v in (("usage_in_bytes", "0"), ("max_usage_in_bytes", "2097152"), ("failcnt", "1")):
        (cg / f"hugetlb.2MB.{f}").write_text(v + "\n")
    assert stats.hugetlb(str(cg), ["1GB", "2MB"]) == {"2MB": {"max": 2097152, "failcnt": 1}}


@pytest.mark.parametrize(("text", "want"), [
    ("0-3,8,10-11\n", [0, 1, 2, 3, 8, 10, 11]), ("0\n", [0]), ("\n", []),
])
def test_range_list(text: str, want: list[int]) -> None:
    assert stats.parse_range_list(text) == want


def test_parse_uint() -> None:
    assert stats.parse_uint("max\n") == stats.U64_MAX
    assert stats.parse_uint("-1") == 0
    assert stats.parse_uint("42\n") == 42
    with pytest.raises(stats.StatsError):
        stats.parse_uint("x")
