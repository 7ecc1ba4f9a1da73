"""Go's time.ParseDuration (cli/goduration.py): values and error texts."""

from __future__ import annotations

import pytest

from pyruntime.cli.goduration import parse

S = 1_000_000_000


@pytest.mark.parametrize(("text", "ns"), [
    ("0", 0), ("5s", 5 * S), ("500ms", 500_000_000), ("1m", 60 * S), ("1h30m", 5400 * S),
    ("1.5s", 1_500_000_000), (".5s", 500_000_000), ("1.s", S), ("300us", 300_000),
    ("300\u00b5s", 300_000), ("300\u03bcs", 300_000), ("10ns", 10), ("+2s", 2 * S),
    ("-1s", -S), ("1h2m3s4ms5us6ns", 3723 * S + 4_005_006), ("0s", 0), ("-0", 0),
])
def test_valid(text: str, ns: int) -> None:
    assert parse(text) == ns


@pytest.mark.parametrize(("text", "msg"), [
    ("", 'time: invalid duration ""'),
    ("5", 'time: missing unit in duration "5"'),
    ("1.5", 'time: missing unit in duration "1.5"'),
    ("5x", 'time: unknown unit "x" in duration "5x"'),
    ("s", 'time: invalid duration "s"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
    ("1s ", 'time: unknown unit "s " in duration "1s "'),
    ("3000000h", 'time: invalid duration "3000000h"'),
])
def test_invalid(text: str, msg: str) -> None:
    with pytest.raises(ValueError) as e:
        parse(text)
    assert str(e.value) == msg
