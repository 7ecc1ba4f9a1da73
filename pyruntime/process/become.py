"""The last steps of every container process, the init's (process/init.py)
and an exec's (process/tenant.py) alike: take the configured identity, then
replace the Python process with the user's program."""

from __future__ import annotations

import errno
import os

from pyruntime import capabilities, sigstate
from pyruntime import syscalls as sc
from pyruntime.process import settings, user

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.process.settings import Scheduler
    from pyruntime.process.sync import Channel
    from pyruntime.seccomp import SeccompFilter

F_GETFD, F_SETFD, FD_CLOEXEC = 1, 2, 1  # fcntl(2)

# The sync message that carries a seccomp listener fd to P1 (sync.py).
SECCOMP_MSG = b'{"t":"seccomp"}'


def take_identity(proc: dict[str, Any], caps: dict[str, int], scheduler: Scheduler | None,
                  ioprio: int | None, seccomp: SeccompFilter | None,
                  chan: Channel | None = None, *, preserve_fds: int = 0,
                  keep_open: int = -1, default_umask: int | None = None) -> tuple[str, list[str], dict[str, str]]:
    """The fds and signals for execve (prepare_exec), scheduler, I/O
    priority, seccomp (when it must precede the capability drop), user and
    groups, capabilities, no_new_privs; then the program's environment and
    path; with SCMP_ACT_NOTIFY and noNewPrivileges, seccomp last. Returns
    (executable, argv, env). chan: the sync channel to P1 (needed for
    SCMP_ACT_NOTIFY); default_umask: the umask when the user names none
    (None: the one inherited)."""
    prepare_exec(preserve_fds, keep_open)
    # While all capabilities are still held (SCHED_FIFO needs CAP_SYS_NICE,
    # the RT I/O class CAP_SYS_ADMIN):
    if scheduler is not None:
        settings.apply_scheduler(scheduler)
    if ioprio is not None:
        settings.apply_io_priority(ioprio)
    if seccomp is not None and not proc.get("noNewPrivileges"):
        # seccomp: without no_new_privs loading needs CAP_SYS_ADMIN, so load before the
        # capabilities are dropped (as runc); everything below must be allowed by the profile.
        load_seccomp(seccomp, chan)
    capabilities.drop_bounding(caps["bounding"])
    u = proc.get("user") or {}
    user.switch_user(u, default_umask)
    capabilities.apply(caps)
    if proc.get("noNewPrivileges"):
        sc.sys().prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    env = user.env_dict(proc.get("env") or [])
    if "HOME" not in env:
        env["HOME"] = user.home_for(int(u.get("uid", 0)))
    args: list[str] = proc["args"]
    exe = user.look_path(args[0], env)
    if seccomp is not None and seccomp.notify and proc.get("noNewPrivileges"):
        # The listener fd must reach P1, which is gone by `start`: loaded now, not in
        # exec_program's one C call (runc: before the exec fifo too).
        load_seccomp(seccomp, chan)
    return exe, args, env


def load_seccomp(seccomp: SeccompFilter, chan: Channel | None) -> None:
    """Load the filter now. With SCMP_ACT_NOTIFY: one C call loads it and
    passes the listener fd to P1 (sync step "seccomp"); then wait until P1
    has sent it to the agent. From the sendmsg on P1 holds the fd, so the
    syscalls below may be notified: the agent can answer them."""
    if not seccomp.notify:
        seccomp.load()
        return
    if chan is None:
        raise RuntimeError("SCMP_ACT_NOTIFY needs the sync channel")
    fd = seccomp.load_with_listener(chan.fileno(), SECCOMP_MSG)
    msg, _ = chan.recv()
    os.close(fd)  # the agent has it: not ours to keep, never the container's
    if msg is None or msg.get("t") != "ok":
        os._exit(1)  # P1 failed (it reports why) or died


def prepare_exec(preserve_fds: int, keep_open: int = -1) -> None:
    """What execve must find, set up before any seccomp filter is loaded
    (without noNewPrivileges it is loaded before the capability drop, and a
    profile may deny close_range, ioctl or rt_sigaction: pyruntime's own
    calls must not depend on it). fds 3..3+N-1 are passed on; every other fd
    from 3 up is made close-on-exec, so that execve closes them (new fds
    Python opens after this are close-on-exec already, PEP 446); keep_open:
    one of the preserved range to leave close-on-exec. Signals as runc
    gives them (sigstate.py)."""
    keep = 3 + preserve_fds
    for fd in range(3, keep):
        if fd != keep_open:
            try:
                flags = sc.fcntl(fd, F_GETFD)
                sc.fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC)
            except OSError as e:
                if e.errno != errno.EBADF:  # runc passes on the preserved fds that are open
                    raise
    sc.cloexec_from(keep)
    sigstate.for_container_process()


def exec_program(exe: str, args: list[str], env: dict[str, str], *,
                 seccomp: SeccompFilter | None, no_new_privs: bool, slave: int = -1) -> None:
    """The pty slave (if any) as stdio and controlling terminal, then execve
    — with seccomp and no_new_privs, one C call that loads the filter and
    execs. The fds and signals were made ready by prepare_exec: nothing here
    may be slow or fail under a seccomp filter. Returns only by raising
    OSError."""
    if slave >= 0:
        from pyruntime import console  # loaded before pivot_root / setns by our callers

        console.make_controlling(slave)
    if seccomp is not None and no_new_privs and not seccomp.loaded:
        seccomp.load_and_exec(exe, args, env)
    os.execve(exe, args, env)
