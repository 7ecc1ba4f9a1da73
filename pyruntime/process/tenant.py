"""The processes of `exec`: the same engine as create's, in tenant mode.

    P1 pyruntime exec   prepares an ExecPlan (namespace fds, caps, seccomp) and forks
    T1 pyrt:[1:TENANT]  rlimits, execCPUAffinity.initial, joins the container's cgroup,
                        PR_SET_DUMPABLE 0, setns into every namespace of the init
                        (user first), forks the process (so that it is born inside the
                        container's pid namespace), reports its pid, exits
    T2 pyrt:[2:TENANT]  cwd, pty, its pidfd to --pidfd-socket, execCPUAffinity.final,
                        seccomp, user, capabilities, no_new_privs, execve

The sync channel is close-on-exec: EOF after the "pid" message means the
process exec'd; an error before that crosses as structured data, as with
create.
"""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import _socket
import os

from pyruntime import faults, namespaces
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError, from_oserror, internal_message
from pyruntime.process import become, settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pyruntime.cgroups.manager import Manager
    from pyruntime.process.settings import Scheduler
    from pyruntime.process.sync import Channel
    from pyruntime.seccomp import SeccompFilter
    from pyruntime.seccomp_notify import Agent


class ExecPlan:
    """Everything the exec'd process needs, prepared by P1 before fork."""

    def __init__(self, proc: dict[str, Any], cgroup: Manager | None, ns_fds: list[tuple[str, int]],
                 caps: dict[str, int], rlimits: list[tuple[int, int, int]]) -> None:
        self.proc = proc
        self.cgroup = cgroup
        self.cgroup_files: list[str] = []  # --cgroup: sub-cgroups' procs files, instead of join_self
        self.ns_fds = ns_fds               # (type, fd of /proc/<init>/ns/<type>)
        self.caps = caps
        self.rlimits = rlimits             # (resource, soft, hard)
        self.seccomp: SeccompFilter | None = None
        self.seccomp_agent: Agent | None = None  # SCMP_ACT_NOTIFY: with the state sent to it
        self.init_pid = 0
        self.container_status = ""
        self.console_sock = -1             # connected --console-socket, or -1
        self.pidfd_sock = -1               # connected --pidfd-socket, or -1
        self.console_to_parent = False
        self.preserve_fds = 0
        self.cpu_initial: set[int] | None = None
        self.cpu_final: set[int] | None = None
        self.close_in_child: list[int] = []
        self.scheduler: Scheduler | None = None  # process.scheduler/ioPriority/oomScoreAdj
        self.ioprio: int | None = None
        self.oom_score_adj: int | None = None


def _fail(chan: Channel, err: PyruntimeError) -> NoReturn:
    try:
        chan.send({"t": "error", "error": err.to_wire()})
    except OSError:
        os.write(2, f"pyruntime exec: {err.msg}\n".encode())
    os._exit(1)


def _guard(chan: Channel, what: str, fn: Any, *args: Any) -> NoReturn:
    try:
        fn(*args)
        os._exit(0)
    except PyruntimeError as e:
        _fail(chan, e)
    except OSError as e:
        _fail(chan, from_oserror(e, what))
    except BaseException as e:  # noqa: B036 - report, then exit: never return into the CLI
        _fail(chan, PyruntimeError(internal_message(e, what)))


def tenant_main(plan: ExecPlan, chan: Channel) -> NoReturn:
    """T1: never returns."""
    _guard(chan, "exec setup", _join, plan, chan)


def _join(plan: ExecPlan, chan: Channel) -> None:
    sys_ = sc.sys()
    sc.set_name("pyrt:[1:TENANT]")
    sys_.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    if plan.cpu_initial is not None:
        _affinity(plan.cpu_initial, "initial")
    if plan.cgroup_files:
        for f in plan.cgroup_files:
            with open(f, "w") as fh:
                fh.write("0")
    elif plan.cgroup is not None:
        plan.cgroup.join_self()
    if plan.rlimits:
        # Still in the host's user namespace: limits above the container's own can be set.
        import resource  # imported by P1 already (exec.py): no import after setns

        for kind, soft, hard in plan.rlimits:
            resource.setrlimit(kind, (soft, hard))
    if plan.oom_score_adj is not None:
        # Our own, inherited by the fork and kept across execve (as runc does for exec).
        settings.set_oom_score_adj(os.getpid(), plan.oom_score_adj)
    # From here on /proc/<pid>/exe of this process (the host's interpreter)
    # must not be reachable from the container (CVE-2019-5736 class).
    sys_.prctl(sc.PR_SET_DUMPABLE, 0)
    for ns_type, fd in sorted(plan.ns_fds, key=lambda t: t[0] != "user"):
        try:
            sys_.setns(fd, namespaces.FLAGS[ns_type])
        except OSError as e:
            raise PyruntimeError(f"exec: joining the container's {ns_type} namespace: "
                                 f"{os.strerror(e.errno or 0)}", errno=e.errno) from None
        os.close(fd)
        if ns_type == "user":
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    faults.point("exec.joined")
    pid = os.fork()
    if pid == 0:
        _guard(chan, "exec", _become, plan, chan)
    chan.send({"t": "pid", "pid": pid})


def _affinity(cpus: set[int], which: str) -> None:
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as e:
        raise PyruntimeError(f"process.execCPUAffinity.{which}: sched_setaffinity: "
                             f"{os.strerror(e.errno or 0)}", field=f"process.execCPUAffinity.{which}") from None


def _become(plan: ExecPlan, chan: Channel) -> None:
    """T2, inside every namespace of the container: the process itself."""
    sc.set_name("pyrt:[2:TENANT]")
    proc = plan.proc
    cwd = proc.get("cwd") or "/"
    try:
        os.chdir(cwd)  # setns(mnt) put us at the container's root
    except OSError as e:
        raise PyruntimeError(f"exec: chdir to cwd ({cwd!r}) set in config.json failed: "
                             f"{os.strerror(e.errno or 0)}", field="process.cwd", path=cwd) from None
    slave = -1
    if proc.get("terminal"):
        from pyruntime import console  # imported by P1 already (exec.py)

        os.setsid()
        master, slave, name = console.open_pty("/")
        console.set_size(master, proc.get("consoleSize"))
        if plan.console_sock >= 0:
            console.send_master_on(_socket.socket(fileno=plan.console_sock), master, name)
        else:
            chan.send({"t": "console"}, [master])
        os.close(master)
    elif plan.console_sock >= 0:
        os.close(plan.console_sock)
    if plan.pidfd_sock >= 0:  # --pidfd-socket: a pidfd of this process (as runc: after the console)
        from pyruntime import pidfd_socket  # imported by P1 already

        pidfd_socket.send_own_pidfd(plan.pidfd_sock, pidfd_socket.EXEC)
    if plan.cpu_final is not None:
        _affinity(plan.cpu_final, "final")
    faults.point("exec.in-container")
    # The channel is close-on-exec: its EOF tells P1 that the exec happened.
    exe, args, env = become.take_identity(proc, plan.caps, plan.scheduler, plan.ioprio, plan.seccomp, chan,
                                          preserve_fds=plan.preserve_fds, keep_open=chan.fileno())
    try:
        become.exec_program(exe, args, env, seccomp=plan.seccomp,
                            no_new_privs=bool(proc.get("noNewPrivileges")), slave=slave)
    except OSError as e:
        raise PyruntimeError(f"exec {exe}: {os.strerror(e.errno or 0)}",
                             field="process.args", errno=e.errno) from None
