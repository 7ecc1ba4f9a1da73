"""The device allow-list: the config's `linux.resources.devices` rules in
order, then the devices every container gets (runc's AllowedDevices), as
cgroup v1 `devices.allow` / `devices.deny` lines.

Without a deny-all first rule (which `runc spec` emits) a container holding
CAP_MKNOD could make and read a node for the host's disks.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# (type, major, minor, access): mknod of anything (not its use), and the
# default /dev nodes, the console, ptys and /dev/net/tun.
DEFAULT_ALLOWED: list[tuple[str, int, int, str]] = [
    ("c", -1, -1, "m"),
    ("b", -1, -1, "m"),
    ("c", 1, 3, "rwm"),    # null
    ("c", 1, 8, "rwm"),    # random
    ("c", 1, 7, "rwm"),    # full
    ("c", 5, 0, "rwm"),    # tty
    ("c", 1, 5, "rwm"),    # zero
    ("c", 1, 9, "rwm"),    # urandom
    ("c", 5, 1, "rwm"),    # console
    ("c", 136, -1, "rwm"),  # pts/*
    ("c", 5, 2, "rwm"),    # ptmx
    ("c", 10, 200, "rwm"),  # net/tun
]


def _num(n: Any) -> str:
    return "*" if n is None or n == -1 else str(int(n))


def rule_line(dtype: str, major: Any, minor: Any, access: str) -> str:
    if dtype == "a":
        return "a"
    return f"{dtype} {_num(major)}:{_num(minor)} {access}"


def v1_writes(rules: list[dict[str, Any]], extra: list[tuple[str, int, int, str]]) -> list[tuple[str, str]]:
    """[(file, line)] to write in order: file is devices.allow or devices.deny."""
    out: list[tuple[str, str]] = []
    for r in rules:
        dtype = r.get("type") or "a"
        access = r.get("access") or "rwm"
        line = rule_line(dtype, r.get("major"), r.get("minor"), access)
        if dtype == "a" and (r.get("major") not in (None, -1) or r.get("minor") not in (None, -1)
                             or access != "rwm"):
            # "a" with a major/minor or partial access means every type with it.
            for t in ("c", "b"):
                out.append(("devices.allow" if r.get("allow") else "devices.deny",
                            rule_line(t, r.get("major"), r.get("minor"), access)))
            continue
        out.append(("devices.allow" if r.get("allow") else "devices.deny", line))
    for t, ma, mi, acc in extra:
        out.append(("devices.allow", rule_line(t, ma, mi, acc)))
    return out
