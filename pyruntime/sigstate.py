"""Signal dispositions and masks: what pyruntime's own processes need, and
what a container process and a hook are given, as runc gives them.

Kernel facts: fork keeps dispositions and the mask; execve resets caught
signals to SIG_DFL but keeps ignored ones ignored, and keeps the mask. So
whatever the caller ignores or blocks reaches the container's process unless
the runtime changes it. containerd's shim runs with SIGHUP ignored: left as
it is, `trap ... HUP` in an entrypoint never fires and `kill -s HUP` does
nothing.

What runc 1.1.5 does, measured with a caller that ignores and blocks every
signal (tests/integration/test_signal_delivery.py compares the two):
- dispositions: every ignored signal is back at SIG_DFL in the container's
  process and in hooks (its Go runtime installs a handler for each, and
  execve resets handled signals). One exception we do not copy: signal 34
  (musl's SIGSYNCCALL, on which Go installs no handler, golang/go#39343)
  stays ignored under runc and is reset here, as crun resets it.
- mask: the container's process and the hooks keep the caller's blocked
  signals except those Go never lets be blocked (UNBLOCKED below: the ones
  that stop or kill a process, the synchronous faults, SIGCHLD, SIGPROF,
  SIGURG, and 34): Go's forked child restores the mask its thread started
  with (the caller's) and its threads run without those. Measure hooks with
  a static probe, not busybox sh, which clears its own mask when it starts.
"""

from __future__ import annotations

import _signal

# Signals runc's Go runtime unblocks (flags _SigKill, _SigThrow or _SigUnblock
# in Go's sigtable, and SIGURG for preemption; measured, not guessed):
# HUP INT QUIT ILL TRAP ABRT BUS FPE SEGV TERM STKFLT CHLD URG PROF SYS 34.
UNBLOCKED = (1, 2, 3, 4, 5, 6, 7, 8, 11, 15, 16, 17, 23, 27, 31, 34)

# The signals a process may set a disposition for: not KILL and STOP, and not
# 32 and 33, which glibc keeps for itself (sigaction refuses them).
SETTABLE = tuple(s for s in range(1, _signal.NSIG) if s not in (_signal.SIGKILL, _signal.SIGSTOP, 32, 33))


# The mask our command process started with (the caller's), recorded by
# for_own_process: `run` unblocks the signals it forwards, and what it
# forks later (poststop hooks) must still get the caller's, as from runc.
_callers_mask: set[int] | None = None


def for_own_process() -> None:
    """pyruntime's own command process: records the caller's mask; a caller
    that ignores SIGCHLD would have the kernel reap our children
    (intermediate, init, hooks) before we wait for them, and waitpid fails
    with ECHILD (Go's runtime installs its handler, so runc never sees this)."""
    global _callers_mask
    _callers_mask = set(_signal.pthread_sigmask(_signal.SIG_BLOCK, ()))
    if _signal.getsignal(_signal.SIGCHLD) == _signal.SIG_IGN:
        _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)


def _default_ignored() -> None:
    """Every signal this process ignores back to SIG_DFL (Python's view of
    the dispositions is its own record: no system call for the others)."""
    for sig in SETTABLE:
        if _signal.getsignal(sig) == _signal.SIG_IGN:
            _signal.signal(sig, _signal.SIG_DFL)


def for_container_process() -> None:
    """Before a container process's execve (the init or an exec): runc's
    dispositions and mask. Called before a seccomp filter may be loaded, so
    that no profile can make it fail."""
    _default_ignored()
    if _callers_mask is None:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, UNBLOCKED)
    else:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, _callers_mask.difference(UNBLOCKED))


def for_hook() -> None:
    """In a hook's child before execve: what runc's hooks get, which is what
    its container's process gets (every signal at SIG_DFL, the caller's mask
    but UNBLOCKED)."""
    for_container_process()
