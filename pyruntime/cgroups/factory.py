"""Which cgroup manager a container gets, and finding it again from its
state: the v1/hybrid Manager (cgroups/manager.py) or, on a host where the
only cgroup hierarchy is cgroup2, the V2Manager (cgroups/v2.py).
`for_config` picks by the host's hierarchies, `from_state` by the "kind"
recorded in state.json (absent = "v1", the format of pyruntime 0.1 states);
"driver": "systemd" (--systemd-cgroup) wraps it with the unit's part
(cgroups/systemd.py).

v2.py (and the eBPF device program, ebpf.py) are imported only when used.
"""

from __future__ import annotations

from pyruntime.cgroups.hierarchy import UNIFIED
from pyruntime.cgroups.manager import Manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def is_pure_v2(mounts: dict[str, str]) -> bool:
    """No v1 hierarchy, one cgroup2 tree (normally at /sys/fs/cgroup)."""
    return set(mounts) == {UNIFIED}


def for_config(cgroups_path: str | None, cid: str, mounts: dict[str, str], *,
               with_unified: bool = True) -> Manager:
    if is_pure_v2(mounts):
        from pyruntime.cgroups.v2 import V2Manager

        return V2Manager.for_config(cgroups_path, cid, mounts, with_unified=with_unified)
    return Manager.for_config(cgroups_path, cid, mounts, with_unified=with_unified)


def from_state(d: dict[str, Any] | None) -> Manager:
    kind = (d or {}).get("kind", "v1")
    mgr: Manager
    if kind == "v2":
        from pyruntime.cgroups.v2 import V2Manager

        mgr = V2Manager.from_state(d)
    else:
        mgr = Manager.from_state(d)
    if d and d.get("driver") == "systemd":
        # --systemd-cgroup: the same cgroupfs manager, with the unit's part
        from pyruntime.cgroups import systemd

        return systemd.from_state(d, mgr)
    return mgr
