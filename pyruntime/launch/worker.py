"""A worker: a fork of the warm server (launch/server.py), one per
request, that becomes the caller's command process and runs cli.main(). It
takes over from the caller what a fork of the server cannot share with it
by construction (its stdio, working directory, umask, environment, rlimits,
oom_score_adj, ignored and blocked signals); the cgroups it is born in and joins are
launch/placement.py's; everything else the server checked is equal
(launch/identity.py).
"""

from __future__ import annotations

import os
import sys

from pyruntime.launch.identity import Limits
from pyruntime.launch.protocol import Request


def mirror_signals(ignored: int, blocked: int) -> None:
    """Take the caller's ignored and blocked signals, so that the worker is
    the process the local command would be: the container's blocked signals
    derive from them, and its dispositions are reset the same way
    (sigstate.py). The server's own: whatever its spawner had."""
    import _signal

    from pyruntime.sigstate import SETTABLE

    for sig in SETTABLE:
        try:
            if ignored >> (sig - 1) & 1:
                _signal.signal(sig, _signal.SIG_IGN)
            elif _signal.getsignal(sig) == _signal.SIG_IGN and sig not in (_signal.SIGPIPE, _signal.SIGXFSZ):
                _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [s for s in _signal.valid_signals() if blocked >> (s - 1) & 1])


class Takeover:
    """What the worker takes from its caller beside the request: its rlimits
    and, where it differs from the server's, its oom_score_adj."""

    def __init__(self, limits: Limits, oom_score_adj: int | None) -> None:
        self.limits, self.oom_score_adj = limits, oom_score_adj


def work(fds: list[int], request: Request, takeover: Takeover, signals: tuple[int, int]) -> None:
    """The worker: become the caller's command process and run the command."""
    umask, args, env = request.umask, request.args, request.env
    rc = 1
    try:
        import resource

        mirror_signals(*signals)

        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.fchdir(fds[3])
        for fd in fds:
            os.close(fd)
        os.umask(umask)
        os.environ.clear()
        for entry in env:
            key, sep, value = entry.partition("=")
            if sep and key:
                os.environ[key] = value
        for r, lim in takeover.limits:
            if resource.getrlimit(r) != lim:
                resource.setrlimit(r, lim)
        if takeover.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(takeover.oom_score_adj))
        from pyruntime import faults, syscalls
        from pyruntime.cli import main

        syscalls.set_name("pyruntime")
        faults.load()
        sys.argv = ["pyruntime", *args]
        rc = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - an internal error, reported as the CLI would
        try:
            import traceback

            traceback.print_exc()
        finally:
            rc = 1
    finally:
        os._exit(rc)


