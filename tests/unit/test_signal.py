"""lifecycle/destroy.parse_signal: runc's signal names and numbers."""

from __future__ import annotations

import signal

import pytest

from pyruntime.errors import PyruntimeError
from pyruntime.lifecycle.destroy import parse_signal


@pytest.mark.parametrize(("text", "want"), [
    ("9", 9), ("15", 15), ("1", 1), ("64", 64),
    ("KILL", signal.SIGKILL), ("SIGKILL", signal.SIGKILL), ("kill", signal.SIGKILL),
    ("term", signal.SIGTERM), ("sigterm", signal.SIGTERM), ("SigHup", signal.SIGHUP),
    ("USR1", signal.SIGUSR1), ("WINCH", signal.SIGWINCH), ("RTMIN", signal.SIGRTMIN),
])
def test_valid(text: str, want: int) -> None:
    assert parse_signal(text) == int(want)


@pytest.mark.parametrize("text", ["0", "65", "100", "00"])
def test_bad_numbers(text: str) -> None:
    with pytest.raises(PyruntimeError) as e:
        parse_signal(text)
    assert str(e.value) == f"invalid signal number {text}"


@pytest.mark.parametrize("text", ["FOO", "SIGFOO", "", "-9", "SIG", "SIG_DFL", "_DFL", "9x", "KILL "])
def test_bad_names(text: str) -> None:
    with pytest.raises(PyruntimeError) as e:
        parse_signal(text)
    assert str(e.value) == f"unknown signal {text!r}"
