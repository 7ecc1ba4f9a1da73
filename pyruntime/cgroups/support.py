"""Which `linux.resources` fields this version applies. A field that is set
but not applied is an error naming it: a container must never run without a
limit its config asked for. (The cgroups issue fills in the rest.)"""

from __future__ import annotations

from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

APPLIED: dict[str, set[str] | None] = {
    "memory": {"limit", "swap", "reservation", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
               "useHierarchy", "checkBeforeUpdate"},  # the last one: an `update` rule
    "cpu": None,
    "blockIO": None,
    "network": None,
    "rdma": None,
    "hugepageLimits": None,
    "pids": {"limit"},
    "devices": None,  # the whole list
    "unified": None,  # cgroup v2 files (cgroups/unified.py); a v1-only host refuses them
}


def _is_set(v: Any) -> bool:
    """Docker and others send zero values for what they do not limit."""
    if isinstance(v, dict):
        return any(_is_set(x) for x in v.values())
    return v not in (None, 0, "", [], False)


def check_resources(res: dict[str, Any] | None) -> None:
    for group, value in (res or {}).items():
        field = f"linux.resources.{group}"
        if group == "unified" and value:
            from pyruntime.cgroups import unified

            unified.check_keys(value)  # before anything is made
            continue
        if group not in APPLIED:
            if _is_set(value):
                raise ConfigError(f"{field}: not supported by this version of pyruntime", field=field)
            continue
        keys = APPLIED[group]
        if keys is None or not isinstance(value, dict):
            continue
        for k, v in value.items():
            if k not in keys and _is_set(v):
                raise ConfigError(f"{field}.{k}: not supported by this version of pyruntime",
                                  field=f"{field}.{k}")
