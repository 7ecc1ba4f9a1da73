"""NOTIFY_SOCKET passthrough (pyruntime/notify_socket.py) without a container:
the spec changes create makes, the READY line, and the relay between two
real datagram sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pyruntime import notify_socket
from pyruntime.errors import PyruntimeError
from pyruntime.spec.load import Config
from pyruntime.state.procfs import read_stat


def test_setup_mounts_the_directory_and_sets_the_env(tmp_path: Path) -> None:
    cfg = Config({"process": {"env": ["PATH=/bin"]}, "mounts": [{"destination": "/proc"}]},
                 str(tmp_path / "config.json"), b"")
    notify_socket.setup(cfg, str(tmp_path))
    d = tmp_path / "notify"
    assert d.is_dir() and (d.stat().st_mode & 0o777) == 0o755
    assert cfg.data["mounts"][-1] == {"destination": "/run/notify", "type": "bind", "source": str(d),
                                      "options": ["bind", "nosuid", "noexec", "nodev", "ro"]}
    assert cfg.data["process"]["env"] == ["PATH=/bin", "NOTIFY_SOCKET=/run/notify/notify.sock"]


@pytest.mark.parametrize("datagram, line", [
    (b"READY=1", b"READY=1"),
    (b"STATUS=up\nREADY=1\n", b"READY=1"),
    (b"STATUS=READY=1", None),
    (b"WATCHDOG=1", None),
])
def test_ready_line(datagram: bytes, line: bytes | None) -> None:
    assert notify_socket.ready_line(datagram) == line


def _our_start_time() -> int:
    st = read_stat(os.getpid())
    assert st is not None
    return st[1]


def test_relay_passes_ready_and_mainpid_on(tmp_path: Path) -> None:
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(str(tmp_path / "host.sock"))
    host.settimeout(5)
    (tmp_path / "notify").mkdir()
    fd = notify_socket.bind(str(tmp_path))
    path = tmp_path / "notify" / "notify.sock"
    assert (path.stat().st_mode & 0o777) == 0o777
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.sendto(b"STATUS=warming up", str(path))
    c.sendto(b"READY=1", str(path))
    c.close()
    assert notify_socket.relay(fd, str(tmp_path / "host.sock"), os.getpid(), _our_start_time(), 4321)
    assert [host.recv(64), host.recv(64)] == [b"READY=1\n", b"MAINPID=4321\n"]
    host.close()


def test_relay_gives_up_when_the_init_is_gone(tmp_path: Path) -> None:
    (tmp_path / "notify").mkdir()
    fd = notify_socket.bind(str(tmp_path))
    # our own pid with a start time that is not ours: a process that is gone
    assert not notify_socket.relay(fd, str(tmp_path / "nobody.sock"), os.getpid(), -5, 1)


def test_send_to_a_missing_host_socket_names_notify_socket(tmp_path: Path) -> None:
    with pytest.raises(PyruntimeError, match=r"^NOTIFY_SOCKET .*/nobody.sock: .*No such file"):
        notify_socket.send(str(tmp_path / "nobody.sock"), [b"READY=1\n"])


def test_bind_replaces_a_stale_socket(tmp_path: Path) -> None:
    (tmp_path / "notify").mkdir()
    os.close(notify_socket.bind(str(tmp_path)))  # the file stays behind
    os.close(notify_socket.bind(str(tmp_path)))


def test_abstract_host_socket(tmp_path: Path) -> None:
    name = f"pyrt-test-{os.getpid()}"
    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind("\0" + name)
    host.settimeout(5)
    notify_socket.send("@" + name, [b"READY=1\n"])
    assert host.recv(64) == b"READY=1\n"
    host.close()
