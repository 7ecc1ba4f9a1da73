"""NVIDIA_REQUIRE_* expressions (libnvidia-container src/cli/dsl.c).

An expression is conditions separated by spaces (OR) of conditions
separated by commas (AND): `cuda>=11.0,driver>=450 brand=tesla`. A condition
is `<key><op><value>` with op one of = != < <= > >= and key one of
  cuda    the CUDA version the driver supports (cuDriverGetVersion, "12.4")
  driver  the driver version ("550.54.14")
  arch    a selected GPU's compute capability ("8.0")
  brand   a selected GPU's brand (tesla, geforce, ...; = and != only,
          case-insensitive)
Versions compare numerically part by part, missing parts count as 0.
As NVIDIA does, arch and brand are checked against every selected GPU
(each must satisfy the expression), an unknown value (no GPU selected, a
version the driver did not tell) satisfies the condition, and a key, an
operator or a version that does not parse is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hooks.nvidia.errors import HookError

OPERATORS = ("<=", ">=", "!=", "=", "<", ">")
KEYS = ("cuda", "driver", "arch", "brand")


@dataclass(frozen=True)
class Facts:
    """What the conditions are checked against; None = unknown."""
    cuda: str | None = None
    driver: str | None = None
    arch: str | None = None
    brand: str | None = None


def _version(s: str) -> list[int] | None:
    if not s or s.strip("0123456789.") or not s[0].isdigit():
        return None
    parts = [int(p) for p in s.split(".") if p]
    while parts and parts[-1] == 0:
        parts.pop()
    return parts


def compare_versions(a: str, op: str, b: str) -> bool:
    va, vb = _version(a), _version(b)
    if va is None or vb is None:
        raise ValueError(f"not a version: {a if va is None else b!r}")
    return _cmp(va, op, vb)


def _cmp(a: list[int], op: str, b: list[int]) -> bool:
    ops: dict[str, Callable[[list[int], list[int]], bool]] = {
        "=": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
        "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
    return ops[op](a, b)


def split_condition(cond: str) -> tuple[str, str, str]:
    """'cuda>=11.0' → ('cuda', '>=', '11.0'); ValueError when malformed."""
    i = next((n for n, ch in enumerate(cond) if ch in "<>=!"), -1)
    if i <= 0:
        raise ValueError("no operator")
    j = i
    while j < len(cond) and cond[j] in "<>=!":
        j += 1
    key, op, value = cond[:i].lower(), cond[i:j], cond[j:]
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}")
    if key not in KEYS:
        raise ValueError(f"unknown key {key!r} (want {', '.join(KEYS)})")
    if not value:
        raise ValueError("no value")
    if key == "brand":
        if op not in ("=", "!="):
            raise ValueError("brand compares with = or != only")
    elif _version(value) is None:
        raise ValueError(f"{value!r} is not a version")
    return key, op, value


def holds(cond: str, facts: Facts) -> bool:
    key, op, value = split_condition(cond)
    have: str | None = getattr(facts, key)
    if have is None:
        return True
    if key == "brand":
        return (have.lower() == value.lower()) == (op == "=")
    if _version(have) is None:
        return True  # the driver told something that is not a version: unknown
    return compare_versions(have, op, value)


def check(var: str, expr: str, facts: Facts) -> None:
    """Raise HookError when expr (the value of env var `var`) is not met."""
    alternatives = [a for a in expr.split(" ") if a]
    try:
        for alt in alternatives:  # every condition must parse, even past one that holds
            for c in alt.split(","):
                if c:
                    split_condition(c)
        for alt in alternatives:
            if all(holds(c, facts) for c in alt.split(",") if c):
                return
        if not alternatives:
            return
    except ValueError as e:
        raise HookError(f"{var}={expr!r}: invalid requirement: {e}") from None
    first = alternatives[0]
    msg = f"{var}: unsatisfied condition: {first}"
    if first.startswith("cuda>="):
        msg += ", please update your driver to a newer version, or use an earlier cuda container"
    raise HookError(msg + f" (this host: {_describe(facts)})")


def _describe(f: Facts) -> str:
    parts = [f"{k} {getattr(f, k)}" for k in KEYS if getattr(f, k) is not None]
    return ", ".join(parts) or "nothing known"
