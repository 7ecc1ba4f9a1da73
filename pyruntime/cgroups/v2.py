"""The cgroup manager for a pure cgroup v2 host (/sys/fs/cgroup is cgroup2
and no v1 hierarchy is mounted): one directory in one tree.

What differs from v1 (manager.py), following runc's fs2 driver:
- Controllers are enabled per level: a cgroup has a controller's files only
  when its parent lists the controller in `cgroup.subtree_control`. create()
  enables every controller the parent offers in `cgroup.controllers` (cpu,
  cpuset, io, memory, pids, hugetlb, rdma, misc) in every level from the
  hierarchy root down to the container's parent, as runc does. A level with processes of its own refuses (the "no
  internal processes" rule, EBUSY): as runc, that is ignored here and a limit
  that needs the controller then fails with a message naming it.
- memory: limit → memory.max, reservation → memory.low, and the v1-style
  swap (memory + swap) → memory.swap.max = swap - limit (runc's conversion).
- devices: no controller; an eBPF program (cgroups/ebpf.py).
- freezing: cgroup.freeze, done when cgroup.events says `frozen 1`.
- killing: cgroup.kill (Linux 5.14) kills every process of the subtree at
  once, with no race against forks; older kernels freeze, signal, thaw.
- the container may create sub-cgroups (with a cgroup namespace it owns its
  subtree): procs() and destroy() cover the whole subtree.

This module is imported only on a cgroup v2 host.
"""

from __future__ import annotations

import _signal as signal
import errno
import os
import time

from pyruntime.cgroups.devices import DEFAULT_ALLOWED
from pyruntime.cgroups.hierarchy import UNIFIED, own_cgroups
from pyruntime.cgroups.manager import Manager, _read, _write, checked_path
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids", "hugetlb")
DEFAULT_MOUNT = "/sys/fs/cgroup"


def _num(v: Any) -> str:
    """runc's numToStr: -1 is "max"."""
    return "max" if int(v) == -1 else str(int(v))


def swap_v2(swap: int, limit: int | None) -> int | None:
    """linux.resources.memory.swap is memory+swap (v1); cgroup v2 limits swap
    alone. None: leave memory.swap.max alone. -1: "max". (runc's
    ConvertMemorySwapToCgroupV2Value)"""
    lim = -1 if limit is None else int(limit)
    if lim == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap if swap == -1 else None
    if lim in (0, -1):
        raise PyruntimeError("linux.resources.memory.swap: a swap limit needs a memory limit",
                             field="linux.resources.memory.swap")
    if swap < lim:
        raise PyruntimeError(f"linux.resources.memory.swap: {swap} is below the memory limit "
                             f"{lim} (swap is memory+swap)", field="linux.resources.memory.swap")
    return swap - lim


