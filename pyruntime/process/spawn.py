"""P1's side of the birth of a container: fork the intermediate, answer
its and the init's requests (the protocol table is in sync.py), and return
once the init is blocked on the exec fifo."""

from __future__ import annotations

import os

from pyruntime import namespaces
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError, from_wire
from pyruntime.process.intermediate import intermediate_main
from pyruntime.process.sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyruntime.process.plan import InitPlan


class Spawned:
    def __init__(self) -> None:
        self.pid = 0
        self.console_master = -1


def spawn(plan: InitPlan, on_pid: Callable[[int], None], run_hooks: Callable[[int], None]) -> Spawned:
    """on_pid(pid) records the init as soon as it exists (so a killed create
    can be cleaned up); run_hooks(pid) runs prestart + createRuntime."""
    sc.sys()  # load the compiled module now: the children must not import anything
    parent, child = Channel.pair()
    inter = os.fork()
    if inter == 0:
        parent.close()
        for fd in plan.close_in_child:
            os.close(fd)
        intermediate_main(plan, child)  # never returns
    child.close()
    for _, fd in plan.ns_fds:
        os.close(fd)
    out = Spawned()
    inter_reaped = False
    early: list[tuple[dict[str, Any], list[int]]] = []  # the init's messages that beat "pid"
    try:
        while True:
            msg: dict[str, Any] | None
            if early and out.pid:
                msg, fds = early.pop(0)
            else:
                msg, fds = parent.recv()
                # The init and the intermediate share the channel: the init may
                # speak before the intermediate has reported its pid.
                if msg is not None and not out.pid and msg.get("t") in ("hooks", "console", "ready"):
                    early.append((msg, fds))
                    continue
            if msg is None:
                text = _died_message(inter, inter_reaped)
                inter_reaped = True
                raise PyruntimeError(text)
            t = msg.get("t")
            if t == "userns":
                namespaces.write_id_maps(inter, plan.cfg.linux)
                parent.send({"t": "ok"})
            elif t == "pid":
                out.pid = int(msg["pid"])
                os.waitpid(inter, 0)
                inter_reaped = True
                on_pid(out.pid)
            elif t == "hooks":
                run_hooks(out.pid)
                parent.send({"t": "ok"})
            elif t == "console":
                out.console_master = fds[0]
            elif t == "ready":
                break
            elif t == "error":
                raise from_wire(msg["error"])
            else:
                raise PyruntimeError(f"internal error: unexpected sync message {msg!r}")
    except BaseException:
        for pid in (out.pid, 0 if inter_reaped else inter):
            if pid:
                sc.kill_and_reap(pid)
        if out.console_master >= 0:
            os.close(out.console_master)
        raise
    finally:
        parent.close()
    return out


def _died_message(inter: int, reaped: bool) -> str:
    if not reaped:
        _, status = os.waitpid(inter, 0)
        return f"container setup process exited unexpectedly (status {os.waitstatus_to_exitcode(status)})"
    return "container init exited unexpectedly during create"
