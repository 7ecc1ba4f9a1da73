"""NOTIFY_SOCKET passthrough: a container's sd_notify(3) READY=1 reaches the
systemd (or other supervisor) that started the runtime, as with runc 1.1.5.

When NOTIFY_SOCKET is set in the runtime's environment:
- `create` makes <state dir>/notify (0755), bind-mounts it read-only at
  /run/notify in the container, and adds NOTIFY_SOCKET=/run/notify/notify.sock
  to the process's environment. A datagram socket inside a read-only mount
  still takes datagrams: write permission on a socket inode is not a write
  to its filesystem.
- `start` (and `run`) binds the datagram socket notify/notify.sock (0777)
  before it releases the init, so the container's first READY cannot miss
  it, then waits until a datagram holds a READY=... line (or the init is
  gone) and sends that line and MAINPID=<pid> to the NOTIFY_SOCKET of its own
  environment, two datagrams as runc does. MAINPID is the init, except for
  `run` in the foreground, which stays the container's parent: its own pid.
  Other messages (STATUS=, ...) are not passed on (runc neither).

Imported only when NOTIFY_SOCKET is set (create) or the state dir has notify/ (start).
"""

from __future__ import annotations

import _socket
import errno
import os
import select

from pyruntime.errors import PyruntimeError
from pyruntime.state.procfs import process_alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config

ENV = "NOTIFY_SOCKET"
SUBDIR = "notify"
NAME = "notify.sock"
IN_CONTAINER_DIR = "/run/notify"
POLL_MS = 100  # how often the wait for READY checks that the init still lives


def host_socket() -> str:
    """The supervisor's socket from our environment ("" when unset)."""
    return os.environ.get(ENV, "")


def setup(cfg: Config, state_dir: str) -> None:
    """create: the directory, its mount and the container's NOTIFY_SOCKET
    (cfg is changed in place; the config snapshot stays as written)."""
    d = os.path.join(state_dir, SUBDIR)
    os.mkdir(d, 0o755)
    cfg.data.setdefault("mounts", []).append({
        "destination": IN_CONTAINER_DIR, "type": "bind", "source": d,
        "options": ["bind", "nosuid", "noexec", "nodev", "ro"]})
    proc = cfg.process
    if proc is not None:
        proc["env"] = list(proc.get("env") or []) + [f"{ENV}={IN_CONTAINER_DIR}/{NAME}"]


def bind(state_dir: str) -> int:
    """start: the container's end, bound (0777: any uid in the container may
    notify)."""
    path = os.path.join(state_dir, SUBDIR, NAME)
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            s.bind(path)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            os.unlink(path)  # left by an earlier start that failed
            s.bind(path)
        os.chmod(path, 0o777)
    except OSError as e:
        s.close()
        raise PyruntimeError(f"{ENV}: binding the container's notify socket {path}: "
                             f"{os.strerror(e.errno or 0)}", path=path) from None
    fd: int = s.detach()
    return fd


def ready_line(datagram: bytes) -> bytes | None:
    """The READY=... line of one sd_notify datagram (newline-separated
    assignments), if it has one."""
    for line in datagram.split(b"\n"):
        if line.startswith(b"READY="):
            return line
    return None


def wanted(state_dir: str) -> bool:
    """start: NOTIFY_SOCKET is set and create made the directory (runc's start
    would fail binding without it; pyruntime then has nothing to pass on)."""
    return bool(host_socket()) and os.path.isdir(os.path.join(state_dir, SUBDIR))


def relay(sock: int, host: str, pid: int, start_time: int, mainpid: int) -> bool:
    """Wait for READY on our bound socket `sock` (closed here) while the
    init (pid, start_time) lives, then send it and MAINPID to `host`.
    False when the init was gone first."""
    s = _socket.socket(fileno=sock)
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        line = None
        while line is None:
            if poller.poll(POLL_MS):
                line = ready_line(s.recv(4096))
            elif not process_alive(pid, start_time):
                return False
    finally:
        s.close()
    send(host, [line + b"\n", b"MAINPID=%d\n" % mainpid])
    return True


def send(host: str, datagrams: list[bytes]) -> None:
    """Datagrams to the supervisor's socket ("@name": an abstract one)."""
    addr = "\0" + host[1:] if host.startswith("@") else host
    c = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        c.connect(addr)
        for d in datagrams:
            c.send(d)
    except OSError as e:
        raise PyruntimeError(f"{ENV} {host}: passing on the container's READY: {os.strerror(e.errno or 0)}",
                             path=host) from None
    finally:
        c.close()
