"""The five capability sets of `process.capabilities`, applied in the order
the kernel allows: drop from the bounding set while we still hold
CAP_SETPCAP, then set effective/permitted/inheritable with capset(2), then
raise ambient capabilities (each must be permitted and inheritable)."""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.errors import ConfigError, PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
BY_NAME = {n: i for i, n in enumerate(NAMES)}
SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def held_bounding(wanted: int) -> int:
    """The bits of `wanted` in our own bounding set: what any process we
    start can ever hold. Less than all in a restricted environment (a
    container that runs pyruntime, `setpriv --bounding-set`). One
    PR_CAPBSET_READ per wanted capability (~0.3 us each; reading CapBnd
    from /proc/self/status costs ~20 us); EINVAL (past cap_last_cap) is
    "not held"."""
    read = sc.sys().prctl
    held = 0
    for cap in range(wanted.bit_length()):
        if wanted >> cap & 1:
            try:
                if read(sc.PR_CAPBSET_READ, cap) == 1:
                    held |= 1 << cap
            except OSError:
                pass
    return held


def not_a_capability(name: str, last: int) -> bool:
    """Neither one of NAMES nor possibly one newer than them (the kernel's
    cap_last_cap is within NAMES): see mask()."""
    return name not in BY_NAME and last < len(NAMES)


def mask(names: list[str], field: str, last: int, unavailable: list[str], source: str = "") -> int:
    """The bits of one set. Three kinds of names (config.md, "Linux Process"):
    - not a capability (CAP_TEST): "Valid values are defined in the
      capabilities(7) man page", so an invalid config, an error naming the
      entry (runtime-tools' validation refuses it too; runc warns). Unless the
      running kernel has capabilities newer than NAMES (cap_last_cap past its
      end): the name may be one of those, so it is treated as the next kind.
    - a capability the running kernel lacks (its number > cap_last_cap): "cannot
      be mapped to a relevant kernel interface", logged as a warning and left
      out (runc 1.2: "ignoring unknown or unavailable capabilities").
    The names of both warned kinds are appended to `unavailable`. source:
    the file the errors name (config.json, exec's --process file)."""
    m = 0
    for i, n in enumerate(names):
        bit = BY_NAME.get(n)
        if bit is None:
            if not_a_capability(n, last):
                raise ConfigError(f"{source + ': ' if source else ''}{field}[{i}]: {n!r} is not a "
                                  "capability (capabilities(7))", field=f"{field}[{i}]", path=source or None)
            unavailable.append(n)
        elif bit > last:
            unavailable.append(n)
        else:
            m |= 1 << bit
    return m


def masks(caps: dict[str, Any] | None, held: int | None = None, source: str = "") -> dict[str, int]:
    """The five sets, checked. held: our bounding set (None: read the wanted
    bits of it, held_bounding()). A capability outside it "cannot be granted
    otherwise": logged as a warning and left out of every set, as the spec
    says ("Runtimes SHOULD NOT fail", runc 1.1.5 fails capset with EPERM)."""
    caps = caps or {}
    last = last_cap()
    unavailable: list[str] = []
    out = {s: mask(caps.get(s) or [], f"process.capabilities.{s}", last, unavailable, source) for s in SETS}
    if unavailable:
        from pyruntime.log import log

        log.warning("process.capabilities: ignoring unknown or unavailable capabilities (this kernel's "
                    f"last is {last}): {sorted(set(unavailable))}")
    wanted = 0
    for m in out.values():
        wanted |= m
    if held is None and wanted:
        held = held_bounding(wanted)
    lacking = wanted & ~(held if held is not None else wanted)
    if lacking:
        from pyruntime.log import log

        log.warning("process.capabilities: ignoring capabilities this runtime does not hold in its "
                    f"bounding set, so cannot grant: {[NAMES[b] for b in range(len(NAMES)) if lacking >> b & 1]}")
        out = {s: m & ~lacking for s, m in out.items()}
    return out


def drop_bounding(bounding: int) -> None:
    sys_ = sc.sys()
    for cap in range(last_cap() + 1):
        if not bounding & (1 << cap):
            sys_.prctl(sc.PR_CAPBSET_DROP, cap)


def apply(m: dict[str, int]) -> None:
    """After the user switch (bounding already dropped)."""
    sys_ = sc.sys()
    try:
        sys_.capset(m["effective"], m["permitted"], m["inheritable"])
    except OSError as e:
        # EPERM: the kernel takes no inheritable capability outside the bounding set
        # (and no effective one that is not permitted)
        raise PyruntimeError(f"process.capabilities: applying effective {m['effective']:#x}, permitted "
                             f"{m['permitted']:#x}, inheritable {m['inheritable']:#x} with bounding "
                             f"{m['bounding']:#x}: {os.strerror(e.errno or 0)} (inheritable must be within "
                             f"bounding, effective within permitted)", field="process.capabilities") from None
    sys_.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last_cap() + 1):
        if m["ambient"] & (1 << cap):
            # Linux refuses ambient caps that are not permitted and inheritable;
            # runc ignores that failure too.
            try:
                sys_.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
            except OSError:
                pass
