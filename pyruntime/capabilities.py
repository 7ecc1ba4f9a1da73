"""The five capability sets of `process.capabilities`, applied in the order
the kernel allows: drop from the bounding set while we still hold
CAP_SETPCAP, then set effective/permitted/inheritable with capset(2), then
raise ambient capabilities (each must be permitted and inheritable)."""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

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


def mask(names: list[str], field: str) -> int:
    """runtime-spec (1.1+): a capability the runtime does not know MUST be
    logged as a warning and SHOULD NOT fail the container (runc does so)."""
    m = 0
    for n in names:
        i = BY_NAME.get(n)
        if i is None:
            from pyruntime.log import log

            log.warning(f"{field}: unknown capability {n!r} ignored")
            continue
        m |= 1 << i
    return m


def masks(caps: dict[str, Any] | None) -> dict[str, int]:
    caps = caps or {}
    return {s: mask(caps.get(s) or [], f"process.capabilities.{s}") for s in SETS}


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
