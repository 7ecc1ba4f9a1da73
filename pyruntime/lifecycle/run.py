"""run: create + start in one process that stays the container's parent
(a child subreaper, so the init is re-parented to it when the intermediate
exits), forwards signals, proxies the terminal, and returns the exit code."""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import os

from pyruntime import syscalls as sc
from pyruntime.lifecycle.create import CreateOptions, create
from pyruntime.lifecycle.destroy import destroy
from pyruntime.lifecycle.start import start
from pyruntime.sigstate import SETTABLE
from pyruntime.state.store import Container

FORWARDED = [s for s in range(1, signal.NSIG) if s not in (signal.SIGCHLD, signal.SIGKILL, signal.SIGSTOP)]


def hold_signals() -> None:
    """Before the container's process exists: the signals wait_for will
    forward stay pending (blocked) until it forwards them, so that one sent
    as soon as the process runs (it printed "ready") reaches it instead of
    killing us and orphaning it. runc's handler is installed before the
    process starts too. What we fork meanwhile sets its own mask from the
    caller's (sigstate.py)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, [s for s in FORWARDED if s in SETTABLE])


def run(o: CreateOptions, detach: bool, keep: bool) -> int:
    if not detach:
        sc.sys().prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        o.tty_to_caller = True
        hold_signals()
    c, spawned = create(o)
    try:
        notify = start(c)
    except BaseException:
        if os.path.isdir(c.dir):  # a failed hook: start destroyed it already
            destroy(c)
        raise
    if detach:
        if notify >= 0:  # as runc's run -d: wait for READY, MAINPID is the init
            _relay(c, notify, c.pid)
        return 0
    c.unlock()  # kill/state/delete from elsewhere must not wait for us
    if notify >= 0:
        _relay_in_child(c, notify, spawned.console_master)
    code = wait_for(c.pid, spawned.console_master)
    if not keep:
        c2 = Container.load(o.root, o.cid, lock=True)
        destroy(c2)
    return code


def _relay(c: Container, notify: int, mainpid: int) -> None:
    """NOTIFY_SOCKET for run: a failure to tell the supervisor does not stop
    the container (runc ignores it too); it is logged."""
    from pyruntime.errors import PyruntimeError
    from pyruntime.lifecycle.start import relay_ready

    try:
        relay_ready(c, notify, mainpid)
    except PyruntimeError as e:
        from pyruntime.log import log

        log.warning(e.msg)


def _relay_in_child(c: Container, notify: int, master: int) -> None:
    """run in the foreground stays the container's parent: MAINPID is this
    process (as runc). A child waits for READY, so that signals and the
    terminal are served meanwhile; wait_for reaps it."""
    mainpid = os.getpid()
    if os.fork() == 0:
        try:
            sc.set_name("pyrt:[notify]")
            sc.sys().prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
            if master >= 0:
                os.close(master)
            _relay(c, notify, mainpid)
        finally:
            os._exit(0)
    os.close(notify)


def wait_for(pid: int, master: int) -> int:
    """Reap children until the init exits; its exit code (128+N for signal N)."""

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in FORWARDED:
        try:
            signal.signal(s, forward)
        except (OSError, ValueError, RuntimeError):
            pass
    # As runc (Go unblocks every signal it is notified of): a signal our caller
    # blocks is forwarded too, and so is one held since hold_signals(). The
    # container's own mask was set before its execve.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [s for s in FORWARDED if s in SETTABLE])
    if master >= 0:
        _proxy_tty(master, pid)
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if wpid == pid:
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code


def _proxy_tty(master: int, pid: int) -> None:
    """Copy our stdin to the pty and the pty to our stdout until the
    container closes its side."""
    import select
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _copy_winsize(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_winsize(0, master))
    fds = [0, master]
    try:
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    fds = [master]
                    os.write(master, b"\x04")  # EOF for the canonical-mode reader
                else:
                    os.write(master, data)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        os.close(master)


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    try:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass
