"""update: change the resource limits of a live container (runc update.go).

The request is a LinuxResources object (from --resources or built from the
flags). As runc 1.1 does, only these fields are taken from it, a zero value
meaning "leave as it is": memory.{limit,reservation,swap}, pids.limit,
cpu.{shares,quota,period,realtimeRuntime,realtimePeriod,cpus,mems,idle,burst},
blockIO.weight and unified, and memory.checkBeforeUpdate (a rule of update
itself, kept in the config snapshot for later updates: a new memory limit at
or below the current usage is refused before anything is written). Everything
else in the object (devices, hugepageLimits, network, ...) is ignored, as runc
ignores it. Of the fields taken, those this version cannot apply are refused
by name, as create refuses them (cgroups/support.py). The new values go into
the state dir's config snapshot so later reads see them.

On cgroup v2 (cgroups/v2.py) the same request lands in memory.max,
memory.swap.max (swap - limit, runc's conversion), memory.low, pids.max,
cpu.weight (from shares), cpu.max ("quota period"); a field the request
leaves out of a two-field file is taken from what is in force (_v2_fill);
the v1-only cpu.realtime* are refused by name; checkBeforeUpdate reads
memory.current.
"""

from __future__ import annotations

import os

from pyruntime import jsonfast
from pyruntime.cgroups import factory
from pyruntime.cgroups.manager import Manager
from pyruntime.cgroups.support import check_resources
from pyruntime.errors import PyruntimeError, StateError
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# {group: {key: kind}} of the LinuxResources fields `runc update` uses
# ("u" unsigned, "i" signed, "s" string, "b" bool, "o" object)
TAKEN: dict[str, dict[str, str]] = {
    "memory": {"limit": "i", "reservation": "i", "swap": "i", "kernel": "i", "kernelTCP": "i",
               "checkBeforeUpdate": "b"},
    "cpu": {"shares": "u", "quota": "i", "period": "u", "realtimeRuntime": "i",
            "realtimePeriod": "u", "cpus": "s", "mems": "s", "idle": "i", "burst": "u"},
    "blockIO": {"weight": "u"},
    "pids": {"limit": "i"},
}
IGNORED_MEMORY = ("kernel", "kernelTCP")


def _check_type(field: str, v: Any, kind: str) -> None:
    ok = {"i": isinstance(v, int) and not isinstance(v, bool),
          "u": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
          "s": isinstance(v, str), "b": isinstance(v, bool)}[kind]
    if not ok:
        want = {"i": "int64", "u": "uint64", "s": "string", "b": "bool"}[kind]
        raise PyruntimeError(f"json: cannot unmarshal {jsonfast.dumps(v)} into Go struct field "
                             f"{field} of type {want}")


def requested(res: dict[str, Any]) -> dict[str, Any]:
    """The part of a LinuxResources object runc's update uses, zero values left out."""
    if not isinstance(res, dict):
        raise PyruntimeError("json: cannot unmarshal resources: not an object")
    out: dict[str, Any] = {}
    for group, keys in TAKEN.items():
        value = res.get(group)
        if value is None:
            continue
        if not isinstance(value, dict):
            raise PyruntimeError(f"json: cannot unmarshal {group}: not an object")
        taken: dict[str, Any] = {}
        for k, kind in keys.items():
            v = value.get(k)
            if v is None:
                continue
            _check_type(f"LinuxResources.{group}.{k}", v, kind)
            if v not in (0, ""):
                taken[k] = v
        if taken:
            out[group] = taken
    unified = res.get("unified")
    if unified:
        out["unified"] = unified
    return out


def _memsw(mgr: Manager) -> str | None:
    p = mgr.paths.get("memory")
    return p if p and os.path.exists(os.path.join(p, "memory.memsw.limit_in_bytes")) else None


def _is_v2(mgr: Manager) -> bool:
    return mgr.to_state().get("kind") == "v2"


def _v2_fill(mgr: Manager, req: dict[str, Any], resources: dict[str, Any]) -> None:
    """runc's update hands the whole merged config to the cgroup driver; on
    cgroup v2 two files hold two fields each, so a field the request leaves
    out is taken from what is in force, as runc takes it from its config:
    - memory.swap.max is swap - limit: a new limit alone keeps memory+swap
      (the config's swap) where it was, as it stays on v1 (memory.memsw);
    - cpu.max is "quota period": a new period alone keeps the quota."""
    path = str(getattr(mgr, "path", ""))
    mem = req.get("memory") or {}
    limit = mem.get("limit")
    if limit and "swap" not in mem:
        old_swap = (resources.get("memory") or {}).get("swap")
        if limit == -1:
            mem["swap"] = -1  # unlimited memory: unlimited swap too (runc)
        elif isinstance(old_swap, int) and old_swap > 0 and \
                os.path.exists(os.path.join(path, "memory.swap.max")):
            mem["swap"] = old_swap  # (no swap accounting: no swap limit to keep)
    cpu = req.get("cpu") or {}
    if cpu.get("period") and not cpu.get("quota"):
        try:
            with open(os.path.join(path, "cpu.max")) as f:
                quota = f.read().split()[0]
        except (OSError, IndexError):
            quota = "max"
        if quota.isdigit():
            cpu["quota"] = int(quota)


def _apply(mgr: Manager, res: dict[str, Any], devices: Any) -> None:
    if mgr.to_state().get("kind", "v1") == "v1":  # also with the systemd driver on v1
        # v1: the device list did not change and rewriting it starts with a deny-all
        # (a window of EPERM for the container, EINVAL once it has sub-cgroups): leave it
        Manager({k: p for k, p in mgr.paths.items() if k != "devices"}).apply(res)
    else:
        mgr.apply(dict(res, devices=devices) if devices is not None else res)


def update(c: Container, res: dict[str, Any]) -> None:
    """Apply the LinuxResources object res to the running container c."""
    req = requested(res)
    mem = dict(req.get("memory") or {})
    for k in IGNORED_MEMORY:
        if mem.pop(k, None):
            from pyruntime.log import log

            log.warning("Kernel memory settings are ignored and will be removed")
    # checkBeforeUpdate: this request's value (false too), else the container's
    mem.pop("checkBeforeUpdate", None)
    raw_check = (res.get("memory") or {}).get("checkBeforeUpdate")
    if mem:
        req["memory"] = mem
    else:
        req.pop("memory", None)
    if c.status() not in ("created", "running", "paused"):
        raise StateError("container not running")
    check_resources(req)

    mgr = factory.from_state(c.data.get("cgroup"))
    try:
        cfg = c.config()
    except (OSError, ValueError):
        cfg = {}
    linux = cfg.setdefault("linux", {})
    resources = linux.get("resources") or {}
    linux["resources"] = resources
    devices = resources.get("devices")
    check = raw_check if raw_check is not None else (resources.get("memory") or {}).get("checkBeforeUpdate")
    if check and isinstance(mem.get("limit"), int):
        mgr.check_memory_usage(mem["limit"])  # before any write: a refusal leaves the old limit

    if _is_v2(mgr):
        _v2_fill(mgr, req, resources)
    if mem.get("limit") == -1 and not mem.get("swap") and _memsw(mgr):
        mem["swap"] = -1  # unlimited memory: unlimited memory+swap too (runc), kept in config.json
    # the order of the v1 memory and memory+swap writes: Manager._set_memory_and_swap
    # check_resources above refused what create would refuse (today: unified).
    _apply(mgr, req, devices)

    for group in req:
        if isinstance(req[group], dict) and req[group]:
            resources[group] = dict(resources.get(group) or {}, **req[group])
    if raw_check is not None:
        resources["memory"] = dict(resources.get("memory") or {}, checkBeforeUpdate=raw_check)
    c.save_config(jsonfast.dumps(cfg, indent=2).encode())
