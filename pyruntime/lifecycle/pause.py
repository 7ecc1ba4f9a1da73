"""pause, resume and the container's process list (`ps`): the freezer and
the pid list of the container's cgroup, through its cgroup manager."""

from __future__ import annotations

from pyruntime.cgroups import factory
from pyruntime.errors import PyruntimeError, StateError
from pyruntime.state.store import Container


def pause(c: Container) -> None:
    """Freeze every process of a created or running container (runc's
    Container.Pause: any other status is "container not running")."""
    if c.status() not in ("running", "created"):
        raise StateError("container not running")
    if not factory.from_state(c.data.get("cgroup")).freeze(True):
        raise PyruntimeError(f"cannot pause container {c.id}: it has no freezer cgroup")


def resume(c: Container) -> None:
    """Thaw a paused container ("container not paused" otherwise)."""
    if c.status() != "paused":
        raise StateError("container not paused")
    factory.from_state(c.data.get("cgroup")).freeze(False)


def processes(c: Container) -> list[int]:
    """Host pids of every process in the container's cgroup (runc's
    Container.Processes); a stopped container whose cgroup is gone has none."""
    if not c.data:
        from pyruntime.errors import ContainerNotFound

        raise ContainerNotFound(c.id)
    return factory.from_state(c.data.get("cgroup")).procs()
