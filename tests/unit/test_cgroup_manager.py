"""cgroups/manager.Manager: path rules with recorded hierarchies, and
create/apply/destroy against a tmp tree standing in for /sys/fs/cgroup."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from pyruntime.cgroups import manager as manager_mod
from pyruntime.cgroups.hierarchy import parse_hierarchies
from pyruntime.cgroups.manager import Manager
from pyruntime.errors import PyruntimeError
from pyruntime.state.procfs import parse_proc_cgroup
from tests.unit.conftest import DATA

MEMORY_OWN = "/process_api/064cf5b84549d9295d1dc54fdd48ffe0"


def recorded_mounts() -> dict[str, str]:
    return parse_hierarchies((DATA / "proc_self_mountinfo.txt").read_text())


def recorded_own() -> dict[str, str]:
    d = parse_proc_cgroup((DATA / "proc_self_cgroup.txt").read_text())
    d["unified"] = d.pop("")
    return d


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_mod, "hierarchies", recorded_mounts)
    monkeypatch.setattr(manager_mod, "own_cgroups", recorded_own)


# -- path rules ----------------------------------------------------------------------

@pytest.mark.usefixtures("recorded")
def test_default_path_is_own_cgroup_plus_id() -> None:
    m = Manager.for_config(None, "ctr1")
    assert m.paths["memory"] == f"/sys/fs/cgroup/memory{MEMORY_OWN}/ctr1"
    assert m.paths["cpu"] == "/sys/fs/cgroup/cpu/ctr1"
    assert m.paths["name=systemd"] == "/sys/fs/cgroup/systemd/ctr1"
    assert m.paths["unified"] == "/sys/fs/cgroup/unified/ctr1"
    assert set(m.paths) == set(recorded_mounts())
    assert m.created == []


@pytest.mark.usefixtures("recorded")
def test_empty_path_is_the_default() -> None:
    assert Manager.for_config("", "c").paths == Manager.for_config(None, "c").paths


@pytest.mark.usefixtures("recorded")
def test_relative_path_is_below_own_cgroup() -> None:
    m = Manager.for_config("a/b", "ctr1")
    assert m.paths["memory"] == f"/sys/fs/cgroup/memory{MEMORY_OWN}/a/b"
    assert m.paths["pids"] == "/sys/fs/cgroup/pids/a/b"


@pytest.mark.usefixtures("recorded")
def test_absolute_path_is_from_the_hierarchy_root() -> None:
    m = Manager.for_config("/machine/ctr//x/", "ctr1")
    assert m.paths["memory"] == "/sys/fs/cgroup/memory/machine/ctr/x"
    assert m.paths["devices"] == "/sys/fs/cgroup/devices/machine/ctr/x"
    assert m.paths["unified"] == "/sys/fs/cgroup/unified/machine/ctr/x"


@pytest.mark.usefixtures("recorded")
def test_systemd_form_refused() -> None:
    with pytest.raises(PyruntimeError) as e:
        Manager.for_config("system.slice:docker:abc", "ctr1")
    assert "systemd form" in str(e.value)
    assert "'system.slice:docker:abc'" in str(e.value)


@pytest.mark.usefixtures("recorded")
@pytest.mark.parametrize("path", ["/../../etc", "../../../../../etc", "a/../../../../../../etc",
                                  "/a/../../b"])
def test_dotdot_never_leaves_the_hierarchy(path: str) -> None:
    try:
        m = Manager.for_config(path, "ctr1")
    except PyruntimeError as e:
        assert "must not contain '..'" in str(e)
        assert "linux.cgroupsPath" in str(e)
        return
    mounts = recorded_mounts()
    for ctrl, p in m.paths.items():
        assert p == mounts[ctrl] or p.startswith(mounts[ctrl] + "/"), (ctrl, p)
        assert ".." not in p.split("/")


@pytest.mark.usefixtures("recorded")
def test_dotdot_escaping_is_refused() -> None:
    with pytest.raises(PyruntimeError, match=r"linux.cgroupsPath: '../../../../x' must not contain '..'"):
        Manager.for_config("../../../../x", "ctr1")


def test_state_round_trip() -> None:
    m = Manager({"memory": "/a/m"}, ["/a", "/a/m"])
    m2 = Manager.from_state(m.to_state())
    assert m2.paths == {"memory": "/a/m"}
    assert m2.created == ["/a", "/a/m"]
    assert Manager.from_state(None).paths == {}
    assert Manager.from_state({}).created == []


# -- a fake cgroupfs in tmp --------------------------------------------------------

CONTROL_FILES: dict[str, dict[str, str]] = {
    "memory": {"memory.limit_in_bytes": "9223372036854771712\n",
               "memory.soft_limit_in_bytes": "9223372036854771712\n"},
    "pids": {"pids.max": "max\n"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "freezer": {"freezer.state": "THAWED\n"},
}


class FakeCgroupOs:
    """Stands in for the os module inside manager.py: mkdir fills a new
    directory with control files as the kernel would, rmdir removes them,
    and a write replaces a control file's value."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.rmdirs: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _ctrl(self, path: str) -> str:
        return Path(path).relative_to(self.base).parts[0]

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        os.mkdir(path, mode)
        files = {"cgroup.procs": "", **CONTROL_FILES.get(self._ctrl(path), {})}
        for name, content in files.items():
            Path(path, name).write_text(content)

    def open(self, path: str, flags: int, mode: int = 0o777) -> int:
        # A cgroup file takes each write(2) as a whole new value.
        if flags & os.O_WRONLY and Path(path).is_relative_to(self.base):
            flags |= os.O_TRUNC
        return os.open(path, flags, mode)

    def rmdir(self, path: str) -> None:
        self.rmdirs.append(path)
        if os.path.isdir(path):
            for entry in os.listdir(path):
                if os.path.isfile(os.path.join(path, entry)):
                    os.unlink(os.path.join(path, entry))
        os.rmdir(path)


