"""P1's side of the birth of a container: fork the intermediate, answer
its and the init's requests (the protocol table is in sync.py), and return
once the init is blocked on the exec fifo."""

from __future__ import annotations

import os

from pyruntime import faults, namespaces
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError, from_wire
from pyruntime.launch import placement
from pyruntime.process.intermediate import intermediate_main
from pyruntime.process.sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pyruntime.process.plan import InitPlan


# The init's messages (sync.py), which may come before the intermediate's "pid".
EARLY = ("hooks", "console", "seccomp", "ready")


class Spawned:
    def __init__(self) -> None:
        self.pid = 0
        self.console_master = -1


def spawn(plan: InitPlan, on_pid: Callable[[int], None], run_hooks: Callable[[int], None]) -> Spawned:
    """on_pid(pid) records the init as soon as it exists (so a killed create
    can be cleaned up); run_hooks(pid) runs prestart + createRuntime."""
    sc.sys()  # load the compiled module now: the children must not import anything
    parent, child = Channel.pair()
    placement.join_caller()  # served `run`: from the caller's cgroups, as from runc's process
    inter = plan.cgroup.fork()  # born in its cgroup2 cgroup where it can be (cgroups/manager.py)
    if inter == 0:
        parent.close()
        for fd in plan.close_in_child:
            os.close(fd)
        intermediate_main(plan, child)  # never returns
    faults.point("create.forked")
    child.close()
    for _, fd in plan.ns_fds:
        os.close(fd)
    if plan.pidfd_sock >= 0:  # the init's now
        os.close(plan.pidfd_sock)
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
                if msg is not None and not out.pid and msg.get("t") in EARLY:
                    early.append((msg, fds))
                    continue
            if msg is None:
                text = _died_message(inter, inter_reaped) + _seccomp_hint(plan)
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
            elif t == "seccomp":
                # SCMP_ACT_NOTIFY: the init's listener fd goes to the agent before it goes on.
                from pyruntime.seccomp_notify import pass_listener  # imported by create already

                pass_listener(plan.seccomp_agent, fds, out.pid, out.pid, "creating")
                parent.send({"t": "ok"})
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


def _seccomp_hint(plan: InitPlan) -> str:
    """A filter loaded before the user's execve (without noNewPrivileges:
    before the capabilities are dropped; with SCMP_ACT_NOTIFY: before the
    exec fifo) applies to pyruntime's own remaining syscalls: a profile that
    denies or kills them ends the init here."""
    f = plan.seccomp
    if f is None or (plan.cfg.process or {}).get("noNewPrivileges") and not f.notify:
        return ""
    return ("; linux.seccomp: the filter is loaded before the process execs (without noNewPrivileges, "
            "or with SCMP_ACT_NOTIFY), so it must allow the syscalls pyruntime makes after loading it")


def _died_message(inter: int, reaped: bool) -> str:
    if not reaped:
        _, status = os.waitpid(inter, 0)
        return f"container setup process exited unexpectedly (status {os.waitstatus_to_exitcode(status)})"
    return "container init exited unexpectedly during create"
