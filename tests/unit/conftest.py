"""Fixtures for the unit tests: no root, no real kernel state.

Every test runs with ForbiddenSyscalls installed (a stray mount fails the
test instead of reaching the kernel); `fake_sys` replaces it with a
RecordingSyscalls. Both restore the native layer with install(None)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyruntime import syscalls
from pyruntime.log import log
from tests.unit.fakes import ForbiddenSyscalls, RecordingSyscalls

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _no_real_syscalls() -> Iterator[None]:
    syscalls.install(ForbiddenSyscalls())
    try:
        yield
    finally:
        syscalls.install(None)


@pytest.fixture(autouse=True)
def _reset_log() -> Iterator[None]:
    """cli.main configures the process-wide logger; put it back."""
    yield
    log.configure(None, "text", False)


@pytest.fixture
def fake_sys(_no_real_syscalls: None) -> Iterator[RecordingSyscalls]:
    """Install the recording fake as the syscall layer; always restore it."""
    fake = RecordingSyscalls()
    syscalls.install(fake)
    try:
        yield fake
    finally:
        syscalls.install(None)


@pytest.fixture
def waiting_init() -> Iterator[tuple[int, int]]:
    """(pid, start time) of a live process named like a container init that
    has not exec'd yet (pyrt:[2:INIT]): a Python child that renames itself."""
    import subprocess
    import sys
    import time

    code = "open('/proc/self/comm', 'w').write('pyrt:[2:INIT]'); import time; time.sleep(120)"
    p = subprocess.Popen([sys.executable, "-c", code])
    try:
        stat = Path(f"/proc/{p.pid}/stat")
        deadline = time.monotonic() + 30
        while "(pyrt:[2:INIT])" not in stat.read_text():
            assert time.monotonic() < deadline, "the child did not rename itself"
            time.sleep(0.01)
        text = stat.read_text()
        yield p.pid, int(text[text.rindex(")") + 2:].split()[19])
    finally:
        p.kill()
        p.wait()
