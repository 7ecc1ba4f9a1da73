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


def test_running_systemd_is_refused_by_name(tmp_path: Path) -> None:
    run_dir = tmp_path / "system"
    run_dir.mkdir()
    assert systemd.systemd_running(str(run_dir))
    with pytest.raises(PyruntimeError, match="over D-Bus .* is not implemented"):
        systemd.prepare("system.slice:docker:1", "cid", str(run_dir))


def test_this_host_detection_matches_pid1() -> None:
    running = Path("/run/systemd/system").is_dir()
    assert systemd.systemd_running() == running
