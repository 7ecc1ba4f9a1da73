"""start: release the init blocked on the exec fifo, then run poststart hooks."""

from __future__ import annotations

import os
import select

from pyruntime import faults
from pyruntime.errors import PyruntimeError, StateError
from pyruntime.state.store import Container


def open_fifo_released(c: Container) -> str:
    """Open the fifo for reading (which lets the init's blocked open finish)
    and wait for its byte. Polling instead of a blocking open, so that an
    init that died meanwhile is noticed instead of waiting forever.

    hooks: then read on up to EOF, which the init gives after its
    startContainer hooks; what it wrote after the byte is a hook's failure,
    returned ("" when none)."""
    fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    faults.point("start.fifo-opened")
    data = b""
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            events = poller.poll(100)
            if events:
                chunk = os.read(fd, 65536)
                if chunk:
                    data += chunk
                    continue
                if data:
                    break  # EOF after the byte: the init is past its startContainer hooks
                # POLLHUP without data: the init closed the fifo unwritten (it is
                # exiting); don't spin on it.
                poller.unregister(fd)
            if not c.init_alive():
                if data:
                    break
                raise StateError("cannot start a container that has stopped")
    finally:
        os.close(fd)
    faults.point("start.released")
    os.unlink(c.fifo)
    return data[1:].decode(errors="replace")


def _fail(c: Container) -> None:
    """hooks: a failed startContainer hook (or poststart hook, in a 1.3 bundle)
    is an error that stops the container and "continues the lifecycle at
    step 12" (runtime-spec lifecycle): steps 12 and 13, destroy and poststop,
    within the failed `start`, as a failed createRuntime hook does within
    `create`. Nothing is left for `delete`, which then answers "does not
    exist": containerd's shim and Podman take that as deleted. A destroy
    that cannot finish (an init that does not die) is logged; its state stays
    for `delete --force`, and the hook's error is what `start` reports."""
    from pyruntime.lifecycle.destroy import destroy
    from pyruntime.log import log

    try:
        destroy(c)
    except PyruntimeError as e:
        log.error(str(e))


def start(c: Container) -> int:
    """Returns the bound NOTIFY_SOCKET passthrough socket, or -1: the caller
    relays the container's READY (relay_ready)."""
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
    faults.point("start.checked")
    notify = -1
    if "NOTIFY_SOCKET" in os.environ:
        from pyruntime import notify_socket

        if notify_socket.wanted(c.dir):
            notify = notify_socket.bind(c.dir)  # before the init runs: its READY cannot miss it
    try:
        failed = open_fifo_released(c)
        if failed:  # hooks: a startContainer hook failed; the init reported it and exits
            _fail(c)
            raise PyruntimeError(failed)
        faults.point("start.unlinked")
        poststart = (cfg.get("hooks") or {}).get("poststart") or []
        if poststart:
            from pyruntime.hooks import run_hooks
            from pyruntime.lifecycle.create import hook_state
            from pyruntime.spec.versions import poststart_failure_stops

            # hooks: a failure is an error that stops the container for a 1.3 bundle, a
            # warning (the rest run, start succeeds) for 1.0-1.2 ones (spec/versions.py).
            # runc 1.1.5 runs poststart during `create` and fails it.
            stops = poststart_failure_stops(cfg.get("ociVersion"))
            try:
                run_hooks("poststart", poststart, hook_state(c, "running", c.pid), c.data.get("bundle"),
                          warn=not stops, track=c.track_hook)
            except PyruntimeError:
                _fail(c)
                raise
    except BaseException:
        if notify >= 0:
            os.close(notify)
        raise
    return notify


def relay_ready(c: Container, notify: int, mainpid: int) -> None:
    """NOTIFY_SOCKET passthrough: wait for the container's READY=1 (or its
    end), then tell the supervisor, with MAINPID (pyruntime/notify_socket.py).
    The state dir is unlocked first: kill or delete may come meanwhile."""
    from pyruntime import notify_socket

    c.unlock()
    notify_socket.relay(notify, notify_socket.host_socket(), c.pid, int(c.data.get("start_time", -1)),
                        mainpid)
