"""--pidfd-socket for create, run and exec (runc 1.2's flag): the caller's
AF_UNIX socket receives a pidfd of the container's init ("standard") or of
the exec'd process ("setns") with SCM_RIGHTS. The listener here is real: it
accepts, takes the pidfd, then uses it (pidfd_send_signal(2), poll(2) for
the exit). runc 1.1.5 predates the flag: with RUNTIME=/usr/sbin/runc these
tests are skipped.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    cgroup_dirs,
    container_processes,
    create,
    must,
    root_entries,
    run_nocapture,
    status_of,
    wait_for,
)
from tests.support.fdsocket import FdServer
from tests.support.isolation import describe, start_detached

MakeBundle = Callable[..., Path]


@pytest.fixture(autouse=True)
def _needs_the_flag(rt: Any) -> None:
    if "runc" in Path(rt.path).name:
        pytest.skip("runc 1.1.5 predates --pidfd-socket (added in runc 1.2)")


class PidfdListener(FdServer):
    """The --pidfd-socket peer: each connection brings one message, the
    kind ("standard", "setns") with one pidfd, then the runtime closes it."""

    def got(self, i: int = 0) -> tuple[bytes, list[int], bool]:
        """Connection i: (data, fds, closed after the message)."""
        self.wait_closed(i + 1)
        msgs = self.connections[i]
        assert len(msgs) == 1, msgs
        return msgs[0][0], msgs[0][1], self.closed[i]

    def pidfd(self, i: int = 0) -> int:
        _data, fds, _closed = self.got(i)
        assert len(fds) == 1, self.connections
        return fds[0]


@pytest.fixture
def listener() -> Iterator[PidfdListener]:
    d = Path(tempfile.mkdtemp(prefix="pyrt-pidfd-"))  # short: sun_path holds 108 bytes
    lst = PidfdListener(d / "pidfd.sock")
    yield lst
    lst.stop()
    shutil.rmtree(d, ignore_errors=True)


def pidfd_pid(fd: int) -> int:
    """The pid a pidfd names, from /proc/self/fdinfo (-1 once it exited)."""
    for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
        if line.startswith("Pid:"):
            return int(line.split()[1])
    raise AssertionError(f"fd {fd} is not a pidfd")


def exited(fd: int, timeout_ms: int) -> bool:
    """poll(2) on a pidfd: readable once the process has exited."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout_ms))


def kill_through(fd: int) -> None:
    signal.pidfd_send_signal(fd, signal.SIGKILL)
    assert exited(fd, 10_000), "the process did not exit after SIGKILL through its pidfd"


def test_create_sends_the_inits_pidfd(rt: Any, cid: str, make_bundle: MakeBundle,
                                      listener: PidfdListener) -> None:
    must(create(rt, make_bundle(["sleep", "60"]), cid, "--pidfd-socket", str(listener.path)))
    fd = listener.pidfd()
    data, _, closed = listener.got()
    assert data == b"standard" and closed, listener.connections
    assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[pidfd]"
    init = rt.state(cid)["pid"]
    assert pidfd_pid(fd) == init
    assert not exited(fd, 0)
    # the socket went to the init only to send the pidfd: it holds no socket now
    links = [os.readlink(f"/proc/{init}/fd/{n}") for n in os.listdir(f"/proc/{init}/fd")]
    assert not [link for link in links if link.startswith("socket:") or "pidfd" in link], links
    kill_through(fd)
    wait_for(lambda: status_of(rt, cid) == "stopped", what="the container to be stopped")


def test_run_detached_and_foreground(rt: Any, cid: str, make_bundle: MakeBundle,
                                     listener: PidfdListener) -> None:
    b = make_bundle(["sleep", "60"])
    init = start_detached(rt, b, cid, "--pidfd-socket", str(listener.path))
    fd = listener.pidfd()
    assert pidfd_pid(fd) == init and listener.got()[0] == b"standard"
    kill_through(fd)
    must(rt("delete", cid))

    # `run` in the foreground: the caller can end the container through the pidfd
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.update(
        p=rt("run", "--pidfd-socket", str(listener.path), "--bundle", str(b), cid + "f", timeout=30)))
    t.start()
    fd2 = listener.pidfd(1)
    # the init sends its pidfd during create: kill it once `run` has started
    # it (a kill before start makes `run` fail to start a stopped container)
    wait_for(lambda: status_of(rt, cid + "f") == "running", what="run to start the container")
    kill_through(fd2)
    t.join(30)
    p = result["p"]
    assert p.returncode == 128 + signal.SIGKILL, describe(p)


def test_exec_sends_the_processes_pidfd(rt: Any, cid: str, make_bundle: MakeBundle,
                                        listener: PidfdListener, tmp_path: Path) -> None:
    init = start_detached(rt, make_bundle(["sleep", "60"]), cid)
    pid_file = tmp_path / "exec.pid"
    must(run_nocapture(rt, "exec", "--detach", "--pid-file", str(pid_file), "--pidfd-socket",
                       str(listener.path), cid, "sleep", "50"))
    fd = listener.pidfd()
    data, _, closed = listener.got()
    assert data == b"setns" and closed, listener.connections
    pid = int(pid_file.read_text())
    assert pidfd_pid(fd) == pid != init
    kill_through(fd)
    assert status_of(rt, cid) == "running"  # only the exec'd process

    # without --detach: exec returns the process's status once the caller killed it
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.update(
        p=rt("exec", "--pidfd-socket", str(listener.path), cid, "sleep", "50", timeout=30)))
    t.start()
    kill_through(listener.pidfd(1))
    t.join(30)
    assert result["p"].returncode == 128 + signal.SIGKILL, describe(result["p"])


@pytest.mark.parametrize("what", ["missing", "regular-file"])
def test_bad_socket_is_an_error_and_nothing_is_left(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    tmp_path: Path, what: str) -> None:
    path = tmp_path / "pidfd.sock"
    if what == "regular-file":
        path.write_text("not a socket")
    b = make_bundle(["sleep", "60"])
    p = create(rt, b, cid, "--pidfd-socket", str(path))
    assert p.returncode != 0, describe(p)
    assert f"--pidfd-socket {path}" in p.stderr, describe(p)
    assert cid not in root_entries(rt) and not cgroup_dirs(cid) and not container_processes(cid, b)

    start_detached(rt, b, cid)
    p = rt("exec", "--pidfd-socket", str(path), cid, "true")
    assert p.returncode != 0 and f"--pidfd-socket {path}" in p.stderr, describe(p)
