"""Where a served command runs in the cgroup hierarchies.

The warm server (pyruntime/launch/server.py) lives in init's cgroups, not in any
caller's: a server left in the cgroups of the caller that started it would
stay there after the command returned, where runc leaves nothing. A
caller's cgroups must hold what runc's command process puts in them: the
hooks the runtime process runs (createRuntime, prestart, poststart,
poststop) and the container's intermediate and init before they join the
container's own cgroups. So the server lends the caller's cgroups to each
worker, cheaply:

- the worker is born in the caller's cgroup2 cgroup: clone3 with
  CLONE_INTO_CGROUP takes the cgroup_threadgroup_rwsem for reading, while a
  cgroup.procs write takes it for writing and waits for an RCU grace period
  unless another writer came within the last one (5-25 ms measured here);
- it joins the caller's v1 cgroups (cgroup.procs writes) only just before
  it forks a hook or a container (join_caller(), called by hooks.py and
  process/spawn.py): `state`, `kill` and a `start` or `delete` without
  runtime hooks fork nothing, and never pay for it.

Run in the server (server_side) and in a worker (join_caller); a command's
own process, not served, has nothing pending and join_caller does nothing.
"""

from __future__ import annotations

import os

from pyruntime.cgroups.hierarchy import UNIFIED, hierarchies
from pyruntime.state.procfs import parse_proc_cgroup

# mount point -> the caller's cgroup under it, for the worker to join before
# it forks anything (empty in every process but a worker)
_pending: dict[str, str] = {}


def cgroups_of(pid: int | str, mounts: dict[str, str] | None = None) -> dict[str, str]:
    """{mount point of each hierarchy: process pid's cgroup path in it};
    mounts: cgroups.hierarchy.hierarchies(), read again when not given."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            paths = parse_proc_cgroup(f.read())
    except OSError:
        return {}
    out: dict[str, str] = {}
    for controller, mount in (hierarchies() if mounts is None else mounts).items():
        path = paths.get("" if controller == UNIFIED else controller)
        if path is not None:
            out[mount] = path
    return out


def _write_self(mount: str, path: str) -> None:
    # "0": the writing process (its whole thread group, in v1 and v2 alike)
    fd = os.open(f"{mount}{path.rstrip('/')}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)


def move_to_inits() -> None:
    """The server: leave the cgroups of the command that started it for
    init's (pid 1 adopted it: it is init's child in every sense). A
    hierarchy where that fails (init outside our cgroup namespace, a
    controller refusing) keeps us where we are."""
    mine, inits = cgroups_of("self"), cgroups_of(1)
    for mount, path in inits.items():
        if mine.get(mount) != path and not path.startswith("/.."):
            try:
                _write_self(mount, path)
            except OSError:
                pass


def fork_as(caller: dict[str, str], own: dict[str, str], unified: str | None) -> int:
    """The server: fork a worker for a caller whose cgroups are `caller`
    (cgroups_of its pid), born in its cgroup2 cgroup where possible; in the
    worker, record the rest for join_caller(). Returns as os.fork()."""
    pending = {m: p for m, p in caller.items() if own.get(m) != p}
    pid = -1
    if unified is not None and unified in pending:
        from pyruntime import syscalls as sc

        pid = sc.fork_into_cgroup_dir(f"{unified}{pending[unified]}")
        if pid >= 0:
            pending.pop(unified)
    if pid < 0:  # no clone3 (or the cgroup refused it): the worker writes cgroup.procs itself
        pid = os.fork()
    if pid == 0:
        _pending.clear()
        _pending.update(pending)
    return pid


def join_caller() -> None:
    """A worker: join the caller's remaining cgroups now, before forking a
    hook or a container (which must be born there, as from runc's process).
    Nothing to do in a command's own process."""
    from pyruntime.errors import PyruntimeError

    while _pending:
        mount, path = _pending.popitem()
        try:
            _write_self(mount, path)
        except OSError as e:
            raise PyruntimeError(f"cannot join the caller's cgroup {mount}{path}: {e.strerror}") from None
