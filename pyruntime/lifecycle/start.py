"""start: release the init blocked on the exec fifo, then run poststart hooks."""

from __future__ import annotations

import os
import select

from pyruntime.errors import StateError
from pyruntime.state.store import Container


def open_fifo_released(c: Container) -> None:
    """Open the fifo for reading (which lets the init's blocked open finish)
    and wait for its byte. Polling instead of a blocking open, so that an
    init that died meanwhile is noticed instead of waiting forever."""
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            events = poller.poll(100)
            if events:
                if os.read(fd, 1):
                    break
                # POLLHUP without data: the init closed the fifo unwritten (it is
                # exiting); don't spin on it.
                poller.unregister(fd)
            if not c.init_alive():
                raise StateError("cannot start a container that has stopped")
    finally:
        os.close(fd)
    os.unlink(c.fifo)


def start(c: Container) -> None:
    status = c.status()
    if status != "created":
        if status == "stopped":
            raise StateError("cannot start a container that has stopped")
        if status in ("running", "paused"):
            raise StateError("cannot start an already running container")
        raise StateError(f"cannot start a container in the {status} state")
    cfg = c.config()
    if not cfg.get("process"):
        raise StateError("cannot start a container without a process (config.json: process)")
    open_fifo_released(c)
    poststart = (cfg.get("hooks") or {}).get("poststart") or []
    if poststart:
        from pyruntime.hooks import run_hooks
        from pyruntime.lifecycle.create import hook_state
        from pyruntime.log import log

        try:
            run_hooks("poststart", poststart, hook_state(c, "running", c.pid), c.data.get("bundle"))
        except Exception as e:
            log.warning(str(e))
