"""P2, the intermediate: joins the cgroup, enters or creates the
namespaces, and forks the init so that the init is born inside the new pid
(and time) namespace, whose first process becomes PID 1. Then it reports
the init's host PID and exits; the init is re-parented to the caller's
subreaper."""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import os

from pyruntime import faults, namespaces
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError, from_oserror, internal_message
from pyruntime.process.init import init_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from pyruntime.process.plan import InitPlan
    from pyruntime.process.sync import Channel


def intermediate_main(plan: InitPlan, chan: Channel) -> NoReturn:
    try:
        _run(plan, chan)
        os._exit(0)
    except PyruntimeError as e:
        err = e
    except OSError as e:
        err = from_oserror(e, "container setup")
    except BaseException as e:  # noqa: B036 - report, then exit: never return into the CLI
        err = PyruntimeError(internal_message(e, "container setup"))
    try:
        chan.send({"t": "error", "error": err.to_wire()})
    finally:
        os._exit(1)


def _run(plan: InitPlan, chan: Channel) -> None:
    sys_ = sc.sys()
    sc.set_name("pyrt:[1:INTER]")
    sys_.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    plan.cgroup.join_self()
    linux = plan.cfg.linux
    if "time" in plan.new_ns:
        sys_.unshare(sc.CLONE_NEWTIME)
        namespaces.write_time_offsets(linux.get("timeOffsets") or {})
    # From here on /proc/<pid>/exe of this process (the host's interpreter)
    # must not be reachable from the container (CVE-2019-5736 class).
    sys_.prctl(sc.PR_SET_DUMPABLE, 0)
    for ns_type, fd in sorted(plan.ns_fds, key=lambda t: t[0] != "user"):
        try:
            sys_.setns(fd, namespaces.FLAGS[ns_type])
        except OSError as e:
            raise PyruntimeError(f"joining the {ns_type} namespace: {os.strerror(e.errno or 0)}",
                                 field="linux.namespaces") from None
        os.close(fd)
        if ns_type == "user":
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    if "user" in plan.new_ns:
        sys_.unshare(sc.CLONE_NEWUSER)
        # Rootless: the /proc/<pid> files of a non-dumpable process belong to
        # the host's root, so an unprivileged P1 (or newuidmap, which checks
        # the owner) could not write our id maps. No container process can
        # see us (we are in no container's pid namespace), so be dumpable
        # until they are written, as runc's nsexec does.
        rootless = os.geteuid() != 0
        if rootless:
            sys_.prctl(sc.PR_SET_DUMPABLE, 1)
        chan.send({"t": "userns"})
        msg, _ = chan.recv()
        if rootless:
            sys_.prctl(sc.PR_SET_DUMPABLE, 0)
        if msg is None or msg.get("t") != "ok":
            os._exit(1)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    flags = 0
    for t in plan.new_ns - {"user", "time"}:
        flags |= namespaces.FLAGS[t]
    if flags:
        sys_.unshare(flags)
    if "network" in plan.new_ns:
        namespaces.loopback_up()
    faults.point("create.namespaces")
    pid = os.fork()
    if pid == 0:
        init_main(plan, chan)
    chan.send({"t": "pid", "pid": pid})
