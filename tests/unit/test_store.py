"""state/store.Container in a tmp --root: create/load/save and derived status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyruntime import SPEC_VERSION
from pyruntime.errors import ContainerExists, ContainerNotFound, InvalidId, PyruntimeError
from pyruntime.state.store import FORMAT_VERSION, Container, list_ids


def own_start_time() -> int:
    with open("/proc/self/stat") as f:
        text = f.read()
    return int(text[text.rindex(")") + 2:].split()[19])


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def test_create_makes_locked_dir(root: str) -> None:
    c = Container.create(root, "c1")
    try:
        assert c.dir == os.path.join(root, "c1")
        assert os.path.isdir(c.dir)
        assert c.exists()
        assert c.lock_fd >= 0
        assert os.stat(c.dir).st_mode & 0o777 == 0o711
    finally:
        c.unlock()
    assert c.lock_fd == -1


def test_duplicate_create(root: str) -> None:
    Container.create(root, "c1").unlock()
    with pytest.raises(ContainerExists) as e:
        Container.create(root, "c1")
    assert str(e.value) == "container with given ID already exists: c1"
    assert "container with given ID already exists" in str(e.value)


def test_create_checks_id(root: str) -> None:
    with pytest.raises(InvalidId):
        Container.create(root, "../evil")
    assert not os.path.exists(os.path.join(os.path.dirname(root), "evil"))


def test_save_and_load(root: str) -> None:
    c = Container.create(root, "c1")
    c.data.update({"pid": 123, "bundle": "/b", "created": "2024-01-01T00:00:00.000000000Z"})
    c.save()
    c.unlock()
    with open(os.path.join(root, "c1", "state.json")) as f:
        on_disk = json.load(f)
    assert on_disk["version"] == FORMAT_VERSION
    assert not os.path.exists(os.path.join(root, "c1", ".state.json.tmp"))
    loaded = Container.load(root, "c1")
    assert loaded.data == on_disk
    assert loaded.pid == 123
    assert loaded.lock_fd == -1
    locked = Container.load(root, "c1", lock=True)
    assert locked.lock_fd >= 0
    locked.unlock()


def test_save_config(root: str) -> None:
    c = Container.create(root, "c1")
    c.save_config(b'{"ociVersion": "1.2.1"}')
    assert c.config() == {"ociVersion": "1.2.1"}
    c.unlock()


def test_load_missing(root: str) -> None:
    with pytest.raises(ContainerNotFound) as e:
        Container.load(root, "nope")
    assert str(e.value) == "container does not exist"
    with pytest.raises(ContainerNotFound):
        Container.load(root, "nope", lock=True)


def test_load_dir_without_state_is_empty(root: str) -> None:
    Container.create(root, "c1").unlock()  # a create killed before it wrote anything
    c = Container.load(root, "c1")
    assert c.data == {}
    assert c.status() == "stopped"


def test_load_corrupt(root: str) -> None:
    Container.create(root, "c1").unlock()
    Path(root, "c1", "state.json").write_text("{not json")
    with pytest.raises(PyruntimeError, match=r"c1/state.json is corrupt"):
        Container.load(root, "c1")


def test_newer_format_refused(root: str) -> None:
    Container.create(root, "c1").unlock()
    Path(root, "c1", "state.json").write_text(json.dumps({"version": FORMAT_VERSION + 1}))
    with pytest.raises(PyruntimeError) as e:
        Container.load(root, "c1", lock=True)
    assert str(e.value) == (f"{root}/c1/state.json has format {FORMAT_VERSION + 1}, newer than "
                            f"this pyruntime ({FORMAT_VERSION})")


def test_destroy(root: str) -> None:
    c = Container.create(root, "c1")
    c.save()
    os.mkfifo(c.fifo)
    os.mkdir(os.path.join(c.dir, "sub"))
    c.destroy()
    assert not c.exists()
    assert c.lock_fd == -1
    c.destroy()  # again: nothing left, no error


def live(root: str, cid: str = "c1", **data: object) -> Container:
    c = Container.create(root, cid)
    c.data.update({"pid": os.getpid(), "start_time": own_start_time(), "bundle": "/bundle",
                   "rootfs": "/bundle/rootfs", "created": "2024-10-22T10:00:00.123456789Z",
                   "owner": ""})
    c.data.update(data)
    c.save()
    c.unlock()
    return c


def test_status_no_pid_is_stopped(root: str) -> None:
    c = live(root)
    del c.data["pid"]
    assert c.status() == "stopped"
    c.data["pid"] = 0
    assert c.status() == "stopped"


def test_status_created_with_fifo(root: str, waiting_init: tuple[int, int]) -> None:
    pid, start = waiting_init  # still named pyrt:[2:INIT]: it has not exec'd
    c = live(root, pid=pid, start_time=start)
    os.mkfifo(c.fifo)
    assert c.status() == "created"


def test_status_fifo_left_by_a_killed_start_is_running(root: str) -> None:
    c = live(root)  # this process: not named pyrt:[2:INIT], i.e. exec'd
    os.mkfifo(c.fifo)
    assert c.status() == "running"


def test_status_running_without_fifo(root: str) -> None:
    c = live(root)
    assert c.init_alive()
    assert c.status() == "running"


def test_status_pid_reuse_is_stopped(root: str) -> None:
    c = live(root, start_time=own_start_time() + 1)
    os.mkfifo(c.fifo)
    assert not c.init_alive()
    assert c.status() == "stopped"


def test_status_missing_start_time_is_stopped(root: str) -> None:
    c = live(root)
    del c.data["start_time"]
    assert c.status() == "stopped"


def test_status_creating_until_created_is_set(root: str) -> None:
    c = live(root)
    del c.data["created"]
    assert c.status() == "creating"
    c.data["pid"] = 0
    assert c.status() == "stopped"


def test_status_paused_when_freezer_frozen(root: str, tmp_path: Path) -> None:
    fz = tmp_path / "freezer"
    fz.mkdir()
    (fz / "freezer.state").write_text("FROZEN\n")
    c = live(root, cgroup={"paths": {"freezer": str(fz)}, "created": []})
    assert c.status() == "paused"
    (fz / "freezer.state").write_text("THAWED\n")
    assert c.status() == "running"
    (fz / "freezer.state").unlink()
    assert c.status() == "running"


def test_oci_state_running(root: str) -> None:
    c = live(root, annotations={"a": "b"})
    s = c.oci_state()
    assert s == {"ociVersion": SPEC_VERSION, "id": "c1", "pid": os.getpid(), "status": "running",
                 "bundle": "/bundle", "rootfs": "/bundle/rootfs",
                 "created": "2024-10-22T10:00:00.123456789Z", "owner": "", "annotations": {"a": "b"}}


def test_oci_state_stopped_has_pid_zero(root: str) -> None:
    c = live(root, start_time=1)
    s = c.oci_state()
    assert s["status"] == "stopped"
    assert s["pid"] == 0
    assert set(s) == {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}


def test_list_ids(root: str, tmp_path: Path) -> None:
    assert list_ids(root) == []  # root does not exist yet
    for cid in ("b", "a", "c"):
        Container.create(root, cid).unlock()
    Path(root, "stray-file").write_text("")
    assert list_ids(root) == ["a", "b", "c"]
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(PyruntimeError, match="is not a directory"):
        list_ids(str(f))
