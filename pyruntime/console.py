"""The container's terminal: a pty from the container's own devpts
instance, its master sent to the caller over --console-socket (SCM_RIGHTS),
its slave made the process's stdio and controlling terminal."""

from __future__ import annotations

import _socket
import fcntl
import os
import struct
import termios

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


def open_pty(rootfs: str) -> tuple[int, int, str]:
    """(master fd, slave fd, slave path inside the container) from the
    container's /dev/pts (so the pty belongs to its devpts instance)."""
    master = os.open(os.path.join(rootfs, "dev/pts/ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    slave = os.open(os.path.join(rootfs, f"dev/pts/{n}"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave, f"/dev/pts/{n}"


def set_size(fd: int, size: dict[str, int] | None) -> None:
    if size:
        fcntl.ioctl(fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", int(size.get("height", 0)), int(size.get("width", 0)), 0, 0))


def mount_console(rootfs: str, slave_path: str) -> None:
    """/dev/console is the pty slave (bind mount), as runc does."""
    target = os.path.join(rootfs, "dev/console")
    if not os.path.exists(target):
        with open(target, "w"):
            pass
    sc.sys().mount(os.path.join(rootfs, slave_path.lstrip("/")), target, None, sc.MS_BIND)


def send_master(socket_path: str, master: int, name: str) -> None:
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(socket_path)
    except OSError as e:
        s.close()
        raise PyruntimeError(f"--console-socket {socket_path}: connect: {os.strerror(e.errno or 0)}",
                             path=socket_path, errno=e.errno) from None
    send_master_on(s, master, name)


def send_master_on(s: _socket.socket, master: int, name: str) -> None:
    """Send the master over a connected socket (the name as data, as runc), then close it."""
    try:
        s.sendmsg([name.encode()], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))])
    finally:
        s.close()


def make_controlling(slave: int) -> None:
    """Slave → fds 0,1,2 and the session's controlling terminal."""
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    if slave > 2:
        os.close(slave)
