"""The warm server: `state`, `start`, `kill`, `delete` and a foreground
`run` or `exec` without an interpreter start. This module runs in the server process (a
child of init, started by launch/spawn.py, named pyrt:[warm] in ps); each
request is run by a worker forked from it (launch/worker.py).

Starting CPython costs ~7 ms here before any of our code runs, and the CLI's
imports a few more; runc answers `state` in ~5 ms, and containerd's shim calls
`start`, `delete` and `delete --force` for every `docker run`. So for these
commands the launcher's C client (launch/_warm.c: compiled into the
installed launcher, or the helper bin/pyruntime execs) hands its argv,
environment, umask, stdio and working directory over a unix socket
(launch/protocol.py) to a server that has imported the CLI once. The server
forks a worker per command; the server sends the worker's wait status back
and the client exits the same way (a SIGKILLed worker makes a SIGKILLed
client). While a served `run` or `exec` waits, the client passes each
signal it gets on to the worker, which forwards it to the container's
process as the command does.

What is served: the server alone decides (takes()), among the commands the
client offers (launch/commands.py SERVED). Who: uid 0, equal to the server
in every named check of launch/identity.py; rlimits are copied into the
worker, refused where the caller's hard limit is higher than the server's.

Where the server lives: outside every caller's process tree and cgroups
(launch/spawn.py, launch/placement.py). So a worker's orphans go to init,
and what must be left to the caller's subreaper is never served: `create`
(its init), `run --detach`, `exec --detach`. `run` and `exec` are served in
the foreground only, from a server that runs from a sealed copy of the
interpreter (spawned through _sealexec, as create/run/exec are:
launch/sealed.py): their process is a fork of the worker, which reaps it
and returns its status. Nor is
anything with fds beyond stdio to hand over (--preserve-fds, LISTEN_FDS),
nor --no-new-keyring (the container would keep the server's session
keyring, not the caller's).

Lifetime: the server exits after PYRUNTIME_WARM_IDLE seconds without a
request (default 10; 0: never), or when its --root goes away. A caller
under a subreaper (containerd's shim, conmon) never starts one, but is
served by one that was started outside it: for such a --root, start one
that stays (README: "A warm server for a shim's --root"). PYRUNTIME_WARM=0 turns
it off. Its abstract socket name (the key hashes the --root and the
launcher binary: _warm.c) goes with it however it dies; anyone may bind an
abstract name, so the client checks the server is root (SO_PEERCRED), and
the server checks its client.
"""

from __future__ import annotations

import _socket
import gc
import os
import sys
import time

from pyruntime.cgroups.hierarchy import UNIFIED, hierarchies
from pyruntime.launch import placement
from pyruntime.launch.commands import PRELOAD, SEALED, SERVED, command_of
from pyruntime.launch.identity import Process, differs, higher, identity, limits, oom_score_adj, signal_state
from pyruntime.launch.protocol import MAX_MSG, SOCKET_PREFIX, parse
from pyruntime.launch.spawn import DEFAULT_IDLE_S, known_subreapers
from pyruntime.launch.worker import Takeover, work

TYPE_CHECKING = False
if TYPE_CHECKING:
    import select


# --- the server ---------------------------------------------------------------


