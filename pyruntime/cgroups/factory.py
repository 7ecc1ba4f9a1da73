"""Which cgroup manager a container gets, and finding it again from its
state. Today: the v1/hybrid Manager (cgroups/manager.py). The cgroup v2
manager plugs in here: `for_config` picks by the host's hierarchies,
`from_state` by the "kind" recorded in state.json (absent = "v1", the
format of pyruntime 0.1 states)."""

from __future__ import annotations

from pyruntime.cgroups.manager import Manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def for_config(cgroups_path: str | None, cid: str, mounts: dict[str, str], *,
               with_unified: bool = True) -> Manager:
    return Manager.for_config(cgroups_path, cid, mounts, with_unified=with_unified)


def from_state(d: dict[str, Any] | None) -> Manager:
    return Manager.from_state(d)
