"""exec: run one more process in a created or running container.

The process is built as runc's `exec` builds it (a --process file, or the
config snapshot's process with the command line's changes), then the tenant
engine (pyruntime/process/tenant.py) joins the container's cgroup and
namespaces and execs it. Without --detach this process stays its parent (a
child subreaper), forwards signals, proxies the terminal and returns its
exit status.
"""

from __future__ import annotations

import os

from pyruntime import capabilities, faults, jsonfast, lsm
from pyruntime import syscalls as sc
from pyruntime.errors import ConfigError, PyruntimeError, StateError, UsageError, from_wire
from pyruntime.process import settings
from pyruntime.process.sync import Channel
from pyruntime.process.tenant import ExecPlan, tenant_main
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# The init's namespaces, as /proc/<pid>/ns names; the user namespace is joined first.
NS_PROC = {"user": "user", "ipc": "ipc", "uts": "uts", "network": "net", "pid": "pid",
           "mount": "mnt", "cgroup": "cgroup", "time": "time"}


class ExecOptions:
    def __init__(self, root: str, cid: str, args: list[str]) -> None:
        self.root = root
        self.cid = cid
        self.args = args
        self.process_file: str | None = None
        self.detach = False
        self.pid_file: str | None = None
        self.console_socket: str | None = None
        self.pidfd_socket: str | None = None
        self.tty = False
        self.cwd = ""
        self.env: list[str] = []
        self.user = ""
        self.additional_gids: list[str] = []
        self.caps: list[str] = []
        self.no_new_privs: bool | None = None
        self.apparmor = ""
        self.process_label = ""
        self.preserve_fds = 0
        self.ignore_paused = False
        self.cgroup: list[str] = []


def build_process(o: ExecOptions, snapshot: dict[str, Any]) -> dict[str, Any]:
    """runc's getProcess: the --process file as is, else the container's
    process with the command line's changes."""
    if o.process_file:
        try:
            with open(o.process_file, "rb") as f:
                p = jsonfast.loads(f.read())
        except OSError as e:
            raise PyruntimeError(f"open {o.process_file}: {os.strerror(e.errno or 0)}",
                                 path=o.process_file) from None
        except ValueError as e:
            raise ConfigError(f"{o.process_file}: {e}", path=o.process_file) from None
        if not isinstance(p, dict):
            raise ConfigError(f"{o.process_file}: a process must be a JSON object", path=o.process_file)
    else:
        p = jsonfast.loads(jsonfast.dumps(snapshot.get("process") or {}))
        p["args"] = list(o.args)
        if o.cwd:
            p["cwd"] = o.cwd
        if o.apparmor:
            p["apparmorProfile"] = o.apparmor
        if o.process_label:
            p["selinuxLabel"] = o.process_label
        if o.caps:
            last = capabilities.last_cap()
            for name in o.caps:
                if capabilities.not_a_capability(name, last):
                    raise ConfigError(f"--cap {name!r}: not a capability (capabilities(7))", field="--cap")
            caps = p.setdefault("capabilities", {})
            for s in ("bounding", "effective", "permitted"):  # runc 1.1's sets for --cap
                caps[s] = list(caps.get(s) or []) + list(o.caps)
        p["env"] = list(p.get("env") or []) + list(o.env)
        p["terminal"] = o.tty
        if o.no_new_privs is not None:
            p["noNewPrivileges"] = o.no_new_privs
        u = dict(p.get("user") or {})
        if o.user:
            uid, sep, gid = o.user.partition(":")
            if sep:
                u["gid"] = _atoi(gid, "gid")
            u["uid"] = _atoi(uid, "uid")
        for g in o.additional_gids:
            n = _atoi(g, "additional gid")
            if n < 0:
                raise UsageError(f"additional-gids must be a positive number {n}")
            u["additionalGids"] = list(u.get("additionalGids") or []) + [n]
        p["user"] = u
    # runc's validateProcessSpec
    cwd = p.get("cwd")
    if not cwd:
        raise ConfigError("cwd property must not be empty", field="process.cwd")
    if not str(cwd).startswith("/"):
        raise ConfigError(f"cwd {cwd!r} is not an absolute path", field="process.cwd")
    if not p.get("args"):
        raise ConfigError("args must not be empty", field="process.args")
    out: dict[str, Any] = p
    return out


def _atoi(s: str, what: str) -> int:
    try:
        return int(s, 10)
    except ValueError:
        raise UsageError(f'parsing {s} as int for {what} failed: strconv.Atoi: parsing "{s}": '
                         f"invalid syntax") from None


def parse_cpus(spec: str, field: str) -> set[int]:
    """"0-3,7" → {0, 1, 2, 3, 7} (the cpuset list format)."""
    out: set[int] = set()
    try:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            out.update(range(int(lo), int(hi) + 1) if sep else (int(lo),))
    except ValueError:
        raise ConfigError(f"{field}: invalid CPU list {spec!r}", field=field) from None
    if not out:
        raise ConfigError(f"{field}: empty CPU list", field=field)
    return out


