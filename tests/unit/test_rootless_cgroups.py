"""rootless.prune_cgroups / cgroup_mount_paths: the hierarchies left out
(not writable by the caller) are shown by the cgroup mount at the caller's
own cgroup, where the container stays, as runc 1.1.5 binds the init's own
cgroup of every v1 hierarchy (getCgroupMounts reads /proc/self/cgroup)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyruntime import rootless
from pyruntime.cgroups import hierarchy
from pyruntime.cgroups.manager import Manager

MOUNTS = {"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids",
          "name=systemd": "/sys/fs/cgroup/systemd", "unified": "/sys/fs/cgroup/unified"}
OWN = {"memory": "/user.slice/u1", "pids": "/", "name=systemd": "/user.slice/u1/s", "unified": "/x"}


@pytest.fixture(autouse=True)
def host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(hierarchy, "hierarchies", lambda: dict(MOUNTS))
    monkeypatch.setattr(hierarchy, "own_cgroups", lambda: dict(OWN))
    yield
    rootless._left_out.clear()


def _manager() -> Manager:
    return Manager({c: f"{m}/pod/ctr" for c, m in MOUNTS.items() if c != "unified"})


def test_nothing_writable_shows_the_callers_cgroups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "_can_use", lambda path: False)
    mgr = rootless.prune_cgroups(_manager(), None, None)
    assert mgr.paths == {}  # nothing joined, nothing made
    assert rootless.cgroup_mount_paths(mgr.paths) == {
        "memory": "/sys/fs/cgroup/memory/user.slice/u1", "pids": "/sys/fs/cgroup/pids",
        "name=systemd": "/sys/fs/cgroup/systemd/user.slice/u1/s"}


def test_a_delegated_hierarchy_keeps_the_containers_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rootless, "_can_use", lambda path: path.startswith("/sys/fs/cgroup/pids/"))
    mgr = rootless.prune_cgroups(_manager(), None, None)
    assert mgr.paths == {"pids": "/sys/fs/cgroup/pids/pod/ctr"}
    shown = rootless.cgroup_mount_paths(mgr.paths)
    assert shown["pids"] == "/sys/fs/cgroup/pids/pod/ctr"
    assert shown["memory"] == "/sys/fs/cgroup/memory/user.slice/u1"


def test_not_rootless_is_the_managers_paths() -> None:
    paths = _manager().paths
    assert rootless.cgroup_mount_paths(paths) is paths
