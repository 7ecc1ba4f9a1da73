"""process.terminal with --console-socket: the runtime makes the pty, sends
the master over an AF_UNIX socket with SCM_RIGHTS, the container's stdio is
the slave (runtime-spec config.md "terminal", "consoleSize"; runc's
--console-socket protocol)."""

from __future__ import annotations

import errno
import os
import select
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, pid_alive, poll_until

MakeBundle = Callable[..., Path]


@pytest.fixture
def console_socket() -> Iterator[tuple[socket.socket, Path]]:
    """A listening AF_UNIX SOCK_STREAM socket in a short private directory
    (sun_path is limited to 108 bytes; pytest's tmp_path can be longer)."""
    d = Path(tempfile.mkdtemp(prefix="pyrt-cons-"))
    path = d / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    yield srv, path
    srv.close()
    path.unlink(missing_ok=True)
    d.rmdir()


def recv_master(srv: socket.socket, timeout: float = 10) -> int:
    """Accept the runtime's connection and receive exactly one fd."""
    srv.settimeout(timeout)
    conn, _ = srv.accept()
    with conn:
        conn.settimeout(timeout)
        _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 4)
    assert len(fds) == 1, f"expected one fd over the console socket, got {fds}"
    return fds[0]


def read_until_hangup(fd: int, timeout: float = 15) -> str:
    """Read a pty master until the slave side is closed (EIO) or timeout."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError as e:
            if e.errno == errno.EIO:
                break
            raise
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def _terminal(height: int = 30, width: int = 100) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["terminal"] = True
        c["process"]["consoleSize"] = {"height": height, "width": width}
    return mutate


def _run_on_console(rt: Any, cid: str, bundle: Path, srv: socket.socket, path: Path) -> str:
    p = rt("create", "--console-socket", str(path), "--bundle", str(bundle), cid)
    assert p.returncode == 0, describe(p)
    master = recv_master(srv)
    try:
        assert os.isatty(master), "the fd received is not a terminal"
        pid = rt.state(cid)["pid"]
        p = rt("start", cid)
        assert p.returncode == 0, describe(p)
        out = read_until_hangup(master)
    finally:
        os.close(master)
    assert poll_until(lambda: not pid_alive(pid)), "container did not exit"
    return out.replace("\r\n", "\n")


SCRIPT = ("tty; stty size; [ -c /dev/console ] && echo console-ok; "
          "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo stdio-tty; echo done")


def test_console_socket_receives_pty(rt: Any, cid: str, make_bundle: MakeBundle,
                                    console_socket: tuple[socket.socket, Path]) -> None:
    srv, path = console_socket
    b = make_bundle(["sh", "-c", SCRIPT], mutate=_terminal())
    out = _run_on_console(rt, cid, b, srv, path)
    lines = [line.strip() for line in out.strip().splitlines()]
    assert "/dev/pts/0" in lines, out
    assert "30 100" in lines, out
    assert "console-ok" in lines, out
    assert "stdio-tty" in lines, out
    assert lines[-1] == "done", out


def test_console_size_other_values(rt: Any, cid: str, make_bundle: MakeBundle,
                                   console_socket: tuple[socket.socket, Path]) -> None:
    srv, path = console_socket
    b = make_bundle(["stty", "size"], mutate=_terminal(height=17, width=61))
    out = _run_on_console(rt, cid, b, srv, path)
    assert out.strip() == "17 61", out


def test_console_input_reaches_container(rt: Any, cid: str, make_bundle: MakeBundle,
                                         console_socket: tuple[socket.socket, Path]) -> None:
    srv, path = console_socket
    b = make_bundle(["sh", "-c", "read line; echo got:$line"], mutate=_terminal())
    p = rt("create", "--console-socket", str(path), "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    master = recv_master(srv)
    try:
        assert rt("start", cid).returncode == 0
        os.write(master, b"hello-pty\n")
        out = read_until_hangup(master)
    finally:
        os.close(master)
    assert "got:hello-pty" in out, out


def test_terminal_detach_without_console_socket_fails(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"], mutate=_terminal())
    p = rt("run", "--detach", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "console" in (p.stderr + p.stdout).lower(), describe(p)


def test_terminal_create_without_console_socket_fails(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"], mutate=_terminal())
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)


def test_console_socket_without_terminal_fails(rt: Any, cid: str, make_bundle: MakeBundle,
                                               console_socket: tuple[socket.socket, Path]) -> None:
    _srv, path = console_socket
    b = make_bundle(["true"])
    p = rt("create", "--console-socket", str(path), "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
