"""update's request building (runc update.go rules) and ps's table filter."""

from __future__ import annotations

from typing import Any

import pytest

from pyruntime.cli.cmd_ps import filter_table
from pyruntime.cli.cmd_update import FLAGS, from_flags, ram_in_bytes
from pyruntime.cli.flags import parse
from pyruntime.errors import PyruntimeError
from pyruntime.lifecycle.update import requested

MIB = 1 << 20


@pytest.mark.parametrize(("text", "n"), [
    ("1024", 1024), ("64m", 64 * MIB), ("64M", 64 * MIB), ("64MiB", 64 * MIB), ("64mb", 64 * MIB),
    ("1.5g", 3 << 29), ("2 k", 2048), ("1t", 1 << 40), ("7b", 7),
])
def test_ram_in_bytes(text: str, n: int) -> None:
    assert ram_in_bytes(text) == n


@pytest.mark.parametrize("text", ["1x", "", "-5m", "m", "1.5.5.q"])
def test_ram_in_bytes_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        ram_in_bytes(text)


def flags(*argv: str) -> dict[str, Any]:
    return from_flags(parse(list(argv), FLAGS))


def test_from_flags() -> None:
    assert requested(flags("--memory", "32m", "--memory-swap=-1", "--pids-limit", "5")) == {
        "memory": {"limit": 32 * MIB, "swap": -1}, "pids": {"limit": 5}}
    assert requested(flags()) == {}
    assert requested(flags("--cpu-share", "512", "--cpu-quota", "-1", "--cpuset-cpus", "0-1",
                           "--blkio-weight", "300")) == {
        "cpu": {"shares": 512, "quota": -1, "cpus": "0-1"}, "blockIO": {"weight": 300}}
    with pytest.raises(PyruntimeError, match='invalid value for cpu-period: strconv.ParseUint'):
        flags("--cpu-period", "-5")
    with pytest.raises(PyruntimeError, match="invalid value for memory: invalid size: '1x'"):
        flags("--memory", "1x")


def test_requested_takes_only_what_runc_update_takes() -> None:
    res = {"memory": {"limit": 0, "swap": 5, "swappiness": 60, "disableOOMKiller": True},
           "cpu": {"shares": 0, "cpus": ""}, "pids": {"limit": 0},
           "devices": [{"allow": False, "access": "rwm"}],
           "hugepageLimits": [{"pageSize": "2MB", "limit": 1}], "unified": {"memory.high": "1"}}
    assert requested(res) == {"memory": {"swap": 5}, "unified": {"memory.high": "1"}}
    with pytest.raises(PyruntimeError, match="cannot unmarshal"):
        requested({"memory": {"limit": "1g"}})
    with pytest.raises(PyruntimeError, match="cannot unmarshal"):
        requested({"cpu": {"shares": -1}})


PS = """UID        PID  PPID  C STIME TTY          TIME CMD
root         1     0  0 09:00 ?        00:00:01 /sbin/init
root       200     1  0 09:01 ?        00:00:00 sleep 300
root       201   200  0 09:01 ?        00:00:00 sh -c x 200
"""


def test_filter_table() -> None:
    assert filter_table(PS, [200, 201, 999]) == [PS.splitlines()[0], PS.splitlines()[2],
                                                  PS.splitlines()[3]]
    assert filter_table(PS, []) == [PS.splitlines()[0]]
    with pytest.raises(PyruntimeError, match="couldn't find PID field"):
        filter_table("CMD\nsleep\n", [1])
