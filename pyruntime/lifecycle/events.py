"""events: the container's resource usage every interval and its OOM kills,
as runc's newline-delimited JSON (runc events.go, types/events.go):

    {"type":"stats","id":ID,"data":{"cpu":...,"memory":...,...}}
    {"type":"oom","id":ID}

With stats_only one stats event and done. Otherwise the first stats come
after one interval (Go's time.Tick), OOMs as they happen, until the
container stops or its cgroup is removed (runc goes on until the cgroup is
removed, i.e. until `delete`).

cgroup v1: stats from each controller's directory, OOMs through an eventfd
on memory.oom_control. cgroup v2 (state "kind": "v2"): stats from the one
directory (runc's fs2 names), an OOM each time memory.events' oom_kill
grows (poll() on it reports POLLPRI on every change).
"""

from __future__ import annotations

import os
import select
import time

from pyruntime.cgroups import factory
from pyruntime.cgroups.stats import OomNotifier, OomNotifierV2, StatsError, read_stats, read_stats_v2
from pyruntime.errors import PyruntimeError
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

POLL_S = 0.2  # how often the loop looks whether the container has stopped


def stats_event(c: Container, paths: dict[str, str], v2_path: str | None = None) -> dict[str, Any]:
    data = read_stats_v2(v2_path) if v2_path is not None else read_stats(paths)
    return {"type": "stats", "id": c.id, "data": data}


def _v2_path(cg: dict[str, Any] | None, paths: dict[str, str]) -> str | None:
    """The container's cgroup2 directory when its manager is the v2 one."""
    if (cg or {}).get("kind") != "v2":
        return None
    return str((cg or {}).get("path") or paths.get("unified") or "")


def events(c: Container, interval_ns: int, stats_only: bool,
           emit: Callable[[dict[str, Any]], None]) -> None:
    if interval_ns <= 0:
        raise PyruntimeError("duration interval must be greater than 0")
    if not c.data:
        from pyruntime.errors import ContainerNotFound

        raise ContainerNotFound(c.id)
    if c.status() == "stopped":
        raise PyruntimeError(f"container with id {c.id} is not running")
    mgr = factory.from_state(c.data.get("cgroup"))
    paths = dict(mgr.paths)
    v2 = _v2_path(c.data.get("cgroup"), paths)
    if stats_only:
        try:
            emit(stats_event(c, paths, v2))
        except StatsError as e:
            raise PyruntimeError(str(e)) from None
        return

    oom: OomNotifier | OomNotifierV2 | None = None
    mem = v2 if v2 is not None else paths.get("memory")
    if mem and os.path.isdir(mem) and (v2 is None or os.path.exists(os.path.join(mem, "memory.events"))):
        try:
            oom = OomNotifier(mem) if v2 is None else OomNotifierV2(mem)
        except OSError as e:
            raise PyruntimeError(f"registering OOM notification in {mem}: "
                                 f"{os.strerror(e.errno or 0)}") from None
    poller = select.poll()
    if oom is not None:
        poller.register(oom.fileno(), oom.poll_mask)
    interval = interval_ns / 1e9
    next_tick = time.monotonic() + interval
    try:
        while True:
            now = time.monotonic()
            wait = max(0.0, min(POLL_S, next_tick - now))
            if oom is not None:
                ready = poller.poll(int(wait * 1000 + 0.999))
                if ready and any(ev & (oom.poll_mask | select.POLLERR) for _, ev in ready):
                    n = oom.read()
                    if oom.gone:
                        return  # the cgroup was removed
                    if n:
                        emit({"type": "oom", "id": c.id})
            else:
                time.sleep(wait)
            if time.monotonic() >= next_tick:
                next_tick += interval
                if next_tick < time.monotonic():  # fell behind: time.Tick drops ticks
                    next_tick = time.monotonic() + interval
                try:
                    emit(stats_event(c, paths, v2))
                except StatsError as e:
                    from pyruntime.log import log

                    log.error(str(e))  # runc logs it and goes on
            if not c.init_alive() or not c.exists():
                if oom is not None and oom.read() and not oom.gone:
                    emit({"type": "oom", "id": c.id})
                return
    finally:
        if oom is not None:
            oom.close()
