"""Discovery on a driver root: what the host's NVIDIA driver offers.

`root` holds the driver's user-space files (ld.so.cache, libraries,
binaries, firmware): `/` on a normal host, elsewhere when the driver lives in
a directory of its own (a driver container, or the fake root of the tests).
`dev_root` holds /dev and /proc/driver/nvidia (by default the same).

Facts used (libnvidia-container src/nvc_info.c, nvc_internal.h):
- libraries are found through the root's ld.so.cache: every entry whose
  SONAME starts with a known library name, resolved inside the root to its
  real file, kept when that file name ends with the driver version
  (libcuda.so.1 → libcuda.so.550.54.14);
- binaries are searched in $PATH inside the root;
- firmware is /lib/firmware/nvidia/<version>/gsp*.bin;
- GPU nodes are /dev/nvidia<minor>, char major 195; nvidiactl is 195:255,
  nvidia-modeset 195:254; nvidia-uvm and nvidia-uvm-tools have a dynamic major;
- each GPU's minor, UUID, PCI bus id and model are in
  /proc/driver/nvidia/gpus/<bus id>/information; GPU indexes follow the PCI
  bus order, as nvidia-smi's and CUDA_DEVICE_ORDER=PCI_BUS_ID's;
- the driver version is in /proc/driver/nvidia/version
  ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  ...").
"""

from __future__ import annotations

import os
import platform
import stat
from dataclasses import dataclass, field

from hooks.nvidia import ldcache
from hooks.nvidia.errors import HookError
from hooks.nvidia.request import pci_id
from pyruntime.rootfs.securejoin import secure_join

NV_MAJOR = 195
CTL_MINOR = 255
MODESET_MINOR = 254

# Library names per group (nvc_info.c); a capability brings groups (CAP_GROUPS).
LIBS: dict[str, tuple[str, ...]] = {
    "utility": ("libnvidia-ml.so", "libnvidia-cfg.so", "libnvidia-nscq.so"),
    "compute": ("libcuda.so", "libcudadebugger.so", "libnvidia-opencl.so", "libnvidia-gpucomp.so",
                "libnvidia-ptxjitcompiler.so", "libnvidia-fatbinaryloader.so", "libnvidia-allocator.so",
                "libnvidia-compiler.so", "libnvidia-pkcs11.so", "libnvidia-pkcs11-openssl3.so",
                "libnvidia-nvvm.so", "libnvidia-tileiras.so"),
    "video": ("libvdpau_nvidia.so", "libnvidia-encode.so", "libnvidia-opticalflow.so", "libnvcuvid.so"),
    "graphics": ("libnvidia-eglcore.so", "libnvidia-glcore.so", "libnvidia-tls.so", "libnvidia-glsi.so",
                 "libnvidia-fbc.so", "libnvidia-ifr.so", "libnvidia-rtcore.so", "libnvoptix.so",
                 # GLVND vendor libraries
                 "libGLX_nvidia.so", "libEGL_nvidia.so", "libGLESv2_nvidia.so", "libGLESv1_CM_nvidia.so",
                 "libnvidia-glvkspirv.so", "libnvidia-cbl.so"),
    "ngx": ("libnvidia-ngx.so",),
}
BINS: dict[str, tuple[str, ...]] = {
    "utility": ("nvidia-smi", "nvidia-debugdump", "nvidia-persistenced", "nv-fabricmanager"),
    "compute": ("nvidia-cuda-mps-control", "nvidia-cuda-mps-server"),
}
# options.h: video brings compute's libraries too; display brings graphics.
CAP_GROUPS: dict[str, tuple[str, ...]] = {
    "utility": ("utility",), "compute": ("compute",), "video": ("video", "compute"),
    "graphics": ("graphics",), "display": ("graphics",), "ngx": ("ngx",), "compat32": (),
}
# Sockets and directories of the driver's daemons, by the group that needs them.
IPCS: dict[str, tuple[str, ...]] = {
    "utility": ("/var/run/nvidia-persistenced/socket", "/var/run/nvidia-fabricmanager/socket"),
    "compute": ("/tmp/nvidia-mps",),
}
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Node:
    path: str   # where it is under the dev root, and where it goes in the container
    major: int
    minor: int


