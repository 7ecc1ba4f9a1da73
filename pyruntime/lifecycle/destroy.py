"""kill and delete: signalling the container and undoing create."""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import os
import time

from pyruntime import faults
from pyruntime.cgroups import factory, pending
from pyruntime.errors import PyruntimeError, StateError
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SIGNALS = {name: int(getattr(signal, name)) for name in dir(signal)
           if name.startswith("SIG") and not name.startswith("SIG_") and isinstance(getattr(signal, name), int)}


def parse_signal(s: str) -> int:
    """A number, `TERM` or `SIGTERM` (runc's rules)."""
    if s.isdigit():
        n = int(s)
        if n <= 0 or n > 64:
            raise PyruntimeError(f"invalid signal number {s}")
        return n
    name = s.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name not in SIGNALS:
        raise PyruntimeError(f"unknown signal {s!r}")
    return SIGNALS[name]


def kill(c: Container, sig: int, all_procs: bool) -> None:
    """runc 1.1.5's Signal: --all signals what is in the cgroup whatever the
    init's state (a stopped container's leftover processes too: without a pid
    namespace of its own the init's exit kills nothing, and containerd's shim
    sends `kill --all ID 9` then waits for the pipes those processes hold);
    a cgroup already gone is nothing to signal. Without --all only a live
    init is signalled (pid reuse)."""
    status = c.status()
    mgr = factory.from_state(c.data.get("cgroup"))
    if all_procs and mgr.paths and status != "creating":
        mgr.signal_all(sig)  # a no-op when the cgroup is gone (runc: Stopped && !Exists)
        return
    if status not in ("created", "running", "paused"):
        raise StateError("container not running")
    # (rootless without cgroups, --all: nothing lists the processes but the
    # init; with a pid namespace of its own, its end is everyone's)
    os.kill(c.pid, sig)
    if status == "paused" and sig == signal.SIGKILL:
        mgr.freeze(False)  # a frozen process cannot die


def destroy(c: Container) -> None:
    """Undo create: kill every process, remove the cgroup and the state dir,
    then run poststop hooks."""
    mgr = factory.from_state(c.data.get("cgroup"))
    faults.point("delete.start")
    if c.hook_left():  # create or start was killed while it ran a hook
        from pyruntime.hooks import kill_tree

        kill_tree(c.hook_left())
    if c.init_alive():
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    faults.point("delete.killed")
    mgr.destroy()
    pending.remove(c.data.get("cgroup_pending"), mgr.paths.values())  # a create killed while making them
    faults.point("delete.cgroup-removed")
    _wait_gone(c)
    cfg = None
    try:
        cfg = c.config()
    except (OSError, ValueError):
        pass
    c.destroy()
    faults.point("delete.state-removed")
    run_poststop(c, cfg)


def run_poststop(c: Container, cfg: dict[str, Any] | None) -> None:
    """runtime-spec lifecycle step 13, after the container is gone: each
    failure is a warning, the others still run, and delete succeeds (runc
    1.1.5 stops at the first failure)."""
    poststop = ((cfg or {}).get("hooks") or {}).get("poststop") or []
    if not poststop:
        return
    from pyruntime.hooks import run_hooks, state_json
    from pyruntime.log import log

    d = c.data
    state = state_json(d.get("ociVersion") or "", c.id, "stopped", 0, d.get("bundle") or "",
                       d.get("annotations"))
    try:
        run_hooks("poststop", poststop, state, d.get("bundle"), warn=True)
    except Exception as e:  # noqa: BLE001 - e.g. fork failing: still only a warning
        log.warning(f"hooks.poststop: {e}")


def _wait_gone(c: Container) -> None:
    for _ in range(2000):
        if not c.init_alive():
            return
        time.sleep(0.001)


def delete(c: Container, force: bool) -> None:
    status = c.status()
    if status in ("running", "paused") and not force:
        raise StateError(f"cannot delete container {c.id} that is not stopped: {status}")
    if status == "creating" and not force:
        raise StateError(f"cannot delete container {c.id} that is being created (use --force)")
    destroy(c)
