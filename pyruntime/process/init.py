"""P3, the container's init (PID 1 in a new pid namespace): builds the
container from inside its namespaces, blocks on the exec fifo until
`start`, then execs the user's process.

It is a fork of `create`, not a re-executed program: all modules are already
imported, because after pivot_root the host's site-packages are out of view.
"""

from __future__ import annotations

import errno
import os

from pyruntime import capabilities, faults, sysctl
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError, from_oserror, internal_message
from pyruntime.process import become, settings, user
from pyruntime.rootfs import devices, mounts, pivot
from pyruntime.rootfs.securejoin import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from pyruntime.process.plan import InitPlan
    from pyruntime.process.sync import Channel


def init_main(plan: InitPlan, chan: Channel) -> NoReturn:
    """Never returns: execs the user's process or exits with status 1 after
    reporting the error to `create`."""
    try:
        sc.set_name("pyrt:[2:INIT]")
        _setup_and_exec(plan, chan)
    except PyruntimeError as e:
        _report(chan, e)
    except OSError as e:
        _report(chan, from_oserror(e, "container init"))
    except BaseException as e:  # noqa: B036 - any failure must reach the parent, then exit
        _report(chan, PyruntimeError(internal_message(e, "container init")))
    os._exit(1)


def _report(chan: Channel, err: PyruntimeError) -> None:
    try:
        chan.send({"t": "error", "error": err.to_wire()})
    except OSError:
        # The parent is gone (after "ready" the user's stderr is ours).
        os.write(2, f"pyruntime init: {err.msg}\n".encode())


def _reaches(path: str, fd: int) -> bool:
    """path leads to the very file that fd holds. /proc/self/fd/N of a real
    procfs does; in a rootfs without a proc mount that name is the rootfs's
    own, and a planted link there (to a file, not our fifo) would let the
    init run its program at create, without waiting for `start`."""
    try:
        a, b = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _state_json(plan: InitPlan, status: str) -> str:
    from pyruntime.hooks import state_json  # loaded by create when the config has the init's hooks

    # hooks: these run in the container's namespaces, where the state's pid is "the
    # pid as seen by the container" (runtime.md, State): getpid(), 1 in a new pid
    # namespace, as runc passes it.
    return state_json(plan.cfg.data.get("ociVersion") or "", plan.cid, status,
                      os.getpid(), plan.cfg.bundle, plan.cfg.annotations)


def _wait_without_process(chan: Channel) -> None:
    """A config without `process`: created, with nothing to run (`start`
    refuses it before it opens the fifo; `delete` kills us). The init waits
    in pause(2) holding nothing: no capability in any set, no_new_privs, no
    fd but stdio (which a created init holds until its execve anyway)."""
    import _signal

    become.prepare_exec(0)
    capabilities.drop_bounding(0)
    capabilities.apply(dict.fromkeys(capabilities.SETS, 0))
    sc.sys().prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    chan.send({"t": "ready"})
    chan.close()
    os.closerange(3, 1 << 20)  # close_range(2) under Python 3.11 where the kernel has it
    while True:
        _signal.pause()


