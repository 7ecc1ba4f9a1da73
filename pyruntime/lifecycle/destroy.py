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
    """Undo create as runc 1.1.5 does (delete.go's killContainer, then
    libcontainer's destroy): SIGKILL the init and wait up to 10 s for it to
    be gone; an init still there is an error and everything stays, so that
    the caller's next `delete --force` finishes the job once it is gone.
    Then kill what is left, remove the cgroups and the state dir, run the
    poststop hooks. A cgroup that stays busy (a process that cannot be
    killed, moved in from outside) is logged as an error and the rest goes
    on: the state dir is removed and delete succeeds, as runc's (its
    destroy() logs the cgroup error; the state dir goes all the same)."""
    from pyruntime.log import log

    mgr = factory.from_state(c.data.get("cgroup"))
    faults.point("delete.start")
    if c.hook_left():  # create or start was killed while it ran a hook
        from pyruntime.hooks import kill_tree

        kill_tree(c.hook_left())
    if c.init_alive():
        paused = c.status() == "paused"
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if paused:
            mgr.freeze(False)  # a frozen process dies only once thawed
        if not _wait_gone(c, INIT_GONE_TIMEOUT):
            raise StateError(f"container init still running: pid {c.pid} did not die of SIGKILL within "
                             f"{INIT_GONE_TIMEOUT:g} s (frozen, or in uninterruptible sleep); "
                             "nothing was removed, delete --force again once it is gone")
    faults.point("delete.killed")
    try:
        mgr.destroy()
    except PyruntimeError as e:
        log.error(str(e))
    pending.remove(c.data.get("cgroup_pending"), mgr.paths.values())  # a create killed while making them
    faults.point("delete.cgroup-removed")
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


INIT_GONE_TIMEOUT = 10.0  # runc's killContainer: 100 tries 100 ms apart


def _wait_gone(c: Container, timeout: float) -> bool:
    """Whether the init is gone (or a zombie) within timeout: polled every
    1 ms for the first 0.1 s (a SIGKILLed init is normally gone in well
    under that), then every 10 ms."""
    deadline = time.monotonic() + timeout
    n = 0
    while c.init_alive():
        if time.monotonic() >= deadline:
            return False
        n += 1
        time.sleep(0.001 if n < 100 else 0.01)
    return True


def delete(c: Container, force: bool) -> None:
    status = c.status()
    if status in ("running", "paused") and not force:
        raise StateError(f"cannot delete container {c.id} that is not stopped: {status}")
    if status == "creating" and not force:
        raise StateError(f"cannot delete container {c.id} that is being created (use --force)")
    destroy(c)
