"""The warm server's wire protocol, spoken by the client (_warm.c, in the
command's own process) and the server (launch/server.py). Over one
SOCK_SEQPACKET connection to the server's abstract name
"\\0pyruntime-warm/<key>" (SOCKET_PREFIX; the key: _warm.c):

    server "H"           hello, once it has accepted: only now does the
                         client send its fds, which on a socket nobody
                         accepts would stay open as long as it lives
    client request       the fields below, with SCM_RIGHTS fds 0, 1, 2 and
                         an O_PATH fd of its working directory
    server "A" | "L"     accepted (a worker runs the command) | run it yourself
    client "K<sig>"      (a served `run`, `exec`) a signal the client got, for the
                         worker to forward to the container
    server "S<status>"   the worker's wait status: the client exits the same way

The client gives up on the server (and runs the command itself) on
anything unexpected before "A", or 2 s without an answer.
"""

from __future__ import annotations

import os

SOCKET_PREFIX = "\0pyruntime-warm/"  # + key (_warm.c: WARM_NAME)
MAX_MSG = 192 * 1024  # as _warm.c: under the default unix socket send buffer


class Request:
    """What the client sent: its umask, what it reports of itself (what
    /proc does not show: launch/identity.py), the command's args, its env."""

    def __init__(self, umask: int, reported: dict[str, int], args: list[str], env: list[str]) -> None:
        self.umask, self.reported, self.args, self.env = umask, reported, args, env


def parse(data: bytes) -> Request | None:
    """A request: NUL-terminated fields "PYRTW2" umask(octal) securebits
    keyring argc args... env... (_warm.c)."""
    fields = data.split(b"\0")
    if len(fields) < 6 or fields[0] != b"PYRTW2" or fields[-1] != b"":
        return None
    try:
        umask, securebits, keyring, argc = int(fields[1], 8), int(fields[2]), int(fields[3]), int(fields[4])
    except ValueError:
        return None
    if not 0 < argc <= len(fields) - 6:
        return None
    decode = [os.fsdecode(f) for f in fields[5:-1]]
    return Request(umask, {"securebits": securebits, "keyring": keyring}, decode[:argc], decode[argc:])


