"""Go's time.ParseDuration, for flags like `events --interval=5s`.

A duration is an optionally signed sequence of decimal numbers, each with an
optional fraction and a unit: "300ms", "-1.5h", "2h45m". Units: ns, us
(or µs, μs), ms, s, m, h. "0" needs no unit. Error texts are Go's.
"""

from __future__ import annotations

UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # U+00B5 micro sign
    "\u03bcs": 1_000,  # U+03BC Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}

_MAX = (1 << 63) - 1
_DIGITS = "0123456789"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse(orig: str) -> int:
    """The duration in nanoseconds; ValueError with Go's message when invalid."""
    s = orig
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"time: invalid duration {_quote(orig)}")
    total = 0
    while s:
        if s[0] != "." and s[0] not in _DIGITS:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        i = 0
        while i < len(s) and s[i] in _DIGITS:
            i += 1
        whole, s = s[:i], s[i:]
        frac = ""
        if s.startswith("."):
            s = s[1:]
            i = 0
            while i < len(s) and s[i] in _DIGITS:
                i += 1
            frac, s = s[:i], s[i:]
        if not whole and not frac:
            raise ValueError(f"time: invalid duration {_quote(orig)}")
        i = 0
        while i < len(s) and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        if i == 0:
            raise ValueError(f"time: missing unit in duration {_quote(orig)}")
        unit, s = s[:i], s[i:]
        if unit not in UNITS:
            raise ValueError(f"time: unknown unit {_quote(unit)} in duration {_quote(orig)}")
        mult = UNITS[unit]
        v = int(whole or "0") * mult
        if frac:
            v += int(frac) * mult // 10 ** len(frac)
        total += v
        if total > _MAX + (1 if neg else 0):
            raise ValueError(f"time: invalid duration {_quote(orig)}")
    return -total if neg else total
