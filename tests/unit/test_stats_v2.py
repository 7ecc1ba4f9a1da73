"""cgroups/stats.py on cgroup v2: runc 1.1 fs2's stats (cpu.stat in usec ->
ns, memory.current/max, memory.swap.* reported as memory+swap, memory.stat as
raw, pids, io.stat onto v1's blkio tables, hugetlb .current/.events) and the
memory.events oom_kill watcher."""

from __future__ import annotations

import json
import os
import select
from pathlib import Path

from pyruntime.cgroups import stats

U64 = stats.U64_MAX


def _files(d: Path, files: dict[str, str]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for k, v in files.items():
        (d / k).write_text(v)
    return d


FULL = {
    "cpu.stat": "usage_usec 2500\nuser_usec 1500\nsystem_usec 1000\nnr_periods 10\n"
                "nr_throttled 3\nthrottled_usec 7\nnr_bursts 0\nburst_usec 0\n",
    "memory.stat": "anon 4096\nfile 8192\nkernel 100\n",
    "memory.current": "12288\n",
    "memory.max": "33554432\n",
    "memory.swap.current": "4096\n",
    "memory.swap.max": "0\n",
    "pids.current": "2\n",
    "pids.max": "50\n",
    "io.stat": "8:0 rbytes=1024 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n"
               "253:1 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0\n",
    "hugetlb.2MB.current": "2097152\n",
    "hugetlb.2MB.events": "max 3\n",
    "hugetlb.1GB.current": "0\n",
    "hugetlb.1GB.events": "max 0\n",
}


def test_full_v2_stats(tmp_path: Path) -> None:
    d = _files(tmp_path / "cg", FULL)
    got = stats.read_stats_v2(str(d))
    got["hugetlb"] = stats.hugetlb_v2(str(d), ["1GB", "2MB"])
    assert list(got) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                         "network_interfaces"]
    assert got["cpu"] == {"usage": {"total": 2_500_000, "kernel": 1_000_000, "user": 1_500_000},
                          "throttling": {"periods": 10, "throttledPeriods": 3, "throttledTime": 7000}}
    assert got["cpuset"] == stats.cpuset(None)
    assert got["memory"] == {
        "cache": 8192,
        "usage": {"limit": 33554432, "usage": 12288, "failcnt": 0},
        "swap": {"limit": 33554432, "usage": 16384, "failcnt": 0},  # memory + swap, as v1
        "kernel": {"limit": 0, "failcnt": 0}, "kernelTCP": {"limit": 0, "failcnt": 0},
        "raw": {"anon": 4096, "file": 8192, "kernel": 100}}
    assert got["pids"] == {"current": 2, "limit": 50}
    assert got["blkio"] == {
        "ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 1024},
                                    {"major": 8, "op": "Write"},
                                    {"major": 253, "minor": 1, "op": "Read"},
                                    {"major": 253, "minor": 1, "op": "Write", "value": 4096}],
        "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 2}, {"major": 8, "op": "Write"},
                                {"major": 253, "minor": 1, "op": "Read"},
                                {"major": 253, "minor": 1, "op": "Write", "value": 1}]}
    assert got["hugetlb"] == {"1GB": {"failcnt": 0}, "2MB": {"usage": 2097152, "failcnt": 3}}
    # Go's encoder order: the key order above is the one printed
    text = json.dumps(got["memory"], separators=(",", ":"))
    assert text.startswith('{"cache":8192,"usage":{"limit":33554432,"usage":12288,"failcnt":0}')


def test_unlimited_and_no_swap_accounting(tmp_path: Path) -> None:
    files = dict(FULL)
    files["memory.max"] = "max\n"
    files["pids.max"] = "max\n"
    del files["memory.swap.current"], files["memory.swap.max"]
    d = _files(tmp_path / "cg", files)
    mem = stats.memory_v2(str(d))
    assert mem["usage"] == {"limit": U64, "usage": 12288, "failcnt": 0}
    # runc: no swap files -> zero swap data, then memory added on top
    assert mem["swap"] == {"limit": U64, "usage": 12288, "failcnt": 0}
    assert stats.pids_v2(str(d)) == {"current": 2}
    (d / "memory.swap.current").write_text("0\n")
    (d / "memory.swap.max").write_text("max\n")
    assert stats.memory_v2(str(d))["swap"] == {"limit": U64, "usage": 12288, "failcnt": 0}


def test_no_controllers(tmp_path: Path) -> None:
    d = _files(tmp_path / "cg", {"cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
                                 "cgroup.procs": "1\n2\n3\n"})
    got = stats.read_stats_v2(str(d))
    entry = {"limit": 0, "failcnt": 0}
    assert got["cpu"] == {"usage": {"kernel": 0, "user": 0}, "throttling": {}}
    assert got["memory"] == {"usage": entry, "swap": entry, "kernel": entry, "kernelTCP": entry}
    assert got["pids"] == {"current": 3}  # runc counts cgroup.procs without the pids controller
    assert got["blkio"] == {} and got["hugetlb"] == {}


def test_io_stat_skips_what_has_no_v1_name() -> None:
    assert stats.parse_io_stat("8:16 dbytes=5 dios=1\n\nbad\n") == {}


def test_oom_notifier_v2_counts_oom_kill_growth(tmp_path: Path) -> None:
    d = _files(tmp_path / "cg", {"memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n"})
    n = stats.OomNotifierV2(str(d))
    try:
        assert n.poll_mask == select.POLLPRI
        assert n.read() == 0  # the count at start is the baseline
        (d / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
        assert n.read() == 0  # max/oom moved, no kill
        (d / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\n")
        assert n.read() == 1 and n.read() == 0
        assert not n.gone
        os.unlink(d / "memory.events")
        os.rmdir(d)
        assert n.gone
    finally:
        n.close()
