"""A unix-socket server for tests that receive file descriptors from the
runtime (a seccomp agent at listenerPath, a --pidfd-socket listener): it
accepts connections in a thread and records, per connection, each message
(data, fds) until the runtime closes it."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path


class FdServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(4)
        self.srv.settimeout(0.1)
        self.connections: list[list[tuple[bytes, list[int]]]] = []
        self.closed: list[bool] = []  # per connection: the runtime closed it (EOF seen)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            msgs: list[tuple[bytes, list[int]]] = []
            self.connections.append(msgs)
            closed = False
            with conn:
                conn.settimeout(10)
                try:
                    while True:
                        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 8)
                        if not data and not fds:
                            closed = True
                            break
                        msgs.append((data, fds))
                except OSError:
                    pass
            self.closed.append(closed)

    def wait_closed(self, n: int, timeout: float = 10) -> None:
        """Until `n` connections have ended (their messages are all in)."""
        deadline = time.monotonic() + timeout
        while len(self.closed) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {n} connection(s) on {self.path}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.srv.close()
        for msgs in self.connections:
            for _data, fds in msgs:
                for fd in fds:
                    os.close(fd)
