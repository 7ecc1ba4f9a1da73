"""linux.resources on cgroup v1 beyond memory limits, pids and devices:
the rest of memory, cpu (+ cpuset), blockIO, network, rdma, hugepageLimits.
Each value goes to the file the kernel enforces it from; a controller this
host does not mount is an error naming the field (never a silent no-op)."""

from __future__ import annotations

import errno
import os

from pyruntime.cgroups.hierarchy import UNIFIED
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def _need(paths: dict[str, str], ctrl: str, field: str) -> str:
    p = paths.get(ctrl)
    if not p:
        raise PyruntimeError(f"{field}: the {ctrl} cgroup controller is not mounted on this host", field=field)
    return p


def _has(path: str, fname: str) -> bool:
    return os.path.exists(os.path.join(path, fname))


def apply_memory_extra(paths: dict[str, str], mem: dict[str, Any], set_: Callable[[str, str, Any, str], None]) -> None:
    f = "linux.resources.memory"
    simple = [("kernel", "memory.kmem.limit_in_bytes"), ("kernelTCP", "memory.kmem.tcp.limit_in_bytes")]
    for key, fname in simple:
        if mem.get(key) is not None:
            set_(_need(paths, "memory", f"{f}.{key}"), fname, mem[key], f"{f}.{key}")
    if mem.get("swappiness") is not None:
        sw = int(mem["swappiness"])
        if not 0 <= sw <= 100:
            raise PyruntimeError(f"{f}.swappiness: {sw} is outside 0..100", field=f"{f}.swappiness")
        set_(_need(paths, "memory", f"{f}.swappiness"), "memory.swappiness", sw, f"{f}.swappiness")
    if mem.get("disableOOMKiller") is not None:
        set_(_need(paths, "memory", f"{f}.disableOOMKiller"), "memory.oom_control",
             1 if mem["disableOOMKiller"] else 0, f"{f}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        set_(_need(paths, "memory", f"{f}.useHierarchy"), "memory.use_hierarchy",
             1 if mem["useHierarchy"] else 0, f"{f}.useHierarchy")


def apply_cpu(paths: dict[str, str], cpu: dict[str, Any], set_: Callable[[str, str, Any, str], None]) -> None:
    f = "linux.resources.cpu"
    if cpu.get("shares"):
        set_(_need(paths, "cpu", f"{f}.shares"), "cpu.shares", cpu["shares"], f"{f}.shares")
    # The period first: a quota is checked against the period in force
    # (runc retries the other order on EINVAL; so do we).
    pairs = [("period", "cpu.cfs_period_us"), ("quota", "cpu.cfs_quota_us")]
    _ordered(paths, "cpu", cpu, pairs, f, set_)
    if cpu.get("burst") is not None:
        p = _need(paths, "cpu", f"{f}.burst")
        if not _has(p, "cpu.cfs_burst_us"):
            raise PyruntimeError(f"{f}.burst: this kernel has no cpu.cfs_burst_us", field=f"{f}.burst")
        set_(p, "cpu.cfs_burst_us", cpu["burst"], f"{f}.burst")
    _ordered(paths, "cpu", cpu, [("realtimePeriod", "cpu.rt_period_us"), ("realtimeRuntime", "cpu.rt_runtime_us")],
             f, set_)
    if cpu.get("idle") is not None:
        p = _need(paths, "cpu", f"{f}.idle")
        if not _has(p, "cpu.idle"):
            raise PyruntimeError(f"{f}.idle: this kernel has no cpu.idle", field=f"{f}.idle")
        set_(p, "cpu.idle", cpu["idle"], f"{f}.idle")
    for key, fname in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        if cpu.get(key):
            set_(_need(paths, "cpuset", f"{f}.{key}"), fname, cpu[key], f"{f}.{key}")


def _ordered(paths: dict[str, str], ctrl: str, cfg: dict[str, Any], pairs: list[tuple[str, str]], f: str,
             set_: Callable[[str, str, Any, str], None]) -> None:
    todo = [(k, fname) for k, fname in pairs if cfg.get(k) not in (None, 0)]
    if not todo:
        return
    p = _need(paths, ctrl, f"{f}.{todo[0][0]}")
    try:
        for k, fname in todo:
            set_(p, fname, cfg[k], f"{f}.{k}")
    except PyruntimeError as e:
        if e.errno != errno.EINVAL or len(todo) < 2:
            raise
        for k, fname in reversed(todo):
            set_(p, fname, cfg[k], f"{f}.{k}")