@dataclass(frozen=True)
class Gpu:
    index: int
    minor: int
    uuid: str      # GPU-..., "" when unknown
    busid: str     # as /proc names it (0000:01:00.0), "" when unknown
    model: str

    @property
    def node(self) -> Node:
        return Node(f"/dev/nvidia{self.minor}", NV_MAJOR, self.minor)

    def describe(self) -> str:
        return " ".join(x for x in (str(self.index), self.uuid, self.busid) if x)


@dataclass(frozen=True)
class Library:
    group: str
    name: str                 # the name it was found by, e.g. libcuda.so
    path: str                 # its real file inside the root
    sonames: tuple[str, ...]  # cache keys naming it, e.g. libcuda.so.1
    bits: int                 # 64, or 32 (compat32)

    @property
    def file(self) -> str:
        return os.path.basename(self.path)


@dataclass
class Driver:
    root: str
    dev_root: str
    version: str
    gpus: list[Gpu]
    libs: list[Library]
    bins: dict[str, str]                      # name → path inside the root
    firmware: list[str]                       # paths inside the root
    ipcs: dict[str, str]                      # path inside the root → group
    nodes: dict[str, Node]                    # nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset
    proc: bool                                # dev_root has /proc/driver/nvidia
    warnings: list[str] = field(default_factory=list)

    def host(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def dev_host(self, path: str) -> str:
        return os.path.join(self.dev_root, path.lstrip("/"))


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def is_version(s: str) -> bool:
    return bool(s) and s[0].isdigit() and not s.strip("0123456789.") and "." in s


def parse_proc_version(text: str) -> str | None:
    """The version in /proc/driver/nvidia/version: the first version-like
    word after "Kernel Module" (also "Open Kernel Module for x86_64  X")."""
    for line in text.splitlines():
        if line.startswith("NVRM version:") and "Kernel Module" in line:
            for word in line.split("Kernel Module", 1)[1].split():
                if is_version(word):
                    return word
    return None


def parse_gpu_information(text: str) -> dict[str, str]:
    """/proc/driver/nvidia/gpus/<busid>/information: 'Key:  value' lines."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            out[k.strip()] = v.strip()
    return out


def _char_node(host_path: str, name: str) -> Node | None:
    try:
        st = os.stat(host_path)
    except OSError:
        return None
    if not stat.S_ISCHR(st.st_mode):
        return None
    return Node(name, os.major(st.st_rdev), os.minor(st.st_rdev))


def find_gpus(dev_root: str) -> list[Gpu]:
    """From /proc/driver/nvidia/gpus, ordered by PCI bus id; without it, the
    /dev/nvidia<N> nodes ordered by minor (no UUIDs or bus ids then)."""
    gdir = os.path.join(dev_root, "proc/driver/nvidia/gpus")
    found: list[tuple[tuple[int, int, int, int], int, str, str, str]] = []
    try:
        names = os.listdir(gdir)
    except OSError:
        names = []
    for name in names:
        info = parse_gpu_information(_read(os.path.join(gdir, name, "information")) or "")
        busid = info.get("Bus Location", name)
        pci = pci_id(busid) or pci_id(name)
        minor = info.get("Device Minor", "")
        if pci is None or not minor.isdigit():
            raise HookError(f"{gdir}/{name}/information: no Bus Location / Device Minor in it")
        found.append((pci, int(minor), info.get("GPU UUID", ""), name, info.get("Model", "")))
    if found:
        found.sort()
        return [Gpu(i, m, uuid, bus, model) for i, (_, m, uuid, bus, model) in enumerate(found)]
    minors = []
    try:
        for n in os.listdir(os.path.join(dev_root, "dev")):
            if n.startswith("nvidia") and n[6:].isdigit():
                node = _char_node(os.path.join(dev_root, "dev", n), f"/dev/{n}")
                if node and node.major == NV_MAJOR:
                    minors.append(node.minor)
    except OSError:
        pass
    return [Gpu(i, m, "", "", "") for i, m in enumerate(sorted(minors))]


def _machine() -> str:
    m = platform.machine()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(m, m)


def _in_root(root: str, path: str) -> str | None:
    """The real file `path` names inside root (symlinks resolved inside it),
    as a path inside root; None when it is not a regular file."""
    real = secure_join(root, path)
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            return None
    except OSError:
        return None
    rel = os.path.relpath(real, root)
    return "/" + rel if rel != "." else "/"


def find_libraries(root: str, entries: list[ldcache.Entry], version: str | None,
                   arch: str) -> tuple[list[Library], list[str]]:
    """(libraries, warnings). With version None the files are not filtered."""
    abi64 = ldcache.ARCH_64.get(arch)
    by_path: dict[str, Library] = {}
    warnings = []
    for group, names in LIBS.items():
        for name in names:
            hit = False
            for e in entries:
                if not e.is_libc6 or not (e.key == name or e.key.startswith(name + ".")):
                    continue
                bits = 64 if e.abi() == abi64 else 32 if e.abi() == 0 and arch == "x86_64" else 0
                if not bits:
                    continue
                path = _in_root(root, e.value)
                if path is None or (version and not os.path.basename(path).endswith(version)):
                    continue
                hit = True
                old = by_path.get(path)
                sonames = tuple(sorted({*(old.sonames if old else ()), e.key} - {os.path.basename(path)}))
                by_path[path] = Library(group, name, path, sonames, bits)
            if not hit:
                warnings.append(f"missing library {name}")
    return list(by_path.values()), warnings


def infer_version(root: str, entries: list[ldcache.Entry]) -> str | None:
    """The version in the file name of libcuda.so.1 or libnvidia-ml.so.1."""
    for soname in ("libcuda.so.1", "libnvidia-ml.so.1"):
        for e in entries:
            if e.key == soname:
                path = _in_root(root, e.value)
                if path:
                    v = os.path.basename(path).split(".so.", 1)[-1]
                    if is_version(v):
                        return v
    return None


def discover(root: str = "/", dev_root: str | None = None, path_env: str | None = None,
             arch: str | None = None) -> Driver:
    root = os.path.abspath(root)
    dev_root = os.path.abspath(dev_root or root)
    arch = arch or _machine()
    if not os.path.isdir(root):
        raise HookError(f"driver root {root}: not a directory")
    cache = os.path.join(root, "etc/ld.so.cache")
    try:
        entries = ldcache.read(cache)
    except (OSError, ValueError) as e:
        raise HookError(f"driver root {root}: cannot read its library cache {cache}: {e}") from None
    proc_version = _read(os.path.join(dev_root, "proc/driver/nvidia/version"))
    version = parse_proc_version(proc_version) if proc_version else None
    version = version or infer_version(root, entries)
    if version is None:
        raise HookError(f"no NVIDIA driver found: no {dev_root}/proc/driver/nvidia/version, and no "
                        f"libcuda.so.1 or libnvidia-ml.so.1 in {cache} (is the driver root right?)")
    libs, warnings = find_libraries(root, entries, version, arch)
    bins: dict[str, str] = {}
    for names in BINS.values():
        for name in names:
            for d in (path_env or DEFAULT_PATH).split(":"):
                p = _in_root(root, os.path.join(d or "/", name))
                if p and os.access(os.path.join(root, p.lstrip("/")), os.X_OK):
                    bins[name] = p
                    break
    fw_dir = f"/lib/firmware/nvidia/{version}"
    try:
        firmware = sorted(f"{fw_dir}/{n}" for n in os.listdir(secure_join(root, fw_dir))
                          if n.startswith("gsp") and n.endswith(".bin"))
    except OSError:
        firmware = []
    ipcs = {p: g for g, paths in IPCS.items() for p in paths
            if os.path.exists(secure_join(root, p))}
    nodes = {}
    for name in ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"):
        node = _char_node(secure_join(dev_root, f"/dev/{name}"), f"/dev/{name}")
        if node is not None:
            nodes[name] = node
    return Driver(root, dev_root, version, find_gpus(dev_root), libs, bins, firmware, ipcs, nodes,
                  os.path.isdir(os.path.join(dev_root, "proc/driver/nvidia")), warnings)
