"""create: everything in the config except the user's process, which waits
on the exec fifo until `start` (runtime-spec "Lifecycle" steps 1-6).

A failure at any step undoes every earlier one: no state dir, cgroup,
mount or process is left behind.
"""

from __future__ import annotations

import os
import pwd

from pyruntime import capabilities, faults, jsonfast, lsm, sysctl
from pyruntime.cgroups import factory, pending
from pyruntime.cgroups.hierarchy import hierarchies
from pyruntime.cgroups.manager import Manager
from pyruntime.cgroups.support import check_resources
from pyruntime.errors import ConfigError, PyruntimeError
from pyruntime.log import log, rfc3339
from pyruntime.namespaces import open_ns_path
from pyruntime.process import settings
from pyruntime.process.plan import InitPlan
from pyruntime.process.spawn import Spawned, spawn
from pyruntime.spec.load import load
from pyruntime.state.procfs import read_stat
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.seccomp import SeccompFilter
    from pyruntime.seccomp_notify import Agent
    from pyruntime.spec.load import Config


class CreateOptions:
    def __init__(self, root: str, cid: str, bundle: str, pid_file: str | None = None,
                 console_socket: str | None = None, no_pivot: bool = False, preserve_fds: int = 0,
                 tty_to_caller: bool = False, no_new_keyring: bool = False,
                 systemd_cgroup: bool = False, pidfd_socket: str | None = None) -> None:
        self.root = root
        self.cid = cid
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.tty_to_caller = tty_to_caller  # `run` in the foreground keeps the pty master itself
        self.no_new_keyring = no_new_keyring
        self.systemd_cgroup = systemd_cgroup
        self.pidfd_socket = pidfd_socket  # the init sends a pidfd of itself there (pidfd_socket.py)


def hook_state(c: Container, status: str, pid: int) -> str:
    return jsonfast.dumps({"ociVersion": c.data.get("ociVersion", ""), "id": c.id, "status": status,
                       "pid": pid, "bundle": c.data.get("bundle", ""),
                       "annotations": c.data.get("annotations") or {}})