class Server:
    """One --root's server: its listening socket, its workers and their
    clients, and its own identity, which each caller is compared with."""

    def __init__(self, key: str, root: str, idle_s: float) -> None:
        self.root, self.idle_s = root, idle_s
        from pyruntime.launch.sealed import running_sealed

        self.sealed = running_sealed()  # else the SEALED commands (run, exec) are not served
        self.own = identity("self")
        self.own_limits = dict(limits(os.getpid()))
        self.own_oom = oom_score_adj("self")
        self.mounts = hierarchies()
        self.own_cgroups = placement.cgroups_of("self", self.mounts)
        self.unified = self.mounts.get(UNIFIED)
        st = os.stat(root)
        self.root_id = (st.st_dev, st.st_ino)
        self.lsock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        # An abstract name (of our network namespace): the kernel drops it
        # with the socket, so a server that dies, SIGKILL included, leaves
        # nothing behind. Taken already (EADDRINUSE): another server serves.
        self.lsock.bind(SOCKET_PREFIX + key)
        self.lsock.listen(128)
        self.workers: dict[int, tuple[int, _socket.socket]] = {}  # pidfd -> (pid, client)
        self.clients: dict[int, int] = {}  # client fd -> pidfd of its worker

    def still_ours(self) -> bool:
        """Our --root is still there (the same directory)."""
        try:
            st = os.stat(self.root)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.root_id

    def run(self) -> None:
        import select

        poller = select.poll()
        poller.register(self.lsock.fileno(), select.POLLIN)
        last = time.monotonic()
        listening = True
        while listening or self.workers:
            for fd, _ev in poller.poll(1000):
                if fd == self.lsock.fileno():
                    self.accept(poller)
                elif fd in self.workers:
                    self.reap(poller, fd)
                elif fd in self.clients:
                    self.from_client(poller, fd)
                last = time.monotonic()
            idle = self.idle_s > 0 and not self.workers and time.monotonic() - last > self.idle_s
            if listening and (not self.still_ours() or idle):
                poller.unregister(self.lsock.fileno())
                self.lsock.close()  # the name goes with it
                listening = False

    def accept(self, poller: select.poll) -> None:
        import select

        try:
            fd, _ = self.lsock._accept()  # type: ignore[attr-defined]  # accept4(SOCK_CLOEXEC)
        except OSError:
            return
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET, 0, fd)
        fds: list[int] = []
        try:
            conn.settimeout(2.0)
            conn.send(b"H")  # the client sends its fds only now (_warm.c)
            data, anc, _flags, _ = conn.recvmsg(MAX_MSG, _socket.CMSG_SPACE(4 * 4), _socket.MSG_CMSG_CLOEXEC)
            for level, kind, blob in anc:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds += [int.from_bytes(blob[i:i + 4], sys.byteorder) for i in range(0, len(blob) - 3, 4)]
            request = parse(data)
            pid, uid, _gid = _peercred(conn)
            caller = Process(pid, request.reported) if request is not None else None
            takes = request is not None and len(fds) == 4 and self.takes(request.args, request.env)
            takeover = self.refusal_check(caller, uid) if takes and caller is not None else None
            if request is None or caller is None or takeover is None:
                conn.send(b"L")
                conn.close()
                return
            signals = signal_state(caller.status)
            cgroups = placement.cgroups_of(pid, self.mounts)
            conn.send(b"A")
            worker = placement.fork_as(cgroups, self.own_cgroups, self.unified)
            if worker == 0:
                self.lsock.close()
                work(fds, request, takeover, signals)  # never returns
            pidfd = os.pidfd_open(worker)
        except OSError:
            conn.close()
            return
        finally:
            for f in fds:
                os.close(f)
        self.workers[pidfd] = (worker, conn)
        self.clients[conn.fileno()] = pidfd
        poller.register(pidfd, select.POLLIN)
        poller.register(conn.fileno(), select.POLLIN | select.POLLHUP)

    def from_client(self, poller: select.poll, fd: int) -> None:
        """"K<sig>": a signal the client of a `run` got, for the worker to
        forward. Hung up (killed, timed out): so is its command."""
        import _signal

        pidfd = self.clients[fd]
        conn = self.workers[pidfd][1]
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        sig = _signal.SIGKILL
        if data:
            try:
                sig = int(data[1:]) if data[:1] == b"K" else 0
            except ValueError:
                sig = 0
            if not 0 < sig < _signal.NSIG:
                return
        else:
            poller.unregister(fd)
            del self.clients[fd]
        try:
            _signal.pidfd_send_signal(pidfd, sig)
        except OSError:
            pass

    def takes(self, args: list[str], env: list[str]) -> bool:
        """What the command line decides: the client offers every SERVED
        command (launch/commands.py), the server takes only these."""
        command = command_of(args)
        if command is None or command[0] not in SERVED:
            return False  # never create's init or exec's process: theirs is the caller's subreaper
        name, rest = command
        if name in SEALED and not self.sealed:
            return False  # its container process would run from the unsealed interpreter
        if any(e.startswith("LISTEN_FDS=") for e in env):
            return False  # fds beyond stdio are not handed over
        for a in rest:
            if a.startswith("-"):
                flag = a[2:] if a.startswith("--") else a[1:]
                # run/exec -d: its process is left to the caller; --preserve-fds:
                # not handed over; --no-new-keyring: the caller's keyring, not ours
                if flag == "d" or flag.startswith(("d=", "detach", "preserve-fds", "no-new-keyring")):
                    return False
        return True

    def refusal_check(self, caller: Process, uid: int) -> Takeover | None:
        """What the worker takes from the caller, where a fork of ours can be
        that caller; else None."""
        if uid != 0 or differs(self.own, caller) is not None:
            return None
        try:
            theirs = limits(int(caller.pid))
        except OSError:
            return None
        for r, (_soft, hard) in theirs:
            if higher(hard, self.own_limits[r][1]):
                return None  # raising a hard limit takes CAP_SYS_RESOURCE
        oom = oom_score_adj(caller.pid)
        if oom is None or self.own_oom is None or oom < self.own_oom:
            return None  # lowering it takes CAP_SYS_RESOURCE
        return Takeover(theirs, None if oom == self.own_oom else oom)

    def reap(self, poller: select.poll, pidfd: int) -> None:
        pid, conn = self.workers.pop(pidfd)
        poller.unregister(pidfd)
        if self.clients.pop(conn.fileno(), None) is not None:
            poller.unregister(conn.fileno())
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        try:
            conn.send(b"S%d" % status)
        except OSError:
            pass
        conn.close()


def _peercred(conn: _socket.socket) -> tuple[int, int, int]:
    raw = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
    return (int.from_bytes(raw[0:4], sys.byteorder), int.from_bytes(raw[4:8], sys.byteorder),
            int.from_bytes(raw[8:12], sys.byteorder))


def serve(key: str, root: str, idle: str = str(DEFAULT_IDLE_S)) -> None:
    """The server process (spawn() execs it): preload, listen, fork workers."""
    gc.disable()
    os.umask(0o077)
    for name in PRELOAD:
        __import__(name)
    from pyruntime import syscalls

    syscalls.set_name("pyrt:[warm]")  # in ps; its workers rename themselves "pyruntime"
    placement.move_to_inits()  # out of the cgroups of the command that started us
    try:
        idle_s = float(idle)
    except ValueError:
        idle_s = DEFAULT_IDLE_S
    if not idle_s >= 0:  # NaN, negative
        idle_s = DEFAULT_IDLE_S
    try:
        server = Server(key, root, idle_s)
    except OSError:
        return
    gc.freeze()  # the preloaded heap: shared with every worker, never scanned
    server.run()
    known_subreapers()  # removes the markers of subreapers that are gone