def _setup_and_exec(plan: InitPlan, chan: Channel) -> None:
    cfg = plan.cfg
    proc: dict[str, Any] = cfg.process or {}
    linux = cfg.linux
    rootfs = plan.rootfs
    os.setsid()
    if proc.get("terminal"):
        # The caller's stdio is not the container's: the pty will be. Holding
        # it would keep the caller's pipes open until the container exits.
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
    if not plan.has_ns("mount"):
        # New or joined by path (as runc: the rootfs is then set up in the joined one).
        raise PyruntimeError("linux.namespaces: a mount namespace is required", field="linux.namespaces")

    if plan.new_keyring:
        try:
            sc.sys().join_session_keyring(f"_ses.{plan.cid}")
        except OSError as e:
            if e.errno != errno.ENOSYS:  # kernels without keyrings: runc goes on too
                raise

    # -- filesystem, still seeing the host's tree -------------------------------------
    mounts.prepare_root(rootfs, linux.get("rootfsPropagation"))
    from pyruntime import rootless  # imported by the CLI and create before the fork

    # the hierarchies rootless left out are shown at the cgroup we stay in (runc alike)
    ctx = mounts.MountContext(rootfs, cfg.bundle, rootless.cgroup_mount_paths(plan.cgroup.paths),
                              plan.cgroup_mounts, plan.new_ns)
    setup_dev = mounts.mount_all(ctx, cfg.data.get("mounts") or [])
    if setup_dev:  # not in a /dev bound from the host (runc too)
        devices.create_default_devices(rootfs, plan.userns)
        devices.create_config_devices(rootfs, linux.get("devices") or [], plan.userns)
        devices.create_symlinks(rootfs)
    cwd = proc.get("cwd") or "/"
    try:
        os.makedirs(secure_join(rootfs, cwd), exist_ok=True)
    except OSError as e:
        raise PyruntimeError(f"process.cwd: cannot use {cwd!r}: {os.strerror(e.errno or 0)}",
                             field="process.cwd", path=cwd) from None

    slave = -1
    if proc.get("terminal"):
        # Imported here, still before pivot_root, only by containers with a terminal.
        from pyruntime import console

        master, slave, name = console.open_pty(rootfs)
        console.set_size(master, proc.get("consoleSize"))
        console.mount_console(rootfs, name)
        if plan.console_socket:
            console.send_master(plan.console_socket, master, name)
        else:
            chan.send({"t": "console"}, [master])
        os.close(master)
    if plan.pidfd_sock >= 0:  # --pidfd-socket, as runc: right after the console
        from pyruntime import pidfd_socket  # imported by P1 already

        pidfd_socket.send_own_pidfd(plan.pidfd_sock, pidfd_socket.INIT)

    faults.point("create.init-mounted")
    hooks = cfg.hooks
    # Sync step 3, always: P1 answers only after it has set our rlimits and
    # oom_score_adj (which it cannot do once we switch to another uid without
    # CAP_SYS_RESOURCE), applied the cgroup limits, moved netDevices into our
    # network namespace, and run the prestart and createRuntime hooks.
    chan.send({"t": "hooks"})
    msg, _ = chan.recv()
    if msg is None:
        os._exit(1)
    if msg.get("t") != "ok":
        return
    if hooks.get("createContainer"):
        from pyruntime.hooks import run_hooks  # loaded by create before the fork

        # hooks: as runc, cwd = the rootfs and, without `env`, the process's env (no HOME yet)
        run_hooks("createContainer", hooks["createContainer"], _state_json(plan, "creating"), rootfs,
                  user.env_dict(proc.get("env") or []))

    # -- switch to the rootfs ----------------------------------------------------------------
    if plan.no_pivot:
        pivot.move_root(rootfs)
    else:
        pivot.pivot_root(rootfs)
    pivot.apply_root_propagation(linux.get("rootfsPropagation"))
    faults.point("create.pivoted")
    if plan.sysctl:
        # Through the container's own /proc, before readonlyPaths make /proc/sys read-only.
        sysctl.apply(plan.sysctl)
    for p in linux.get("maskedPaths") or []:
        pivot.mask_path(p)
    for p in linux.get("readonlyPaths") or []:
        pivot.readonly_path(p)
    for p, rro in ctx.late_readonly:  # tmpfs and /dev asked to be read-only
        pivot.remount_readonly(p, rro)
    if (cfg.data.get("root") or {}).get("readonly"):
        pivot.readonly_root()
    if cfg.data.get("hostname"):
        sc.sys().sethostname(cfg.data["hostname"])
    if cfg.data.get("domainname"):
        sc.sys().setdomainname(cfg.data["domainname"])

    # -- the process's identity --------------------------------------------------------------
    os.chdir(cwd)
    if not proc:
        _wait_without_process(chan)
    # umask: 0022 where the config names none, as runc's and crun's init (an
    # exec keeps its caller's: runc's too)
    exe, args, env = become.take_identity(proc, plan.caps, plan.scheduler, plan.ioprio, plan.seccomp, chan,
                                          preserve_fds=plan.preserve_fds, default_umask=0o022)
    if plan.personality is not None:
        settings.apply_personality(plan.personality)

    # -- created: wait for `start` -----------------------------------------------------------
    fifo_path = f"/proc/self/fd/{plan.fifo_fd}"
    if not _reaches(fifo_path, plan.fifo_fd):
        raise PyruntimeError(f"the container has no procfs at /proc: the exec fifo is opened through "
                             f"{fifo_path} (add a proc mount to config.json mounts)", field="mounts")
    if rootless.caller_unprivileged():
        # Rootless: `exec` (the same unprivileged user) opens our /proc/<pid>/ns/*,
        # which the kernel keeps for the host's root while we are not dumpable.
        # The host is out of view by now (after pivot_root, our identity taken).
        sc.sys().prctl(sc.PR_SET_DUMPABLE, 1)
    chan.send({"t": "ready"})
    chan.close()
    fifo = os.open(fifo_path, os.O_WRONLY | os.O_CLOEXEC)  # blocks until `start` opens it
    os.write(fifo, b"0")
    os.close(plan.fifo_fd)
    if hooks.get("startContainer"):
        # hooks: `start` reads the fifo up to EOF; a failure's message goes there first, so
        # that `start` fails with it (runtime-spec: error, container stopped).
        from pyruntime.hooks import run_hooks  # loaded by create before the fork

        try:
            run_hooks("startContainer", hooks["startContainer"], _state_json(plan, "created"), None, env)
        except PyruntimeError as e:
            try:
                os.write(fifo, e.msg.encode(errors="replace"))
            except OSError:
                pass
            raise
    os.close(fifo)  # EOF for `start`: on to poststart

    try:
        become.exec_program(exe, args, env, seccomp=plan.seccomp,
                            no_new_privs=bool(proc.get("noNewPrivileges")), slave=slave)
    except OSError as e:
        os.write(2, f"pyruntime: exec {exe}: {os.strerror(e.errno or 0)}\n".encode())
        os._exit(127)
