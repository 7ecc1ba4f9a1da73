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

import _socket
import struct

from pyruntime import jsonfast

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_MSG = 65536


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @staticmethod
    def pair() -> tuple[Channel, Channel]:
        # _socket, not socket: the socket module imports enum (~3 ms).
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return Channel(a), Channel(b)

    def send(self, msg: dict[str, Any], fds: list[int] | None = None) -> None:
        data = jsonfast.dumps(msg).encode()
        if fds:
            anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
            self.sock.sendmsg([data], anc)
        else:
            self.sock.send(data)

    def recv(self) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message and any fds; (None, []) at EOF."""
        fds: list[int] = []
        data, anc, _flags, _addr = self.sock.recvmsg(MAX_MSG, _socket.CMSG_SPACE(4 * 4))
        for level, kind, payload in anc:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                n = len(payload) // 4
                fds.extend(struct.unpack(f"{n}i", payload[: 4 * n]))
        if not data:
            return None, fds
        msg: dict[str, Any] = jsonfast.loads(data)
        return msg, fds

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()
