"""SCMP_ACT_NOTIFY: P1's side of a seccomp agent (runtime-spec config-linux.md
"Seccomp", "The Container Process State").

A filter loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER gives its process a
listener fd; a syscall the filter answers with SCMP_ACT_NOTIFY then waits
until whoever holds that fd reads it (SECCOMP_IOCTL_NOTIF_RECV) and answers
(SECCOMP_IOCTL_NOTIF_SEND). The container's process passes the fd to P1 on
the sync channel (seccomp.py, process/become.py); P1 connects to listenerPath
(AF_UNIX, SOCK_STREAM), sends the container process state as JSON with the
fd attached (SCM_RIGHTS, in the first sendmsg only), closes the connection
and its copy of the fd, and only then lets the child go on.

Imported by `create` and `exec` only for a profile with a NOTIFY rule.
"""

from __future__ import annotations

import _socket
import os
import stat
import struct

from pyruntime import SPEC_VERSION, jsonfast
from pyruntime.errors import ConfigError, PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIELD = "linux.seccomp.listenerPath"


class Agent:
    """Where the listener fds of one container go, and the state sent with them."""

    def __init__(self, path: str, metadata: str, cid: str, bundle: str,
                 annotations: dict[str, str] | None) -> None:
        # relative: to the bundle (create's cwd, where runc resolves it), for exec too
        self.path = os.path.normpath(os.path.join(bundle, path))
        self.metadata = metadata
        self.cid = cid
        self.bundle = bundle
        self.annotations = annotations or {}

    def check(self) -> None:
        """Before anything is made: the agent's socket exists."""
        try:
            st = os.stat(self.path)
        except OSError as e:
            raise ConfigError(f"{FIELD}: the seccomp agent's socket {self.path}: {os.strerror(e.errno or 0)}",
                              field=FIELD, path=self.path) from None
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(f"{FIELD}: {self.path} is not a socket (a seccomp agent listens there)",
                              field=FIELD, path=self.path)

    def process_state(self, pid: int, init_pid: int, status: str) -> bytes:
        """The container process state: `pid` the process whose filter it
        is; `state` the container's (its init's pid)."""
        state: dict[str, Any] = {"ociVersion": SPEC_VERSION, "id": self.cid, "status": status,
                                 "pid": init_pid, "bundle": self.bundle, "annotations": self.annotations}
        doc: dict[str, Any] = {"ociVersion": SPEC_VERSION, "fds": ["seccompFd"], "pid": pid}
        if self.metadata:
            doc["metadata"] = self.metadata
        doc["state"] = state
        return jsonfast.dumps(doc).encode()

    def send(self, listener: int, pid: int, init_pid: int, status: str) -> None:
        """One connection, one state, the fd with the first sendmsg; then
        the connection and our copy of the fd are closed."""
        data = self.process_state(pid, init_pid, status)
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            try:
                s.connect(self.path)
            except OSError as e:
                raise PyruntimeError(f"{FIELD}: cannot connect to the seccomp agent at {self.path}: "
                                     f"{os.strerror(e.errno or 0)}", field=FIELD, path=self.path,
                                     errno=e.errno) from None
            try:
                anc = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", listener))]
                n = s.sendmsg([data], anc)
                while n < len(data):  # the rest, without the fd
                    data = data[n:]
                    n = s.send(data)
            except OSError as e:
                raise PyruntimeError(f"{FIELD}: sending the seccomp fd to the agent at {self.path}: "
                                     f"{os.strerror(e.errno or 0)}", field=FIELD, path=self.path,
                                     errno=e.errno) from None
        finally:
            s.close()
            os.close(listener)


def pass_listener(agent: Agent | None, fds: list[int], pid: int, init_pid: int, status: str) -> None:
    """Sync step "seccomp" (create's and exec's P1): send the one fd that
    came with it to the agent, with the container process state."""
    if agent is None or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise PyruntimeError(f"internal error: a seccomp listener message with {len(fds)} fds")
    agent.send(fds[0], pid, init_pid, status)