def create(o: CreateOptions) -> tuple[Container, Spawned]:
    cfg = load(o.bundle)
    # Config edits before anything is made (docs/NVIDIA.md): CDI devices named by
    # cdi.k8s.io/* annotations (pyruntime/cdi.py), hooks from hooks.d drop-ins
    # (pyruntime/hooks_d.py). Each module is imported only when it has work to do.
    if any(k.startswith("cdi.k8s.io/") for k in cfg.annotations):
        from pyruntime import cdi

        cdi.apply(cfg)
    if any(os.path.isdir(d) for d in os.environ.get("PYRUNTIME_HOOKS_DIR", "/etc/pyruntime/hooks.d").split(":")):
        from pyruntime import hooks_d

        hooks_d.apply(cfg)
    sd_unit = None
    if o.systemd_cgroup:
        # --systemd-cgroup: cgroups/systemd.py checks "slice:prefix:name" and whether
        # systemd runs; the manager then starts a transient unit over D-Bus.
        from pyruntime.cgroups import systemd

        sd_unit = systemd.prepare(cfg.linux.get("cgroupsPath"), o.cid)
    # process is OPTIONAL until `start` (config.md: "REQUIRED when start is called"):
    # without it the init sets up the environment and waits with nothing to run.
    proc = cfg.process or {}
    if proc.get("terminal") and not o.console_socket and not o.tty_to_caller:
        raise ConfigError("cannot allocate tty if pyruntime will detach without setting console socket",
                          field="process.terminal")
    if o.console_socket and not proc.get("terminal"):
        raise ConfigError("cannot use console socket if pyruntime will not detach or allocate tty",
                          field="process.terminal")
    lsm.check(cfg)
    from pyruntime import rootless  # (imported by the CLI already)

    if rootless.euid_rootless():  # an unprivileged caller: what it cannot do at all
        rootless.check_config(cfg)
    check_resources(cfg.linux.get("resources"))
    caps = capabilities.masks(proc.get("capabilities"), source=cfg.path)
    scheduler = settings.check_scheduler(proc.get("scheduler"))
    ioprio = settings.check_io_priority(proc.get("ioPriority"))
    persona = settings.check_personality(cfg.linux.get("personality"))
    sysctls = sysctl.check(cfg)
    net_devices: dict[str, str] = {}
    if cfg.linux.get("netDevices"):
        from pyruntime import netdevices

        net_devices = netdevices.check(cfg)
    pid_file = os.path.abspath(o.pid_file) if o.pid_file else None
    console_socket = os.path.abspath(o.console_socket) if o.console_socket else None
    pidfd_path = os.path.abspath(o.pidfd_socket) if o.pidfd_socket else None
    if not os.path.isdir(cfg.rootfs):
        raise ConfigError(f"{cfg.path}: root.path: rootfs {cfg.rootfs} is not a directory",
                          field="root.path", path=cfg.rootfs)
    os.chdir(cfg.bundle)  # hooks run here, as with runc
    seccomp_filter, seccomp_agent = _seccomp(cfg, o.cid)

    c = Container.create(o.root, o.cid)
    mgr: Manager | None = None
    ns_fds: list[tuple[str, int]] = []
    pidfd_sock = -1
    try:
        faults.point("create.reserved")
        cgroup_mounts = hierarchies()
        if sd_unit is not None:
            mgr = systemd.for_config(sd_unit, o.cid, cgroup_mounts, cfg.linux.get("resources"))
        else:
            # every hierarchy, the cgroup2 one of a hybrid host too (runc); a rootless
            # caller's only when needed (a user's delegation is often v1 only)
            mgr = factory.for_config(cfg.linux.get("cgroupsPath"), o.cid, cgroup_mounts,
                                     with_unified=not rootless.cgroups_rootless() or cfg.new_ns("cgroup") or
                                     Manager.needs_unified(cfg.linux, cgroup_mounts))
            if rootless.cgroups_rootless():  # only the cgroups we may use (rootless.py)
                mgr = rootless.prune_cgroups(mgr, cfg.linux.get("resources"), cfg.linux.get("cgroupsPath"))
        c.data = {
            "ociVersion": cfg.data["ociVersion"], "id": o.cid, "pid": 0,
            "bundle": cfg.bundle, "rootfs": cfg.rootfs, "owner": _owner(),
            "annotations": cfg.annotations, "cgroup": mgr.to_state(),
        }
        c.save_config(cfg.raw)
        if os.environ.get("NOTIFY_SOCKET"):
            # sd_notify passthrough (pyruntime/notify_socket.py): imported only then
            from pyruntime import notify_socket

            notify_socket.setup(cfg, c.dir)
        c.data["cgroup_pending"] = pending.missing(mgr.paths.values())
        c.save()  # before the cgroups exist: a killed create can still be cleaned up
        faults.point("create.state-saved")
        mgr.create()
        faults.point("create.cgroup-made")
        c.data["cgroup"] = mgr.to_state()
        del c.data["cgroup_pending"]
        c.save()
        mgr.check_not_frozen()
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)
        fifo_fd = os.open(c.fifo, os.O_PATH | os.O_CLOEXEC)
        faults.point("create.fifo-made")
        for i, ns in enumerate(cfg.namespaces):
            if ns.get("path"):
                ns_fds.append((ns["type"], open_ns_path(ns["type"], ns["path"], i)))
        plan = InitPlan(o.cid, cfg, mgr, cgroup_mounts, fifo_fd, ns_fds, caps, console_socket,
                        bool(proc.get("terminal")) and not console_socket, o.no_pivot, o.preserve_fds,
                        not o.no_new_keyring)
        plan.close_in_child.append(c.lock_fd)
        plan.seccomp, plan.seccomp_agent = seccomp_filter, seccomp_agent
        if pidfd_path:
            from pyruntime import pidfd_socket

            plan.pidfd_sock = pidfd_sock = pidfd_socket.connect(pidfd_path)
        plan.sysctl, plan.scheduler, plan.ioprio, plan.personality = sysctls, scheduler, ioprio, persona

        def on_pid(pid: int) -> None:
            st = read_stat(pid)
            c.data["pid"] = pid
            c.data["start_time"] = st[1] if st else -1
            c.save()
            faults.point("create.init-recorded")
            # Limits go on once the init is inside (runc: Apply, then Set): a
            # pids limit of 0 would otherwise stop the intermediate forking it.
            # The init is still our code, far from the user's process.
            mgr.apply(cfg.linux.get("resources"))
            _set_rlimits(pid, proc.get("rlimits") or [])
            if proc.get("oomScoreAdj") is not None:
                settings.set_oom_score_adj(pid, int(proc["oomScoreAdj"]))

        def prestart(pid: int) -> None:
            """The init waits, mounts done, before pivot_root (sync.py step 3)."""
            if net_devices:
                from pyruntime import netdevices

                netdevices.move(net_devices, pid)
            faults.point("create.prestart")
            if cfg.hooks.get("prestart") or cfg.hooks.get("createRuntime"):
                from pyruntime.hooks import run_hooks  # most configs have none

                state = hook_state(c, "creating", pid)
                run_hooks("prestart", cfg.hooks.get("prestart") or [], state, cfg.bundle, track=c.track_hook)
                run_hooks("createRuntime", cfg.hooks.get("createRuntime") or [], state, cfg.bundle,
                          track=c.track_hook)

        log.debug(f"create {o.cid}: bundle {cfg.bundle}, cgroup {mgr.paths}")
        if cfg.hooks.get("createContainer") or cfg.hooks.get("startContainer"):
            # the init runs these: what it needs is loaded here, as the init
            # may no longer read the host's files (hooks.py imports select
            # only when it runs a hook)
            import select  # noqa: F401

            from pyruntime import hooks as _hooks  # noqa: F401
        spawned = spawn(plan, on_pid, prestart)
        faults.point("create.init-ready")
        log.debug(f"create {o.cid}: init pid {spawned.pid} waits on {c.fifo}")
        os.close(fifo_fd)
        c.data["created"] = rfc3339(nanos=True)
        c.save()
        faults.point("create.created")
        if pid_file:
            _write_pid_file(pid_file, spawned.pid)
    except BaseException:
        if pidfd_sock >= 0:
            os.close(pidfd_sock)
        for _, fd in ns_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if mgr is not None:
            try:
                mgr.destroy()
            except PyruntimeError:
                pass
        c.destroy()
        # runtime-spec lifecycle: a failed create continues at step 12
        # (delete), whose step 13 runs the poststop hooks.
        if c.data:
            from pyruntime.lifecycle.destroy import run_poststop

            run_poststop(c, cfg.data)
        raise
    return c, spawned