def shares_to_weight(shares: int) -> int:
    """cpu.shares 2..262144 onto cpu.weight 1..10000 (runc's
    ConvertCPUSharesToCgroupV2Value)."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


# Fields of linux.resources that cgroup v2 has no file for. runc ignores
# kernel memory and useHierarchy on v2 (so do we); the others would be a
# limit silently not applied, so they are refused.
_V1_ONLY = {
    "memory": ("swappiness", "disableOOMKiller"),
    "cpu": ("realtimeRuntime", "realtimePeriod"),
    "blockIO": ("leafWeight",),
    "network": ("classID", "priorities"),
}


def _refuse_v1_only(res: dict[str, Any]) -> None:
    for group, keys in _V1_ONLY.items():
        g = res.get(group) or {}
        for k in keys:
            v = g.get(k)
            if v in (None, 0, False, []) or (k == "swappiness" and v == -1):
                continue
            field = f"linux.resources.{group}.{k}"
            raise PyruntimeError(f"{field}: not supported on cgroup v2 (no such file)", field=field)
    for i, d in enumerate((res.get("blockIO") or {}).get("weightDevice") or []):
        if d.get("leafWeight"):
            field = f"linux.resources.blockIO.weightDevice[{i}].leafWeight"
            raise PyruntimeError(f"{field}: not supported on cgroup v2", field=field)


class V2Manager(Manager):
    """paths is {"unified": the container's cgroup directory}, so code that
    reads Manager.paths (the cgroup mount in the rootfs) works unchanged.
    destroy is Manager's (the leaf and its sub-cgroups, killed through
    cgroup.kill: a v2 frozen task dies of SIGKILL, nothing to thaw)."""

    RMDIR_ATTEMPTS = 400

    def __init__(self, path: str, created: list[str] | None = None,
                 mount: str = DEFAULT_MOUNT) -> None:
        super().__init__({UNIFIED: path}, created)
        self.path = path
        self.mount = mount

    # -- persistence -----------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"kind": "v2", "path": self.path, "mount": self.mount, "paths": self.paths,
                "created": self.created}

    @classmethod
    def from_state(cls, d: dict[str, Any] | None) -> V2Manager:
        d = d or {}
        path = d.get("path") or (d.get("paths") or {}).get(UNIFIED) or ""
        return cls(str(path), list(d.get("created") or []), str(d.get("mount") or DEFAULT_MOUNT))

    @classmethod
    def for_config(cls, cgroups_path: str | None, cid: str, mounts: dict[str, str] | None = None,
                   *, with_unified: bool = True) -> V2Manager:
        """Absolute cgroupsPath: from the hierarchy root; relative (and the
        default, the id): from the caller's own cgroup. with_unified is
        ignored: the cgroup2 tree is the only one."""
        rel = checked_path(cgroups_path, cid)
        mount = (mounts or {}).get(UNIFIED, DEFAULT_MOUNT)
        if rel.startswith("/"):
            sub = os.path.normpath(rel)
        else:
            sub = os.path.normpath(os.path.join(own_cgroups().get(UNIFIED, "/"), rel))
        if sub in ("/", "//"):
            raise PyruntimeError(f"linux.cgroupsPath: {cgroups_path!r} is the root cgroup",
                                 field="linux.cgroupsPath")
        return cls(mount.rstrip("/") + sub, mount=mount.rstrip("/") or "/")

    # -- create / apply / join ---------------------------------------------------------
    def create(self) -> None:
        """mkdir the cgroup (and missing parents), enabling the controllers
        on the way down."""
        levels: list[str] = []
        p = self.path
        while p != self.mount and len(p) > len(self.mount):
            levels.append(p)
            p = os.path.dirname(p)
        levels.reverse()  # first level under the mount ... the container's cgroup
        parent = self.mount
        for d in levels:
            self._enable_controllers(parent)
            try:
                os.mkdir(d, 0o755)
                self.created.append(d)
            except FileExistsError:
                pass
            except OSError as e:
                raise PyruntimeError(f"creating cgroup {d}: {os.strerror(e.errno or 0)}",
                                     path=d, errno=e.errno) from None
            parent = d

    @staticmethod
    def _enable_controllers(parent: str) -> None:
        try:
            offered = set(_read(os.path.join(parent, "cgroup.controllers")).split())
            enabled = set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
        except OSError:
            return
        # the usual ones first (in this order), then whatever else is offered (rdma, misc)
        want = [c for c in CONTROLLERS if c in offered and c not in enabled]
        want += sorted(offered - enabled - set(want))
        if not want:
            return
        stc = os.path.join(parent, "cgroup.subtree_control")
        try:
            _write(stc, " ".join("+" + c for c in want))
        except OSError:
            for c in want:  # one at a time: enable what can be
                try:
                    _write(stc, "+" + c)
                except OSError:
                    pass

    def check_not_frozen(self) -> None:
        """A cgroup that is frozen (itself or through a parent) would keep the
        init frozen and `create` waiting forever."""
        try:
            frozen = "frozen 1" in _read(os.path.join(self.path, "cgroup.events")).splitlines()
        except OSError:
            return
        if frozen:
            raise PyruntimeError(f"linux.cgroupsPath: cgroup {self.path} is frozen; thaw it or use "
                                 "another path", field="linux.cgroupsPath", path=self.path)

    def apply(self, resources: dict[str, Any] | None) -> None:
        res = resources or {}
        _refuse_v1_only(res)
        mem = res.get("memory") or {}
        if mem:
            limit = mem.get("limit")
            if mem.get("swap") is not None:
                # `update` may change swap alone: convert against the limit in force
                sw = swap_v2(int(mem["swap"]), limit if limit is not None else self._memory_max())
                if sw is not None:
                    try:
                        self._set2("memory.swap.max", _num(sw), "linux.resources.memory.swap")
                    except PyruntimeError as e:
                        # no swap accounting: "max" or "no swap" are what we have anyway
                        if not (e.errno == errno.ENOENT and sw in (-1, 0)):
                            raise
            if limit is not None and int(limit) != 0:
                self._set2("memory.max", _num(limit), "linux.resources.memory.limit")
            if mem.get("reservation") is not None and int(mem["reservation"]) != 0:
                self._set2("memory.low", _num(mem["reservation"]),
                           "linux.resources.memory.reservation")
        pids = res.get("pids") or {}
        if pids.get("limit") is not None:
            lim = int(pids["limit"])  # runtime-spec 1.3: 0 is a limit; -1 (any negative) is none
            self._set2("pids.max", "max" if lim < 0 else str(lim), "linux.resources.pids.limit")
        if res.get("cpu"):
            self._apply_cpu(res["cpu"])
        if res.get("blockIO"):
            self._apply_io(res["blockIO"])
        for i, h in enumerate(res.get("hugepageLimits") or []):
            fld = f"linux.resources.hugepageLimits[{i}]"
            fname = f"hugetlb.{h['pageSize']}.max"
            if not os.path.exists(os.path.join(self.path, fname)) and \
                    os.path.exists(os.path.join(self.path, "hugetlb.2MB.max")):
                raise PyruntimeError(f"{fld}.pageSize: {h['pageSize']!r} is not a huge page size of "
                                     "this host", field=fld)
            self._set2(fname, _num(h["limit"]), fld)
        for dev, lim in (res.get("rdma") or {}).items():
            parts = [f"{k}={lim[k2]}" for k, k2 in (("hca_handle", "hcaHandles"),
                                                     ("hca_object", "hcaObjects"))
                     if lim.get(k2) is not None]
            if parts:
                self._set2("rdma.max", f"{dev} {' '.join(parts)}", f"linux.resources.rdma.{dev}")
        from pyruntime.cgroups import ebpf

        ebpf.set_device_filter(self.path, res.get("devices") or [], DEFAULT_ALLOWED)
        if res.get("unified"):
            # last, as runc 1.2 and crun: a unified file wins over the same file set above
            from pyruntime.cgroups import unified

            unified.apply(self.path, res["unified"], self.mount)

    def _apply_cpu(self, cpu: dict[str, Any]) -> None:
        f = "linux.resources.cpu"
        if cpu.get("shares"):
            self._set2("cpu.weight", str(shares_to_weight(int(cpu["shares"]))), f"{f}.shares")
        quota, period = cpu.get("quota") or 0, cpu.get("period") or 0
        if quota or period:
            val = str(int(quota)) if int(quota) > 0 else "max"
            if period:
                val += f" {int(period)}"
            self._set2("cpu.max", val, f"{f}.quota")
        if cpu.get("burst") is not None:
            self._set2("cpu.max.burst", str(int(cpu["burst"])), f"{f}.burst")
        if cpu.get("idle") is not None:
            self._set2("cpu.idle", str(int(cpu["idle"])), f"{f}.idle")
        for key in ("cpus", "mems"):
            if cpu.get(key):
                self._set2(f"cpuset.{key}", str(cpu[key]), f"{f}.{key}")

    def _apply_io(self, bio: dict[str, Any]) -> None:
        f = "linux.resources.blockIO"
        if bio.get("weight"):
            if os.path.exists(os.path.join(self.path, "io.bfq.weight")):
                self._set2("io.bfq.weight", str(int(bio["weight"])), f"{f}.weight")
            else:
                # blkio weight 10..1000 onto io.weight 1..10000 (runc's conversion)
                w = 1 + (int(bio["weight"]) - 10) * 9999 // 990
                self._set2("io.weight", str(w), f"{f}.weight")
        for i, d in enumerate(bio.get("weightDevice") or []):
            if d.get("weight"):
                self._set2("io.bfq.weight", f"{d['major']}:{d['minor']} {d['weight']}",
                           f"{f}.weightDevice[{i}]")
        for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                          ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
            for i, d in enumerate(bio.get(key) or []):
                rate = int(d["rate"])
                self._set2("io.max", f"{d['major']}:{d['minor']} {name}={rate if rate else 'max'}",
                           f"{f}.{key}[{i}]")

    def _memory_max(self) -> int | None:
        try:
            v = _read(os.path.join(self.path, "memory.max")).strip()
        except OSError:
            return None
        return -1 if v == "max" else int(v)

    def _set2(self, fname: str, value: str, field: str) -> None:
        target = os.path.join(self.path, fname)
        try:
            _write(target, value)
        except FileNotFoundError:
            ctrl = fname.split(".", 1)[0]
            raise PyruntimeError(
                f"{field}: the {ctrl} controller is not enabled for {self.path} "
                f"(no {fname}: {os.path.dirname(self.path)}/cgroup.subtree_control lacks it)",
                field=field, path=target, errno=errno.ENOENT) from None
        except OSError as e:
            raise PyruntimeError(f"{field}: writing {value!r} to {target}: "
                                 f"{os.strerror(e.errno or 0)}",
                                 field=field, path=target, errno=e.errno) from None

    def join_self(self) -> None:
        if self.born_inside != self.path:  # not forked into it (Manager.fork)
            _write(os.path.join(self.path, "cgroup.procs"), "0")

    # -- processes (procs: Manager's, the subtree's cgroup.procs) --------------------
    def freeze(self, frozen: bool) -> bool:
        """Freeze or thaw through cgroup.freeze; False when the cgroup is gone."""
        f = os.path.join(self.path, "cgroup.freeze")
        if not os.path.exists(f):
            return False
        _write(f, "1" if frozen else "0")
        want = "frozen 1" if frozen else "frozen 0"
        events = os.path.join(self.path, "cgroup.events")
        for _ in range(2000):
            try:
                if want in _read(events).splitlines():
                    return True
            except FileNotFoundError:
                return False
            time.sleep(0.001)
        raise PyruntimeError(f"cgroup {self.path} did not become "
                             f"{'frozen' if frozen else 'thawed'} within 2 s", path=self.path)

    def kill_all(self) -> bool:
        """SIGKILL every process of the subtree through cgroup.kill; False
        when the kernel has no cgroup.kill (before 5.14)."""
        f = os.path.join(self.path, "cgroup.kill")
        if not os.path.exists(f):
            return False
        try:
            _write(f, "1")
        except FileNotFoundError:
            pass  # the cgroup went away: nothing left to kill
        return True

    def signal_all(self, sig: int) -> None:
        if sig == signal.SIGKILL and self.kill_all():
            return
        super().signal_all(sig)
