"""The caller's identity: what a worker forked from the warm server shares
with the caller only when it equals the server's own (run by the server,
pyruntime/launch/server.py, once for itself and once per request for the caller).

A worker is a fork of the server, not of the caller: everything a process
inherits across fork and exec (the kernel's copy_process and exec) comes
from the server, and reaches the command's children (hooks, the
container's init before it sets its own) as it would from the caller's own
`pyruntime` process only where the two are equal. Each property is one
named check below; a caller that differs in any of them runs the command
itself (the client's "L" path), so that its container and hooks get exactly
what runc's would (tests/integration/test_warm_identity.py compares served,
local and runc for each). What the worker takes over per request instead of
comparing (stdio, cwd, umask, environment, rlimits, oom_score_adj, ignored
and blocked signals, cgroups) is done in launch/worker.py and
launch/placement.py.

Most checks read /proc/<pid>. Two things /proc does not show the client
reports itself (_warm.c): its securebits and its session keyring's serial.
Each check returns a comparable value; None means "cannot be served"
whatever the server has.
"""

from __future__ import annotations

import os
from collections.abc import Callable

# the *_for_children ones: where the caller's next child is born (after an
# unshare(CLONE_NEWPID or CLONE_NEWTIME) without a fork, they differ)
NAMESPACES = ("mnt", "pid", "pid_for_children", "net", "user", "ipc", "uts", "cgroup", "time", "time_for_children")
PR_GET_SECUREBITS = 27

Limits = list[tuple[int, tuple[int, int]]]


