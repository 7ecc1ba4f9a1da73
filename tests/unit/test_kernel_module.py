"""pyruntime/syscalls/_kernel.c, the compiled module every create loads:
its convention (a result, or -errno; never an exception for a failed call),
the wrappers' OSErrors, and the calls the sync channel and the state lock
rely on. Only calls that need no privilege, on the real kernel."""

from __future__ import annotations

import errno
import os

import pytest

from pyruntime import syscalls as sc
from pyruntime.process.sync import Channel
from pyruntime.syscalls import _kernel

F_ADD_SEALS, F_GET_SEALS = 1033, 1034


def test_a_failed_call_returns_minus_errno() -> None:
    r = _kernel.umount2("/nonexistent-pyrt-path", 0)
    assert r in (-errno.ENOENT, -errno.EPERM)


def test_the_wrapper_raises_oserror_with_errno_call_and_path() -> None:
    with pytest.raises(OSError) as e:
        sc.NativeSyscalls().umount2("/nonexistent-pyrt-path")
    assert e.value.errno in (errno.ENOENT, errno.EPERM)
    assert e.value.strerror.startswith("umount2: ")
    assert e.value.filename == "/nonexistent-pyrt-path"


def test_each_call_runs_once() -> None:
    """F_ADD_SEALS with F_SEAL_SEAL succeeds once and then fails: a result
    computed by calling twice (a macro's argument) would read as EPERM."""
    fd = os.memfd_create("pyrt-test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        assert _kernel.fcntl(fd, F_GET_SEALS, 0) == 0
        assert _kernel.fcntl(fd, F_ADD_SEALS, 0xF) == 0
        assert _kernel.fcntl(fd, F_GET_SEALS, 0) == 0xF
        assert _kernel.fcntl(fd, F_ADD_SEALS, 0x1) == -errno.EPERM
    finally:
        os.close(fd)


def test_channel_carries_messages_and_fds() -> None:
    a, b = Channel.pair()
    r, w = os.pipe()
    try:
        a.send({"t": "hello", "n": 1}, [w])
        msg, fds = b.recv()
        assert msg == {"t": "hello", "n": 1} and len(fds) == 1
        os.write(fds[0], b"through the passed fd")
        os.close(fds[0])
        assert os.read(r, 100) == b"through the passed fd"
        a.close()
        assert b.recv() == (None, [])  # EOF
        with pytest.raises(BrokenPipeError):
            b.send({"t": "late"})
    finally:
        for fd in (r, w):
            os.close(fd)
        b.close()


def test_flock_conflicts_between_open_files(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "lock")
    fd1 = os.open(path, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fd2 = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        sc.flock(fd1, sc.LOCK_EX)
        assert _kernel.flock(fd2, sc.LOCK_EX | sc.LOCK_NB) == -errno.EWOULDBLOCK
        sc.flock(fd1, sc.LOCK_UN)
        assert _kernel.flock(fd2, sc.LOCK_EX | sc.LOCK_NB) == 0
    finally:
        os.close(fd1)
        os.close(fd2)


def test_capget_and_set_name() -> None:
    eff, prm, inh = sc.NativeSyscalls().capget(0)
    assert eff & ~prm == 0  # effective is a subset of permitted
    with open("/proc/self/comm") as f:
        before = f.read().strip()
    try:
        sc.set_name("pyrt-unit-test-name-too-long")
        with open("/proc/self/comm") as f:
            assert f.read().strip() == "pyrt-unit-test-"  # the kernel keeps 15 bytes
    finally:
        sc.set_name(before)
