"""The sync channel between `create` (P1) and its children.

A SOCK_SEQPACKET socketpair: one JSON object per message (boundaries are
kept), file descriptors ride along with SCM_RIGHTS. The conversation, in
order (→ is child to parent):

| step | from         | message                 | the other side does                        |
|------|--------------|-------------------------|--------------------------------------------|
| 1    | intermediate | → {"t":"userns"}        | P1 writes uid_map/gid_map, answers ok      |
| 2    | intermediate | → {"t":"pid","pid":N}   | P1 records the init, sets rlimits (prlimit) |
| 3    | init         | → {"t":"hooks"}         | P1 moves netDevices in, runs prestart +     |
|      |              |                         | createRuntime hooks, answers ok             |
| 4    | init         | → {"t":"console"} + fd  | (run without console socket) P1 keeps master |
| 4b   | init         | → {"t":"seccomp"} + fd  | P1 sends the listener fd + the container    |
|      |              |                         | process state to the seccomp agent, closes  |
|      |              |                         | its copy, answers ok                        |
| 5    | init         | → {"t":"ready"}         | P1 saves state + pid file, exits (create)   |
| any  | either child | → {"t":"error",...}     | P1 re-raises it, destroys what was made     |

Step 1 only with a new user namespace, 4 only for a terminal without
--console-socket, 4b only for a seccomp profile with SCMP_ACT_NOTIFY (the
same message goes from exec's T2 to exec's P1). Step 3 always: the init
goes on to its own identity only after P1 has done what it must do from
outside (rlimits, oom_score_adj, cgroup limits, netDevices, hooks). The init may speak
before the intermediate's step 2 arrives: P1 holds such messages until it has
the pid. EOF before "ready" means a child
died: P1 reports it. When P1 dies the init reads EOF and exits.
"""

from __future__ import annotations

import os

from pyruntime import jsonfast
from pyruntime import syscalls as sc
from pyruntime.syscalls import _kernel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_MSG = 65536


class Channel:
    """One end of a SOCK_SEQPACKET pair, by fd: messages and fds go through
    pyruntime.syscalls._kernel (the socket module would cost every create
    ~0.3 ms and ~100 KiB; `socket` itself, also enum's ~3 ms)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        pair = _kernel.seqpacket_pair()
        if isinstance(pair, int):
            raise sc._fail(pair, "socketpair")
        return Channel(pair[0]), Channel(pair[1])

    def send(self, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        r = _kernel.send_fds(self.fd, jsonfast.dumps(msg).encode(), fds or ())
        if r < 0:
            raise sc._fail(r, "sending to the sync channel")

    def recv(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message and any fds; (None, []) at EOF."""
        got = _kernel.recv_fds(self.fd, MAX_MSG)
        if isinstance(got, int):
            raise sc._fail(got, "reading the sync channel")
        data, fds = got
        if not data:
            return None, fds
        msg: dict[str, Any] = jsonfast.loads(data)
        return msg, fds

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def fileno(self) -> int:
        return self.fd
