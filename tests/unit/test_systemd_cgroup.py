"""cgroups/systemd.py: runc's "slice:prefix:name" rules for --systemd-cgroup
and the clear error on a host where systemd does not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyruntime.cgroups import systemd
from pyruntime.errors import PyruntimeError


@pytest.mark.parametrize(("slice_name", "want"), [
    ("system.slice", "/system.slice"),
    ("test-a-b.slice", "/test.slice/test-a.slice/test-a-b.slice"),
    ("-.slice", "/"),
    ("machine.slice", "/machine.slice"),
])
def test_expand_slice(slice_name: str, want: str) -> None:
    assert systemd.expand_slice(slice_name) == want


@pytest.mark.parametrize("bad", ["system", ".slice", "test--a.slice", "-test.slice", "test-.slice",
                                 "a/b.slice", "system.scope", ""])
def test_expand_slice_refuses(bad: str) -> None:
    with pytest.raises(PyruntimeError, match="invalid slice name"):
        systemd.expand_slice(bad)


def test_parse_slice_prefix_name() -> None:
    sc = systemd.parse_cgroups_path("system.slice:docker:1234", "cid")
    assert (sc.slice, sc.prefix, sc.name) == ("system.slice", "docker", "1234")
    assert sc.unit == "docker-1234.scope"
    assert sc.path == "/system.slice/docker-1234.scope"
    sc = systemd.parse_cgroups_path("kubepods-burstable.slice:cri-containerd:abc", "cid")
    assert sc.path == "/kubepods.slice/kubepods-burstable.slice/cri-containerd-abc.scope"


def test_parse_defaults() -> None:
    sc = systemd.parse_cgroups_path(None, "mycid")
    assert sc.path == "/system.slice/runc-mycid.scope"
    sc = systemd.parse_cgroups_path(":pre:n", "mycid")  # empty slice: system.slice
    assert sc.path == "/system.slice/pre-n.scope"
    assert systemd.parse_cgroups_path("system.slice::n", "c").unit == "n.scope"


def test_parse_name_that_is_a_slice() -> None:
    sc = systemd.parse_cgroups_path("test.slice:x:test-sub.slice", "c")
    assert sc.unit == "test-sub.slice"
    assert sc.path == "/test.slice/test-sub.slice"


@pytest.mark.parametrize(("path", "text"), [
    ("/sys/fs/cgroup/foo", 'expected cgroupsPath to be of format "slice:prefix:name"'),
    ("a:b", 'expected cgroupsPath to be of format "slice:prefix:name"'),
    ("a.slice:b:c:d", 'expected cgroupsPath to be of format "slice:prefix:name"'),
    ("system:docker:1", "invalid slice name: system"),
    ("a--b.slice:docker:1", "invalid slice name"),
    ("system.slice:docker:", "the name (slice:prefix:name) is empty"),
    ("system.slice:do/cker:1", "cannot hold: '/'"),
    ("system.slice:docker:a b", "cannot hold: ' '"),
    ("system.slice:x:bad--.slice", "invalid slice name"),
])
def test_parse_refuses(path: str, text: str) -> None:
    with pytest.raises(PyruntimeError) as e:
        systemd.parse_cgroups_path(path, "cid")
    assert text in str(e.value)
    assert e.value.field == "linux.cgroupsPath"


def test_not_running_is_a_clear_error(tmp_path: Path) -> None:
    run_dir = tmp_path / "run-systemd-system"
    assert not systemd.systemd_running(str(run_dir))
    with pytest.raises(PyruntimeError) as e:
        systemd.prepare("system.slice:docker:1", "cid", str(run_dir))
    assert str(e.value) == ("--systemd-cgroup: systemd is not running on this host (no "
                            "/run/systemd/system); use the cgroupfs driver (no --systemd-cgroup)")


def test_path_is_checked_before_systemd(tmp_path: Path) -> None:
    with pytest.raises(PyruntimeError, match="slice:prefix:name"):
        systemd.prepare("/not/systemd/form", "cid", str(tmp_path / "none"))


def test_running_systemd_gives_the_unit(tmp_path: Path) -> None:
    run_dir = tmp_path / "system"
    run_dir.mkdir()
    assert systemd.systemd_running(str(run_dir))
    sc = systemd.prepare("system.slice:docker:1", "cid", str(run_dir))
    assert sc.unit == "docker-1.scope"


def test_assume_running_is_test_only_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    none = str(tmp_path / "none")
    monkeypatch.setenv(systemd.ASSUME_RUNNING_ENV, "0")
    assert not systemd.systemd_running(none)
    monkeypatch.setenv(systemd.ASSUME_RUNNING_ENV, "1")
    assert systemd.systemd_running(none)


def test_unit_properties_like_runc() -> None:
    sc = systemd.parse_cgroups_path("system.slice:pyrt:c1", "c1")
    res = {"memory": {"limit": 1 << 20}, "pids": {"limit": -1},
           "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}
    v2 = dict(systemd.unit_properties(sc, 42, res, v2=True))
    assert v2["Slice"] == ("s", "system.slice") and v2["Delegate"] == ("b", True)
    assert v2["PIDs"] == ("au", [42]) and v2["DefaultDependencies"] == ("b", False)
    assert v2["MemoryMax"] == ("t", 1 << 20)
    assert v2["TasksMax"] == ("t", (1 << 64) - 1)
    assert v2["CPUWeight"] == ("t", 39)
    assert v2["CPUQuotaPerSecUSec"] == ("t", 500000)
    v1 = dict(systemd.unit_properties(sc, 42, {"memory": {"limit": 4096}, "cpu": {"shares": 512,
                                                                                  "quota": 12345}},
                                      v2=False))
    assert v1["MemoryLimit"] == ("t", 4096) and v1["CPUShares"] == ("t", 512)
    assert v1["CPUQuotaPerSecUSec"] == ("t", 130000)  # rounded up to 10 ms, as runc
    assert "TasksMax" not in v1
    sl = dict(systemd.unit_properties(systemd.parse_cgroups_path("test.slice:x:test-sub.slice", "c"),
                                      0, None, v2=True))
    assert sl["Wants"] == ("as", ["test.slice"]) and "PIDs" not in sl and "Delegate" not in sl


def test_state_round_trip() -> None:
    from pyruntime.cgroups import factory
    from pyruntime.cgroups.manager import Manager

    sc = systemd.parse_cgroups_path("system.slice:pyrt:c1", "c1")
    m = systemd.for_config(sc, "c1", {"memory": "/sys/fs/cgroup/memory"})
    d = m.to_state()
    assert d["driver"] == "systemd" and d["systemd"]["unit"] == "pyrt-c1.scope"
    assert d["paths"] == {"memory": "/sys/fs/cgroup/memory/system.slice/pyrt-c1.scope"}
    back = factory.from_state(d)
    assert isinstance(back, Manager) and back.to_state() == d
    assert factory.from_state({"paths": {}}).to_state().get("driver") is None


def test_this_host_detection_matches_pid1() -> None:
    running = Path("/run/systemd/system").is_dir()
    assert systemd.systemd_running() == running
