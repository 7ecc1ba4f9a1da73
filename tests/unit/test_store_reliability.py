"""state/store.py under races and crashes: the lock follows the directory
that is really at the path, create retries when its fresh directory is
removed under it, a killed create is told apart from one at work,
state.json goes last; cgroups/pending.py."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyruntime.cgroups import pending
from pyruntime.errors import ContainerExists, ContainerNotFound
from pyruntime.state.procfs import INIT_COMM, parse_stat_comm
from pyruntime.state.store import Container


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "state")


def test_parse_stat_comm_with_parentheses_and_spaces() -> None:
    text = "42 (pyrt:[2:INIT]) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0"
    assert parse_stat_comm(text) == ("S", 777, INIT_COMM)
    odd = "43 (a) (b c)) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0"
    assert parse_stat_comm(odd) == ("R", 99, "a) (b c)")


def test_create_records_the_creator(root: str) -> None:
    c = Container.create(root, "c1")
    c.save()
    c.unlock()
    assert Container.load(root, "c1").data["creator"]["pid"] == os.getpid()


def test_unfinished_create_whose_creator_is_gone_is_stopped(root: str,
                                                            waiting_init: tuple[int, int]) -> None:
    pid, start = waiting_init
    c = Container.create(root, "c1")
    c.data.update({"pid": pid, "start_time": start})
    c.save()
    c.unlock()
    assert Container.load(root, "c1").status() == "creating"  # we, the creator, live
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    c.data["creator"] = {"pid": int(dead.stdout), "start_time": 1}
    c.save()
    assert Container.load(root, "c1").status() == "stopped"
    del c.data["creator"]  # a state written before the creator was recorded
    c.save()
    assert Container.load(root, "c1").status() == "creating"


def test_lock_follows_a_replaced_directory(root: str) -> None:
    """A command waiting for the lock of a directory that its holder removed
    (delete) and another create made again ends up holding the new one."""
    import time

    old = Container.create(root, "c1")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the waiter: reports the inode it got locked
        try:
            os.close(r)
            os.close(old.lock_fd)  # the parent's lock (one open file, shared across fork)
            waiter = Container(root, "c1")
            waiter.lock()  # blocks on the old directory until the parent lets go
            os.write(w, str(os.fstat(waiter.lock_fd).st_ino).encode())
        finally:
            os._exit(0)
    os.close(w)
    # wait until the waiter blocks in flock on the old directory
    deadline = time.monotonic() + 10
    while "lock" not in Path(f"/proc/{pid}/wchan").read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.rename(old.dir, old.dir + ".gone")
    os.mkdir(old.dir)
    new_ino = os.stat(old.dir).st_ino
    old.unlock()
    got = os.read(r, 100)
    os.waitpid(pid, 0)
    os.close(r)
    assert int(got) == new_ino


def test_lock_of_a_removed_directory_is_not_found(root: str) -> None:
    c = Container.create(root, "c1")
    c.save()
    c.destroy()
    with pytest.raises(ContainerNotFound):
        Container.load(root, "c1", lock=True)


def test_create_loses_to_a_finished_create(root: str) -> None:
    first = Container.create(root, "c1")
    first.save()
    first.unlock()
    with pytest.raises(ContainerExists):
        Container.create(root, "c1")


def test_destroy_removes_state_json_last(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    c = Container.create(root, "c1")
    c.save()
    c.save_config(b"{}")
    os.mkfifo(c.fifo)
    order: list[str] = []
    real = os.unlink
    monkeypatch.setattr(os, "unlink", lambda p: (order.append(os.path.basename(p)), real(p)))
    c.destroy()
    assert order[-1] == "state.json" and set(order) == {"state.json", "config.json", "exec.fifo"}


def test_lock_is_exclusive(root: str) -> None:
    c = Container.create(root, "c1")
    fd = os.open(c.dir, os.O_RDONLY | os.O_DIRECTORY)
    with pytest.raises(BlockingIOError):
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    c.unlock()
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_pending_missing_and_remove(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    leaves = [str(tmp_path / "a" / "b" / "c1"), str(tmp_path / "x" / "c1"), str(tmp_path / "a" / "b" / "c2")]
    dirs = pending.missing(leaves)
    assert dirs == [str(tmp_path / "a" / "b"), str(tmp_path / "a" / "b" / "c1"), str(tmp_path / "x"),
                    str(tmp_path / "x" / "c1"), str(tmp_path / "a" / "b" / "c2")]
    for d in dirs:
        os.mkdir(d)
    (tmp_path / "x" / "c1" / "in-use").mkdir()  # someone else's: stays
    pending.remove(dirs, leaves)  # only the leaves: parents may be another create's
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "c1", "in-use", "x"]
    pending.remove(None, leaves)
