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