def _read(path: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""
    finally:
        os.close(fd)


def status(pid: int | str) -> dict[bytes, bytes]:
    """/proc/<pid>/status as {field: value}, values stripped."""
    return {k: v.strip() for k, _, v in (line.partition(b":") for line in _read(f"/proc/{pid}/status").splitlines())}


def stat(pid: int | str) -> list[bytes]:
    """/proc/<pid>/stat's fields after the comm (which may hold spaces and
    parentheses): [0] is field 3 (state), [1] field 4 (ppid), ..."""
    return _read(f"/proc/{pid}/stat").rpartition(b")")[2].split()


def parent_of(pid: int) -> int:
    """The parent pid in /proc/<pid>/stat (field 4), -1 if unknown."""
    fields = stat(pid)
    return int(fields[1]) if len(fields) > 1 else -1


def signal_state(fields: dict[bytes, bytes]) -> tuple[int, int]:
    """(ignored, blocked) signal masks (SigIgn, SigBlk) of a process's status()."""
    return int(fields.get(b"SigIgn", b"0"), 16), int(fields.get(b"SigBlk", b"0"), 16)


def limits(pid: int) -> Limits:
    import resource

    # RLIMIT_CPU (0) .. RLIMIT_RTTIME (15): every resource Linux has
    return [(r, resource.prlimit(pid, r)) for r in range(16)]


def oom_score_adj(pid: int | str) -> int | None:
    """/proc/<pid>/oom_score_adj (inherited by every child): the worker
    takes the caller's over where it is not below ours (lowering it below
    the value we were given takes CAP_SYS_RESOURCE)."""
    try:
        return int(_read(f"/proc/{pid}/oom_score_adj"))
    except ValueError:
        return None


def higher(hard: int, than: int) -> bool:
    """A hard limit above `than` (which a worker could not take over:
    raising a hard limit takes CAP_SYS_RESOURCE)."""
    inf = -1  # resource.RLIM_INFINITY on Linux
    return than != inf and (hard == inf or hard > than)


class Process:
    """One process as the checks see it: its pid ("self": ours), its
    /proc/<pid>/status read once, and what its client reported (None: our
    own process, which asks the kernel)."""

    def __init__(self, pid: int | str, reported: dict[str, int] | None = None) -> None:
        self.pid = str(pid)
        self.status = status(pid)
        self.stat = stat(pid)
        self.reported = reported


Check = Callable[[Process], object]


# --- the checks ----------------------------------------------------------------


def _namespaces(p: Process) -> object:
    # every namespace: the worker's children are born in the server's
    out = []
    for name in NAMESPACES:
        try:
            out.append(os.readlink(f"/proc/{p.pid}/ns/{name}"))
        except OSError:
            out.append("")
    return tuple(out)


def _root(p: Process) -> object:
    # the root directory (chroot): relative paths and the bundle resolve in it
    try:
        st = os.stat(f"/proc/{p.pid}/root")
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _status_fields(*fields: bytes) -> Check:
    def check(p: Process) -> object:
        return tuple(p.status.get(f) for f in fields)
    return check


def seccomp(p: Process) -> object:
    """Seccomp filters stack and are inherited by every child: a worker
    carries the server's, never the caller's. /proc shows only the mode
    (and, since 5.9, the count), not the filters; comparing them would take
    ptrace (PTRACE_SECCOMP_GET_FILTER). So only a caller without any filter
    is served, by a server without one: a filtered caller runs the command
    itself, and its container starts under its own filter, as with runc."""
    return b"0" if p.status.get(b"Seccomp") == b"0" else None


def _lsm_label(p: Process) -> object:
    # the LSM label (AppArmor, SELinux): exec transitions derive from it
    return _read(f"/proc/{p.pid}/attr/current")


def _scheduling(p: Process) -> object:
    # nice, scheduling policy and priority (/proc/<pid>/stat fields 18, 19,
    # 40, 41): a container started by `run` inherits them unless its config says
    return tuple(p.stat[i] for i in (15, 16, 37, 38)) if len(p.stat) > 38 else ()


def _terminal(p: Process) -> object:
    # the controlling terminal (stat field 7, tty_nr): a hook or a container
    # process without a terminal of its own opens /dev/tty in its session's;
    # the server has none (setsid), so only a caller without one is served
    return p.stat[4] if len(p.stat) > 4 else None


def _ioprio(p: Process) -> object:
    try:
        from pyruntime.syscalls import sys as kernel

        return kernel().ioprio_get(1, 0 if p.pid == "self" else int(p.pid))  # IOPRIO_WHO_PROCESS
    except (OSError, ImportError):
        return None


def _file(name: str) -> Check:
    def check(p: Process) -> object:
        return _read(f"/proc/{p.pid}/{name}")
    return check


def _securebits(p: Process) -> object:
    # kept across fork and exec (but SECBIT_KEEP_CAPS): they decide what a
    # uid change does to capabilities in a hook or the container's init
    if p.reported is not None:
        return p.reported.get("securebits")
    from pyruntime.syscalls import sys as kernel

    return kernel().prctl(PR_GET_SECUREBITS)


def _session_keyring(p: Process) -> object:
    # inherited by hooks (and the container with --no-new-keyring): the
    # server's would give them another login's keys
    if p.reported is not None:
        return p.reported.get("keyring")
    from pyruntime.syscalls import _kernel

    return _kernel.session_keyring()


CHECKS: tuple[tuple[str, Check], ...] = (
    ("namespaces", _namespaces),
    ("root directory", _root),
    ("credentials", _status_fields(b"Uid", b"Gid", b"Groups")),
    ("capabilities", _status_fields(b"CapInh", b"CapPrm", b"CapEff", b"CapBnd", b"CapAmb")),
    ("securebits", _securebits),
    ("no_new_privs", _status_fields(b"NoNewPrivs")),
    ("seccomp", seccomp),
    ("session keyring", _session_keyring),
    ("affinity", _status_fields(b"Cpus_allowed", b"Mems_allowed")),
    ("lsm label", _lsm_label),
    ("scheduling", _scheduling),
    ("controlling terminal", _terminal),
    ("io priority", _ioprio),
    ("timer slack", _file("timerslack_ns")),
    ("memory and speculation", _status_fields(b"THP_enabled", b"Speculation_Store_Bypass",
                                              b"SpeculationIndirectBranch")),
    ("personality", _file("personality")),
    ("loginuid", _file("loginuid")),
    ("sessionid", _file("sessionid")),
)


def identity(pid: int | str, reported: dict[str, int] | None = None) -> dict[str, object]:
    """Every check's value for process pid ("self": ours)."""
    p = Process(pid, reported)
    return {name: check(p) for name, check in CHECKS}


def differs(own: dict[str, object], caller: Process) -> str | None:
    """The first check in which the caller differs from `own` (what
    identity("self") gave the server), or that it cannot be served in; None
    when a worker forked from the server can be that caller."""
    for name, check in CHECKS:
        value = check(caller)
        if value is None or value != own.get(name):
            return name
    return None
