"""Fault points: named places in create, start, exec and delete where a test
can make pyruntime fail, to prove that what it leaves is consistent
(tests/integration/test_reliability_crash.py).

    PYRUNTIME_FAULT=<point>[:<action>]

  kill   (default) SIGKILL the pyruntime process (the command's own process,
         also when the point is reached in one of its forked children): what
         a caller's timeout or the OOM killer does to a runtime
  raise  raise FaultInjected there: an internal error (not a PyruntimeError)
  hang   stop there until killed from outside

The variable is read when this module is imported (by the command's process,
before it forks) or by load(); without it `point()` is one comparison.
"""

from __future__ import annotations

import _signal as signal  # built in, loaded at start; `signal` would import enum (~3 ms)
import os

_POINT = _ACTION = ""
_MAIN_PID = -1  # the pyruntime command itself; children are its forks
_KILL_PIPE = -1


def _arm() -> int:
    """A pipe whose read end is owned by this process with F_SETSIG SIGKILL
    and O_ASYNC: a byte written into it by any of our children makes the
    kernel send SIGKILL to this process. The init lives in a pid namespace
    where this process has no pid (and pidfd_send_signal(2) refuses a target
    outside the caller's namespace), but signals driven by file ownership
    (fcntl F_SETOWN) are not limited by pid namespaces."""
    import fcntl

    r, w = os.pipe2(os.O_CLOEXEC)
    fcntl.fcntl(r, fcntl.F_SETOWN, _MAIN_PID)
    fcntl.fcntl(r, fcntl.F_SETSIG, signal.SIGKILL)
    fcntl.fcntl(r, fcntl.F_SETFL, os.O_ASYNC | os.O_NONBLOCK)
    return w


def load() -> None:
    """Read PYRUNTIME_FAULT for this process: at import, and again in a warm
    server's worker (pyruntime/launch/server.py), which is the command's process there."""
    global _POINT, _ACTION, _MAIN_PID, _KILL_PIPE
    _POINT, _, _ACTION = (os.environ.get("PYRUNTIME_FAULT") or "").partition(":")
    _MAIN_PID = os.getpid()
    if _KILL_PIPE >= 0:
        os.close(_KILL_PIPE)
        _KILL_PIPE = -1
    if _POINT:
        _KILL_PIPE = _arm()


load()


class FaultInjected(Exception):
    """An internal error made on purpose (never a user error)."""


def point(name: str) -> None:
    """Fail here if PYRUNTIME_FAULT names this point."""
    if name != _POINT:
        return
    _fire(name, _ACTION or "kill")


def _fire(name: str, action: str) -> None:
    if action == "raise":
        raise FaultInjected(f"fault injected at {name}")
    if action == "hang":
        while True:
            signal.pause()
    if os.getpid() != _MAIN_PID:
        # A child (intermediate, init, tenant): SIGKILL to the command (see
        # _arm); the child goes on as it would when its parent is killed and
        # finds out by itself (EOF on the sync channel, PDEATHSIG).
        os.write(_KILL_PIPE, b"k")
        return
    os.kill(_MAIN_PID, signal.SIGKILL)
    while True:  # a signal to oneself is delivered before kill() returns: not reached
        signal.pause()