def apply_block_io(paths: dict[str, str], bio: dict[str, Any], set_: Callable[[str, str, Any, str], None]) -> None:
    f = "linux.resources.blockIO"
    p = _need(paths, "blkio", f)
    # blkio.weight (CFQ, gone since Linux 5.0) or blkio.bfq.weight (BFQ).
    weight_file = "blkio.weight" if _has(p, "blkio.weight") else "blkio.bfq.weight"
    if bio.get("weight"):
        if not _has(p, weight_file):
            raise PyruntimeError(f"{f}.weight: no proportional I/O scheduler (CFQ/BFQ) on this host",
                                 field=f"{f}.weight")
        set_(p, weight_file, bio["weight"], f"{f}.weight")
    if bio.get("leafWeight"):
        if not _has(p, "blkio.leaf_weight"):
            raise PyruntimeError(f"{f}.leafWeight: this kernel has no blkio.leaf_weight (CFQ only)",
                                 field=f"{f}.leafWeight")
        set_(p, "blkio.leaf_weight", bio["leafWeight"], f"{f}.leafWeight")
    for i, d in enumerate(bio.get("weightDevice") or []):
        fld = f"{f}.weightDevice[{i}]"
        if d.get("weight"):
            wfile = weight_file + "_device"
            if not _has(p, wfile):
                raise PyruntimeError(f"{fld}: no proportional I/O scheduler (CFQ/BFQ) on this host", field=fld)
            set_(p, wfile, f"{d['major']}:{d['minor']} {d['weight']}", fld)
        if d.get("leafWeight"):
            if not _has(p, "blkio.leaf_weight_device"):
                raise PyruntimeError(f"{fld}.leafWeight: this kernel has no blkio.leaf_weight_device", field=fld)
            set_(p, "blkio.leaf_weight_device", f"{d['major']}:{d['minor']} {d['leafWeight']}", fld)
    for key, fname in (("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
                       ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
                       ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
                       ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device")):
        for i, d in enumerate(bio.get(key) or []):
            set_(p, fname, f"{d['major']}:{d['minor']} {d['rate']}", f"{f}.{key}[{i}]")


def apply_network(paths: dict[str, str], net: dict[str, Any], set_: Callable[[str, str, Any, str], None]) -> None:
    f = "linux.resources.network"
    if net.get("classID") is not None:
        set_(_need(paths, "net_cls", f"{f}.classID"), "net_cls.classid", net["classID"], f"{f}.classID")
    for i, pr in enumerate(net.get("priorities") or []):
        set_(_need(paths, "net_prio", f"{f}.priorities"), "net_prio.ifpriomap",
             f"{pr['name']} {pr['priority']}", f"{f}.priorities[{i}]")


def apply_rdma(paths: dict[str, str], rdma: dict[str, Any], set_: Callable[[str, str, Any, str], None]) -> None:
    f = "linux.resources.rdma"
    for dev, lim in rdma.items():
        parts = [f"{k}={lim[k2]}" for k, k2 in (("hca_handle", "hcaHandles"), ("hca_object", "hcaObjects"))
                 if lim.get(k2) is not None]
        if parts:
            set_(_need(paths, "rdma", f"{f}.{dev}"), "rdma.max", f"{dev} {' '.join(parts)}", f"{f}.{dev}")


HUGEPAGES_DIR = "/sys/kernel/mm/hugepages"


def page_size_name(kib: int) -> str:
    """2048 -> "2MB", 1048576 -> "1GB", 64 -> "64KB": the kernel's hugetlb file
    infix, as runc derives it from /sys/kernel/mm/hugepages/hugepages-<n>kB."""
    size, units = float(kib), ["KB", "MB", "GB", "TB", "PB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:g}{units[i]}"


def host_page_sizes(sysdir: str | None = None) -> list[str]:
    """The huge page sizes of this host ("2MB", "1GB"), from /sys/kernel/mm/hugepages."""
    try:
        names = os.listdir(sysdir or HUGEPAGES_DIR)
    except OSError:
        return []
    kibs: list[int] = []
    for n in names:
        num = n.removeprefix("hugepages-").removesuffix("kB")
        if n.startswith("hugepages-") and n.endswith("kB") and num.isdigit():
            kibs.append(int(num))
    return [page_size_name(k) for k in sorted(kibs)]


def unified_offers(mount: str, ctrl: str) -> bool:
    """The hybrid host's cgroup2 hierarchy (at mount) offers ctrl: ctrl is
    bound to no v1 hierarchy, so the cgroup2 one manages it."""
    try:
        with open(os.path.join(mount, "cgroup.controllers")) as f:
            return ctrl in f.read().split()
    except OSError:
        return False


def enable_in_parents(mount: str, path: str, ctrl: str, field: str) -> None:
    """Enable ctrl in cgroup.subtree_control of every cgroup from the cgroup2
    mount down to path's parent, so that path gets ctrl's files.

    cgroup2's no-internal-process rule: a cgroup other than the root that
    holds processes cannot enable a domain controller for its children
    (EBUSY). The root is exempt, so a container directly below it (an
    absolute cgroupsPath of one level, or the default path of a caller in
    the root cgroup) always works; a deeper parent must hold no process."""
    levels: list[str] = []
    p = os.path.dirname(path.rstrip("/"))
    root = mount.rstrip("/") or "/"
    while len(p) >= len(root):
        levels.append(p)
        if p == root:
            break
        p = os.path.dirname(p)
    for d in reversed(levels):
        stc = os.path.join(d, "cgroup.subtree_control")
        try:
            with open(stc) as f:
                if ctrl in f.read().split():
                    continue
            fd = os.open(stc, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, f"+{ctrl}".encode())
            finally:
                os.close(fd)
        except OSError as e:
            why = os.strerror(e.errno or 0)
            if e.errno == errno.EBUSY:
                why += (" (cgroup v2's no-internal-process rule: this cgroup holds processes, so it "
                        f"cannot give {ctrl} to its children; use a cgroupsPath whose parents are empty)")
            raise PyruntimeError(f"{field}: enabling {ctrl} in {stc}: {why}", field=field, path=stc,
                                 errno=e.errno) from None


def apply_hugetlb(paths: dict[str, str], limits: list[dict[str, Any]],
                  set_: Callable[[str, str, Any, str], None]) -> None:
    """v1 hugetlb.<size>.limit_in_bytes; on a hybrid host whose hugetlb is
    attached to the cgroup2 hierarchy instead, hugetlb.<size>.max there.
    The reservation limit (.rsvd.*, Linux 5.7) gets the same value where the
    kernel has it, as runc 1.2 does: an over-limit mmap then fails with
    ENOMEM instead of a SIGBUS at the first touch."""
    f = "linux.resources.hugepageLimits"
    sizes = host_page_sizes()
    mount = ""
    if "hugetlb" not in paths and UNIFIED in paths:
        mount = _mount_of(paths[UNIFIED])
    unified = bool(mount) and unified_offers(mount, "hugetlb")
    for i, h in enumerate(limits):
        fld = f"{f}[{i}]"
        size = h.get("pageSize")
        if unified:
            p = paths[UNIFIED]
            if sizes and size not in sizes:
                raise PyruntimeError(f"{fld}.pageSize: {size!r} is not a huge page size of this host "
                                     f"(it has {', '.join(sizes)})", field=fld)
            if not _has(p, f"hugetlb.{size}.max"):
                enable_in_parents(mount, p, "hugetlb", fld)
            fname, rsvd = f"hugetlb.{size}.max", f"hugetlb.{size}.rsvd.max"
        else:
            p = _need(paths, "hugetlb", fld)
            fname, rsvd = f"hugetlb.{size}.limit_in_bytes", f"hugetlb.{size}.rsvd.limit_in_bytes"
        if not _has(p, fname):
            raise PyruntimeError(f"{fld}.pageSize: {size!r} is not a huge page size of this host",
                                 field=fld)
        set_(p, fname, h["limit"], fld)
        if _has(p, rsvd):
            set_(p, rsvd, h["limit"], fld)


def _mount_of(path: str) -> str:
    """The cgroup2 mount above path: the highest directory that has cgroup.controllers."""
    top, p = path, path
    while p not in ("/", "") and os.path.exists(os.path.join(p, "cgroup.controllers")):
        top, p = p, os.path.dirname(p)
    return top
