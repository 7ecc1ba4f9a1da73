"""--pidfd-socket (create, run, exec; runc 1.2): the caller gets a pidfd of
the container's init, or of the exec'd process, over an AF_UNIX socket.

As runc does it: the runtime (P1) connects to the socket before it forks
(SOCK_STREAM); the process itself, before it execs (the init right after its
console, exec's T2 likewise), opens a pidfd of itself and sends it with one
sendmsg: the data is "standard" from the init, "setns" from an exec'd
process, the fd rides along with SCM_RIGHTS; then the socket is closed. A
pidfd (pidfd_open(2), Linux 5.3) names the process itself, not a pid that
may be reused: the caller can pidfd_send_signal(2) it, or poll(2) it to
learn that it exited.
"""

from __future__ import annotations

import _socket
import os
import struct

from pyruntime.errors import PyruntimeError

FLAG = "--pidfd-socket"
INIT = b"standard"   # runc's initType names
EXEC = b"setns"


def connect(path: str) -> int:
    """P1: a connected, close-on-exec socket for the child to send on."""
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise PyruntimeError(f"{FLAG} {path}: {os.strerror(e.errno or 0)}", path=path,
                             errno=e.errno) from None
    fd: int = s.detach()
    return fd


def send_own_pidfd(sock: int, kind: bytes) -> None:
    """In the container's process: a pidfd of ourselves (getpid() names us
    in our own pid namespace) over the connected socket `sock`, which is
    then closed."""
    s = _socket.socket(fileno=sock)
    try:
        pidfd = os.pidfd_open(os.getpid())
        try:
            s.sendmsg([kind], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", pidfd))])
        finally:
            os.close(pidfd)
    except OSError as e:
        raise PyruntimeError(f"{FLAG}: sending the pidfd: {os.strerror(e.errno or 0)}", errno=e.errno) from None
    finally:
        s.close()
