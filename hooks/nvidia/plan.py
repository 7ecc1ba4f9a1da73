"""Request + Driver → Plan: every bind mount, link, device and cgroup rule
the container gets. Pure: inject.py carries it out.

Where things go (libnvidia-container src/nvc_container.c, nvc_mount.c):
- libraries into the distribution's library directory: the multiarch one
  (/usr/lib/x86_64-linux-gnu) on a Debian-like rootfs (/etc/debian_version,
  or that directory exists), else /usr/lib64; 32-bit ones (compat32) into
  /usr/lib/i386-linux-gnu or /usr/lib; read-only, nodev, nosuid;
- each library's SONAME links beside it (libcuda.so.1 → libcuda.so.550.54.14),
  and libcuda.so → libcuda.so.1 (NVIDIA adds it: some programs dlopen it);
- binaries into /usr/bin, firmware and daemon sockets at their own paths;
- device nodes bound from the dev root at their own paths, read-only,
  nosuid, noexec (a read-only mount does not stop writing to a device);
  nvidiactl always, the selected GPUs, nvidia-uvm{,-tools} with compute,
  nvidia-modeset with display;
- the device cgroup allows each of those nodes, "rw".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from hooks.nvidia.driver import BINS, CAP_GROUPS, IPCS, Driver, Gpu, Node
from hooks.nvidia.errors import HookError
from hooks.nvidia.request import VISIBLE, Request, pci_id
from pyruntime import syscalls as sc

LIB_FLAGS = sc.MS_RDONLY | sc.MS_NODEV | sc.MS_NOSUID
DEV_FLAGS = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NOEXEC
IPC_FLAGS = sc.MS_NODEV | sc.MS_NOSUID | sc.MS_NOEXEC

MULTIARCH = {"x86_64": ("x86_64-linux-gnu", "i386-linux-gnu"), "aarch64": ("aarch64-linux-gnu", ""),
             "ppc64le": ("powerpc64le-linux-gnu", "")}


@dataclass(frozen=True)
class Bind:
    source: str                         # a path on the host
    target: str                         # a path in the container
    flags: int                          # MS_* applied by a bind remount
    device: tuple[int, int] | None = None  # (major, minor) the source must be


@dataclass(frozen=True)
class Link:
    path: str    # in the container
    target: str  # what it points to (relative: the file beside it)


@dataclass
class Plan:
    binds: list[Bind] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    proc_source: str | None = None       # the host's /proc/driver/nvidia to cover the container's with
    proc_gpus: list[str] = field(default_factory=list)  # gpus/<busid> shown in the cover
    ldconfig_dirs: list[str] = field(default_factory=list)
    devices: list[Node] = field(default_factory=list)   # for the device cgroup
    gpus: list[Gpu] = field(default_factory=list)


def select_gpus(devices: list[str] | None, gpus: list[Gpu]) -> list[Gpu]:
    """The GPUs a request names, in the order named, each once."""
    if devices is None:
        return list(gpus)
    out: list[Gpu] = []
    for d in devices:
        g = _find(d, gpus)
        if g is None:
            have = "; ".join(g.describe() for g in gpus) or "none"
            raise HookError(f"{VISIBLE}: {d!r}: unknown device (this host's GPUs: {have})")
        if g not in out:
            out.append(g)
    return out


def _find(d: str, gpus: list[Gpu]) -> Gpu | None:
    if d.isdigit():
        n = int(d)
        return gpus[n] if n < len(gpus) else None
    if d[:4].upper() == "GPU-":
        return next((g for g in gpus if g.uuid and g.uuid.lower() == d.lower()), None)
    want = pci_id(d)
    return next((g for g in gpus if g.busid and pci_id(g.busid) == want), None)


def container_libdirs(exists: Callable[[str], bool], arch: str) -> tuple[str, str]:
    """(64-bit, 32-bit) library directories for a rootfs; exists(path) tells
    whether a path exists in it."""
    multi, multi32 = MULTIARCH.get(arch, (f"{arch}-linux-gnu", ""))
    if exists("/etc/debian_version") or exists(f"/usr/lib/{multi}"):
        return f"/usr/lib/{multi}", f"/usr/lib/{multi32}" if multi32 else "/usr/lib"
    return "/usr/lib64", "/usr/lib"


def make(req: Request, drv: Driver, libdir: str, lib32dir: str) -> Plan:
    caps = req.capabilities
    groups = {g for c in caps for g in CAP_GROUPS[c]}
    bin_groups = {c for c in caps if c in BINS}
    plan = Plan(gpus=select_gpus(req.devices, drv.gpus))

    for lib in sorted(drv.libs, key=lambda x: x.path):
        if lib.group not in groups or (lib.bits == 32 and "compat32" not in caps):
            continue
        d = libdir if lib.bits == 64 else lib32dir
        plan.binds.append(Bind(drv.host(lib.path), f"{d}/{lib.file}", LIB_FLAGS))
        for soname in lib.sonames:
            plan.links.append(Link(f"{d}/{soname}", lib.file))
        if lib.name == "libcuda.so" and "libcuda.so.1" in lib.sonames and "libcuda.so" not in lib.sonames:
            plan.links.append(Link(f"{d}/libcuda.so", "libcuda.so.1"))
        if d not in plan.ldconfig_dirs:
            plan.ldconfig_dirs.append(d)
    for g in sorted(bin_groups):
        for name in BINS[g]:
            if name in drv.bins:
                plan.binds.append(Bind(drv.host(drv.bins[name]), f"/usr/bin/{name}", LIB_FLAGS))
    for fw in drv.firmware:
        plan.binds.append(Bind(drv.host(fw), fw, LIB_FLAGS))
    for path, group in sorted(drv.ipcs.items()):
        if group in groups and path in IPCS[group]:
            plan.binds.append(Bind(drv.host(path), path, IPC_FLAGS))

    ctl = drv.nodes.get("nvidiactl")
    if ctl is None:
        raise HookError(f"{drv.dev_host('/dev/nvidiactl')}: missing (is the nvidia kernel module loaded, "
                        f"and the dev root right?)")
    nodes = [ctl] + [g.node for g in plan.gpus]
    if "compute" in groups:
        nodes += [drv.nodes[n] for n in ("nvidia-uvm", "nvidia-uvm-tools") if n in drv.nodes]
    if "display" in caps and "nvidia-modeset" in drv.nodes:
        nodes.append(drv.nodes["nvidia-modeset"])
    for n in nodes:
        plan.binds.append(Bind(drv.dev_host(n.path), n.path, DEV_FLAGS, (n.major, n.minor)))
    plan.devices = nodes

    if drv.proc:
        plan.proc_source = drv.dev_host("/proc/driver/nvidia")
        plan.proc_gpus = [g.busid for g in plan.gpus
                          if g.busid and os.path.isdir(os.path.join(plan.proc_source, "gpus", g.busid))]
    return plan