def _rlimits(proc: dict[str, Any]) -> list[tuple[int, int, int]]:
    from pyruntime.lifecycle.create import RLIMITS

    out = []
    for i, rl in enumerate(proc.get("rlimits") or []):
        kind = RLIMITS.get(str(rl.get("type")))
        if kind is None:
            raise ConfigError(f"process.rlimits[{i}].type: unknown rlimit {rl.get('type')!r}",
                              field=f"process.rlimits[{i}]")
        out.append((kind, int(rl["soft"]), int(rl["hard"])))
    return out


def _open_ns_fds(pid: int) -> list[tuple[str, int]]:
    """Every namespace of the init that is not already ours."""
    out: list[tuple[str, int]] = []
    for t, name in NS_PROC.items():
        theirs = f"/proc/{pid}/ns/{name}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                continue
            out.append((t, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except FileNotFoundError:
            if t == "time":  # kernels without time namespaces
                continue
            for _, fd in out:
                os.close(fd)
            raise StateError("cannot exec in a stopped container") from None
    return out


def _cgroup_files(mgr: Any, specs: list[str]) -> list[str]:
    """--cgroup [ctrl[,ctrl]:]path: a sub-cgroup of the container's to join instead."""
    from pyruntime.cgroups.hierarchy import UNIFIED

    paths: dict[str, str] = dict(getattr(mgr, "paths", {}) or {})
    if not paths and getattr(mgr, "path", None):
        paths = {UNIFIED: mgr.path}
    chosen: dict[str, str] = {}
    for spec in specs:
        ctrls, sep, sub = spec.rpartition(":")
        if not sep:
            for c in paths:
                chosen.setdefault(c, sub)
        else:
            for c in ctrls.split(","):
                if c not in paths:
                    raise UsageError(f"--cgroup {spec}: the container has no {c!r} cgroup")
                chosen[c] = sub
    out = []
    for c, base in paths.items():
        sub = chosen.get(c, "")
        d = os.path.join(base, sub.lstrip("/")) if sub else base
        if os.path.normpath(d) != base and not os.path.normpath(d).startswith(base + "/"):
            raise UsageError(f"--cgroup: {sub} is outside the container's cgroup")
        if not os.path.isdir(d):
            raise UsageError(f"--cgroup: {d}: no such cgroup")
        out.append(os.path.join(d, "cgroup.procs" if c == UNIFIED else "tasks"))
    return out


def exec_process(o: ExecOptions) -> int:
    c = Container.load(o.root, o.cid, lock=True)
    try:
        status = c.status()
        if status in ("stopped", "creating"):
            raise StateError("cannot exec in a stopped container")
        if status == "paused" and not o.ignore_paused:
            raise StateError("cannot exec in a paused container (use --ignore-paused to override)")
        if not o.process_file and not o.args:
            raise UsageError("process args cannot be empty")
        snapshot = c.config()
        proc = build_process(o, snapshot)
        init_pid = c.pid
        cgroup_state = c.data.get("cgroup")
        bundle, annotations = c.data.get("bundle") or "", c.data.get("annotations")
    finally:
        c.unlock()  # kill/state/delete from elsewhere must not wait for an exec

    terminal = bool(proc.get("terminal"))
    if o.detach and terminal and not o.console_socket:
        raise ConfigError("cannot allocate tty if pyruntime will detach without setting console socket",
                          field="process.terminal")
    if (not o.detach or not terminal) and o.console_socket:
        raise ConfigError("cannot use console socket if pyruntime will not detach or allocate tty",
                          field="process.terminal")
    from pyruntime.spec.load import Config

    lsm.check(Config({"process": proc, "linux": {}}, os.path.join(c.data.get("bundle", ""), "config.json"), b""))
    caps = capabilities.masks(proc.get("capabilities"), source=o.process_file or "")
    rlimits = _rlimits(proc)
    # The children import nothing once they have joined the container's mount namespace.
    if rlimits:
        import resource  # noqa: F401
    if terminal:
        from pyruntime import console  # noqa: F401
    from pyruntime.cgroups import factory

    mgr = factory.from_state(cgroup_state) if cgroup_state else None
    plan = ExecPlan(proc, mgr, [], caps, rlimits)
    if o.cgroup and mgr is not None:
        plan.cgroup_files = _cgroup_files(mgr, o.cgroup)
    aff = proc.get("execCPUAffinity") or {}
    if aff.get("initial"):
        plan.cpu_initial = parse_cpus(str(aff["initial"]), "process.execCPUAffinity.initial")
    if aff.get("final"):
        plan.cpu_final = parse_cpus(str(aff["final"]), "process.execCPUAffinity.final")
    seccomp_cfg = (snapshot.get("linux") or {}).get("seccomp")
    if seccomp_cfg is not None:
        from pyruntime.seccomp import compile_filter

        plan.seccomp = compile_filter(seccomp_cfg)
        if plan.seccomp.notify:
            # runc sends a state for each exec'd process too: its pid, the container's state.
            from pyruntime.seccomp_notify import Agent

            plan.seccomp_agent = Agent(plan.seccomp.listener_path, plan.seccomp.listener_metadata, o.cid,
                                       bundle, annotations)
            plan.seccomp_agent.check()
            plan.container_status, plan.init_pid = status, init_pid
    plan.scheduler = settings.check_scheduler(proc.get("scheduler"))
    plan.ioprio = settings.check_io_priority(proc.get("ioPriority"))
    if proc.get("oomScoreAdj") is not None:
        plan.oom_score_adj = int(proc["oomScoreAdj"])
    plan.preserve_fds = o.preserve_fds
    plan.console_to_parent = terminal and not o.console_socket
    pid_file = os.path.abspath(o.pid_file) if o.pid_file else None
    if o.console_socket:
        import _socket

        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.connect(os.path.abspath(o.console_socket))
        except OSError as e:
            s.close()
            raise PyruntimeError(f"--console-socket {o.console_socket}: {os.strerror(e.errno or 0)}",
                                 path=o.console_socket) from None
        plan.console_sock = s.detach()
    if o.pidfd_socket:
        from pyruntime import pidfd_socket

        try:
            plan.pidfd_sock = pidfd_socket.connect(os.path.abspath(o.pidfd_socket))
        except BaseException:
            if plan.console_sock >= 0:
                os.close(plan.console_sock)
            raise
    if not o.detach:
        from pyruntime.lifecycle.run import hold_signals

        sc.sys().prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        hold_signals()
    faults.point("exec.prepared")
    plan.ns_fds = _open_ns_fds(init_pid)
    # Served, the worker is in the caller's cgroup2 cgroup but init's v1 ones
    # (launch/placement.py): T1 joins every one of the container's cgroups
    # itself before it forks the process, so the caller's never reach it, and
    # joining them first would cost a migration per hierarchy (~10 ms measured).
    pid, master = _spawn(plan)
    faults.point("exec.started")
    if pid_file:
        from pyruntime.lifecycle.create import _write_pid_file

        _write_pid_file(pid_file, pid)
    if o.detach:
        return 0
    from pyruntime.lifecycle.run import wait_for

    return wait_for(pid, master)


def _spawn(plan: ExecPlan) -> tuple[int, int]:
    """Fork the tenant; return (the process's host pid, pty master or -1)
    once it has exec'd."""
    sc.sys()  # load the compiled module now
    parent, child = Channel.pair()
    # born in the container's cgroup2 cgroup where it can be (cgroups/manager.py)
    t1 = plan.cgroup.fork() if plan.cgroup is not None and not plan.cgroup_files else os.fork()
    if t1 == 0:
        parent.close()
        tenant_main(plan, child)  # never returns
    faults.point("exec.forked")
    child.close()
    for _, fd in plan.ns_fds:
        os.close(fd)
    for fd in (plan.console_sock, plan.pidfd_sock):  # T1's (and T2's) now
        if fd >= 0:
            os.close(fd)
    pid = 0
    master = -1
    t1_reaped = False
    early: list[tuple[dict[str, Any], list[int]]] = []  # T2's "seccomp" may beat T1's "pid"
    try:
        while True:
            msg: dict[str, Any] | None
            if early and pid:
                msg, fds = early.pop(0)
            else:
                msg, fds = parent.recv()
                if msg is not None and not pid and msg.get("t") == "seccomp":
                    early.append((msg, fds))
                    continue
            if msg is None:
                if not t1_reaped:
                    _, st = os.waitpid(t1, 0)
                    t1_reaped = True
                    raise PyruntimeError(f"exec setup process exited unexpectedly "
                                         f"(status {os.waitstatus_to_exitcode(st)})")
                if not pid:
                    raise PyruntimeError("exec: the process exited unexpectedly")
                break  # close-on-exec: the process has exec'd
            t = msg.get("t")
            if t == "pid":
                pid = int(msg["pid"])
                os.waitpid(t1, 0)
                t1_reaped = True
            elif t == "console":
                master = fds[0]
            elif t == "seccomp":
                from pyruntime.seccomp_notify import pass_listener  # imported above already

                pass_listener(plan.seccomp_agent, fds, pid, plan.init_pid, plan.container_status)
                parent.send({"t": "ok"})
            elif t == "error":
                raise from_wire(msg["error"])
            else:
                raise PyruntimeError(f"internal error: unexpected sync message {msg!r}")
    except BaseException:
        for _, fds in early:
            for fd in fds:
                os.close(fd)
        if pid:
            sc.kill_and_reap(pid)
        if not t1_reaped:
            sc.kill_and_reap(t1)
        if master >= 0:
            os.close(master)
        raise
    finally:
        parent.close()
    return pid, master