@pytest.fixture
def cgroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeCgroupOs]:
    """tmp/{memory,pids,devices,cpuset,freezer}: hierarchy roots with an
    existing (not ours) parent cgroup "parent" in each."""
    base = tmp_path / "cg"
    for ctrl in ("memory", "pids", "devices", "cpuset", "freezer"):
        d = base / ctrl / "parent"
        d.mkdir(parents=True)
        for p in (base / ctrl, d):
            (p / "cgroup.procs").write_text("")
            for name, content in CONTROL_FILES.get(ctrl, {}).items():
                (p / name).write_text(content)
    for p in (base / "cpuset", base / "cpuset" / "parent"):
        (p / "cpuset.cpus").write_text("0-3\n")
        (p / "cpuset.mems").write_text("0\n")
    fake = FakeCgroupOs(base)
    monkeypatch.setattr(manager_mod, "os", fake)
    monkeypatch.setattr(manager_mod, "hierarchies",
                        lambda: {c: str(base / c) for c in ("memory", "pids", "devices", "cpuset", "freezer")})
    monkeypatch.setattr(manager_mod, "own_cgroups",
                        lambda: {c: "/parent" for c in ("memory", "pids", "devices", "cpuset", "freezer")})
    return base, fake


def test_create_makes_missing_directories_parents_first(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config("pod/ctr", "ignored")
    m.create()
    for ctrl in ("memory", "pids", "devices", "cpuset", "freezer"):
        assert (base / ctrl / "parent" / "pod" / "ctr").is_dir()
        i = m.created.index(str(base / ctrl / "parent" / "pod"))
        assert m.created[i + 1] == str(base / ctrl / "parent" / "pod" / "ctr")
    assert len(m.created) == 10
    assert str(base / "memory" / "parent") not in m.created


def test_create_fills_an_empty_cpuset_parent_a_parallel_create_made(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    """Two creates under one new pod cgroup: the other made parent/pod but has
    not copied cpus and mems into it yet. Ours finds pod existing, and must
    fill it (from parent) before its leaf: a leaf copied from the empty pod
    stays empty and joining it is ENOSPC (seen 1 run in 15 of
    test_creates_racing_deletes_under_one_new_parent)."""
    base, fake = cgroot
    fake.mkdir(str(base / "cpuset" / "parent" / "pod"))  # the other create, midway
    m = Manager.for_config("pod/ctr", "ignored")
    m.create()
    for level in ("pod", "pod/ctr"):
        d = base / "cpuset" / "parent" / level
        assert (d / "cpuset.cpus").read_text().strip() == "0-3", level
        assert (d / "cpuset.mems").read_text().strip() == "0", level
    assert str(base / "cpuset" / "parent" / "pod") not in m.created


def test_create_is_idempotent_for_existing_dirs(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    (base / "memory" / "parent" / "ctr").mkdir()
    m = Manager.for_config(None, "ctr")
    m.create()
    assert str(base / "memory" / "parent" / "ctr") not in m.created
    assert str(base / "pids" / "parent" / "ctr") in m.created


def test_new_cpuset_inherits_cpus_and_mems(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config("/top/ctr", "x")
    m.create()
    for d in (base / "cpuset" / "top", base / "cpuset" / "top" / "ctr"):
        assert (d / "cpuset.cpus").read_text() == "0-3"
        assert (d / "cpuset.mems").read_text() == "0"


def test_apply_writes_limits_and_device_rules(cgroot: tuple[Path, FakeCgroupOs],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    base, _ = cgroot
    writes: list[tuple[str, str]] = []
    real_write = manager_mod._write

    def recording_write(path: str, value: str) -> None:
        writes.append((path, value))
        real_write(path, value)

    monkeypatch.setattr(manager_mod, "_write", recording_write)
    m = Manager.for_config(None, "ctr")
    m.create()
    m.apply({"memory": {"limit": 64 << 20, "reservation": -1},
             "pids": {"limit": 42},
             "devices": [{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rwm"}]})
    ctr = {c: base / c / "parent" / "ctr" for c in ("memory", "pids", "devices")}
    assert (ctr["memory"] / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (ctr["memory"] / "memory.soft_limit_in_bytes").read_text() == "-1"
    assert (ctr["pids"] / "pids.max").read_text() == "42"
    dev = [(Path(p).name, v) for p, v in writes if Path(p).parent == ctr["devices"]]
    assert dev[:3] == [("devices.deny", "a"), ("devices.allow", "c 10:229 rwm"),
                       ("devices.allow", "c *:* m")]
    assert len(dev) == 2 + 12
    # nothing outside the container's own cgroups was written
    assert all(Path(p).parent in ctr.values() or Path(p).parent.parent == base / "cpuset" / "parent"
               for p, _ in writes)


@pytest.mark.parametrize(("limit", "want"), [(0, "0"), (-1, "max"), (1, "1")])
def test_apply_pids_limit(cgroot: tuple[Path, FakeCgroupOs], limit: int, want: str) -> None:
    base, _ = cgroot
    m = Manager.for_config(None, "ctr")
    m.create()
    m.apply({"pids": {"limit": limit}})
    assert (base / "pids" / "parent" / "ctr" / "pids.max").read_text() == want


def test_apply_nothing(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config(None, "ctr")
    m.create()
    m.apply(None)
    assert (base / "pids" / "parent" / "ctr" / "pids.max").read_text() == "max\n"
    assert (base / "memory" / "parent" / "ctr" / "memory.limit_in_bytes").read_text().startswith("922")


def test_apply_missing_control_file_names_the_field(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config(None, "ctr")
    m.create()
    with pytest.raises(PyruntimeError) as e:
        m.apply({"memory": {"swap": 1 << 30}})  # no memory.memsw.* without swap accounting
    target = base / "memory" / "parent" / "ctr" / "memory.memsw.limit_in_bytes"
    assert e.value.field == "linux.resources.memory.swap"
    assert e.value.path == str(target)
    assert e.value.errno == errno.ENOENT
    assert str(e.value) == (f"linux.resources.memory.swap: writing '{1 << 30}' to {target}: "
                            "No such file or directory")


def test_procs_reads_cgroup_procs(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config(None, "ctr")
    assert m.procs() == []  # not created yet
    m.create()
    assert m.procs() == []
    (base / "freezer" / "parent" / "ctr" / "cgroup.procs").write_text("12\n34\n")
    assert m.procs() == [12, 34]


def test_destroy_removes_only_its_own_leaves(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, fake = cgroot
    (base / "memory" / "parent" / "pod").mkdir()  # exists before: not ours
    m = Manager.for_config("pod/ctr", "x")
    m.create()
    created = list(m.created)
    assert str(base / "memory" / "parent" / "pod") not in created
    restored = Manager.from_state(m.to_state())
    restored.destroy()
    assert restored.created == []
    leaves = [d for d in created if d.endswith("/ctr")]
    assert leaves and fake.rmdirs == list(reversed(leaves))  # never a parent, as runc
    for ctrl in ("memory", "pids", "devices", "cpuset", "freezer"):
        assert not (base / ctrl / "parent" / "pod" / "ctr").exists()
        assert (base / ctrl / "parent").is_dir()
    assert (base / "memory" / "parent" / "pod").is_dir()
    assert (base / "pids" / "parent" / "pod").is_dir()  # ours, but a parent: stays


def test_destroy_tolerates_already_removed(cgroot: tuple[Path, FakeCgroupOs]) -> None:
    base, _ = cgroot
    m = Manager.for_config(None, "ctr")
    m.create()
    for d in m.created:
        for f in Path(d).iterdir():
            f.unlink()
        os.rmdir(d)
    m.destroy()
    assert m.created == []


def test_destroy_error_names_the_cgroup(cgroot: tuple[Path, FakeCgroupOs],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    base, fake = cgroot
    m = Manager.for_config(None, "ctr")
    m.create()

    def deny(path: str) -> None:
        raise PermissionError(errno.EACCES, "denied", path)

    monkeypatch.setattr(fake, "rmdir", deny, raising=False)
    with pytest.raises(PyruntimeError) as e:
        m.destroy()
    assert str(e.value).startswith(f"removing cgroup {m.created[-1]}: Permission denied")
    assert e.value.path == m.created[-1]