def _seccomp(cfg: Config, cid: str) -> tuple[SeccompFilter | None, Agent | None]:
    """linux.seccomp compiled before anything is made (errors name the
    field, nothing to undo); with SCMP_ACT_NOTIFY, the agent it needs.
    Imported only when configured."""
    if cfg.linux.get("seccomp") is None:
        return None, None
    from pyruntime.seccomp import compile_filter

    f = compile_filter(cfg.linux["seccomp"])
    if not f.notify:
        return f, None
    from pyruntime.seccomp_notify import Agent

    agent = Agent(f.listener_path, f.listener_metadata, cid, cfg.bundle, cfg.annotations)
    agent.check()
    return f, agent


RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


def _set_rlimits(pid: int, rlimits: list[dict[str, int | str]]) -> None:
    """From outside the container's user namespace, as runc does, so that
    limits above the container's own can still be set."""
    if not rlimits:
        return
    from pyruntime.syscalls import sys as kernel

    for i, rl in enumerate(rlimits):
        kind = RLIMITS.get(str(rl.get("type")))
        field = f"process.rlimits[{i}]"
        if kind is None:
            raise ConfigError(f"{field}.type: unknown rlimit {rl.get('type')!r}", field=field)
        try:
            kernel().prlimit(pid, kind, int(rl["soft"]), int(rl["hard"]))
        except (OSError, ValueError, OverflowError) as e:
            raise ConfigError(f"{field}: setting {rl['type']} to soft={rl['soft']} hard={rl['hard']}: {e}",
                              field=field) from None


def _write_pid_file(path: str, pid: int) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise PyruntimeError(f"--pid-file {path}: {os.strerror(e.errno or 0)}", path=path) from None


def _owner() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())
