"""A fake NVIDIA driver root for the hook's tests (no GPU needed):

  <root>/usr/lib/x86_64-linux-gnu/lib*.so.<VERSION>   real ELF shared objects built
        with gcc, with NVIDIA's file names and SONAMEs, each exporting
        nv_fake_version() (the driver version) and nv_fake_name() (its own name);
        libcuda also cuDriverGetVersion (12.4), cuInit, cuDeviceGetCount (the
        /dev/nvidia<N> it can see); libnvidia-ml a few NVML calls (compute
        capability 8.0, brand Tesla) for NVIDIA_REQUIRE_arch/brand
  <root>/etc/ld.so.cache     made by the host's `ldconfig -r <root>` (which also
        makes the SONAME links, as on a real host)
  <root>/dev/nvidia0..N-1, nvidiactl, nvidia-modeset (195:*), nvidia-uvm{,-tools}
        (a made-up dynamic major): real nodes from mknod. No driver answers for
        them, so opening one gives ENXIO when the device cgroup allows it and
        EPERM when it does not: the tests tell the two apart that way.
  <root>/usr/bin/nvidia-smi, nvidia-cuda-mps-control   stub shell scripts
  <root>/lib/firmware/nvidia/<VERSION>/gsp_fake.bin
  <root>/proc/driver/nvidia/{version,params,registry,gpus/<busid>/information}

GPU index i (PCI bus order) has bus 0000:0<i+1>:00.0; its minor is N-1-i, so
that index and minor differ (NVIDIA indexes GPUs by bus, not by minor).

`python -m tests.support.fake_nvidia DIR` makes one by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

VERSION = "550.54.14"
CUDA = 12040  # cuDriverGetVersion: 12.4
UVM_MAJOR = 509  # a dynamic major no driver here uses
LIBDIR = "usr/lib/x86_64-linux-gnu"
PROBE_SRC = Path(__file__).parent / "probes" / "cuda_probe.c"

# library base name → (capability group, SONAME suffix: "1" or None = the versioned name)
LIBS: dict[str, tuple[str, str | None]] = {
    "libnvidia-ml.so": ("utility", "1"),
    "libnvidia-cfg.so": ("utility", "1"),
    "libcuda.so": ("compute", "1"),
    "libnvidia-ptxjitcompiler.so": ("compute", "1"),
    "libnvidia-nvvm.so": ("compute", "4"),
    "libnvcuvid.so": ("video", "1"),
    "libnvidia-encode.so": ("video", "1"),
    "libnvidia-glcore.so": ("graphics", None),
    "libGLX_nvidia.so": ("graphics", "0"),
    "libEGL_nvidia.so": ("graphics", "0"),
    "libnvidia-ngx.so": ("ngx", "1"),
}

_COMMON_C = """
const char *nv_fake_version(void) { return "%(version)s"; }
const char *nv_fake_name(void) { return "%(name)s"; }
"""
_CUDA_C = """
#include <dirent.h>
#include <string.h>
int cuDriverGetVersion(int *v) { *v = %(cuda)d; return 0; }
int cuInit(unsigned flags) { (void)flags; return 0; }
int cuDeviceGetCount(int *n) {
    DIR *d = opendir("/dev");
    struct dirent *e;
    *n = 0;
    if (!d) return 100;
    while ((e = readdir(d)) != 0)
        if (!strncmp(e->d_name, "nvidia", 6) && e->d_name[6] >= '0' && e->d_name[6] <= '9') (*n)++;
    closedir(d);
    return 0;
}
"""
_NVML_C = """
int nvmlInit_v2(void) { return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlDeviceGetHandleByPciBusId_v2(const char *bus, void **h) { *h = (void *)bus; return 0; }
int nvmlDeviceGetCudaComputeCapability(void *h, int *major, int *minor) { (void)h; *major = 8; *minor = 0; return 0; }
int nvmlDeviceGetBrand(void *h, int *brand) { (void)h; *brand = 2; return 0; }
"""


@dataclass
class FakeDriver:
    root: Path
    gpus: int
    version: str = VERSION
    uuids: list[str] = field(default_factory=list)
    busids: list[str] = field(default_factory=list)

    def minor(self, index: int) -> int:
        return self.gpus - 1 - index

    def libs(self, *groups: str) -> set[str]:
        """File names of the libraries of these groups."""
        return {f"{n}.{self.version}" for n, (g, _) in LIBS.items() if g in groups}


def _cc(args: list[str]) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("gcc is needed to build the fake NVIDIA libraries")
    subprocess.run([cc, *args], check=True, capture_output=True, text=True)


def make(root: Path, gpus: int = 2, version: str = VERSION, work: Path | None = None) -> FakeDriver:
    root = Path(root)
    work = work or root.parent / f"{root.name}-build"
    work.mkdir(parents=True, exist_ok=True)
    fake = FakeDriver(root, gpus, version)
    libdir = root / LIBDIR
    libdir.mkdir(parents=True)
    (root / "etc").mkdir()
    for name, (_group, soname_suffix) in LIBS.items():
        real = f"{name}.{version}"
        soname = f"{name}.{soname_suffix}" if soname_suffix else real
        src = work / f"{name}.c"
        code = _COMMON_C % {"version": version, "name": name}
        if name == "libcuda.so":
            code += _CUDA_C % {"cuda": CUDA}
        if name == "libnvidia-ml.so":
            code += _NVML_C
        src.write_text(code)
        _cc(["-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", str(libdir / real), str(src)])
    # The host's ldconfig makes the cache for this root, and the SONAME links.
    subprocess.run(["ldconfig", "-r", str(root)], check=True, capture_output=True, text=True)

    dev = root / "dev"
    dev.mkdir()
    for i in range(gpus):
        os.mknod(dev / f"nvidia{fake.minor(i)}", 0o666 | 0o020000, os.makedev(195, fake.minor(i)))
    for name, (ma, mi) in {"nvidiactl": (195, 255), "nvidia-modeset": (195, 254),
                           "nvidia-uvm": (UVM_MAJOR, 0), "nvidia-uvm-tools": (UVM_MAJOR, 1)}.items():
        os.mknod(dev / name, 0o666 | 0o020000, os.makedev(ma, mi))

    bindir = root / "usr" / "bin"
    bindir.mkdir(parents=True)
    (bindir / "nvidia-smi").write_text(
        "#!/bin/sh\n"
        f"echo 'NVIDIA-SMI {version}   Driver Version: {version}   CUDA Version: 12.4'\n"
        "for d in /dev/nvidia[0-9]*; do [ -e \"$d\" ] && echo \"GPU node $d\"; done\n"
        "exit 0\n")
    (bindir / "nvidia-cuda-mps-control").write_text("#!/bin/sh\necho fake mps control\n")
    for b in bindir.iterdir():
        b.chmod(0o755)
    fw = root / "lib" / "firmware" / "nvidia" / version
    fw.mkdir(parents=True)
    (fw / "gsp_fake.bin").write_bytes(b"fake gsp firmware\n")

    proc = root / "proc" / "driver" / "nvidia"
    (proc / "gpus").mkdir(parents=True)
    (proc / "version").write_text(
        f"NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  Thu Feb 22 01:44:30 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n")
    (proc / "params").write_text("ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileUID: 0\n")
    (proc / "registry").write_text("Binary: \"\"\n")
    for i in range(gpus):
        bus = f"0000:{i + 1:02x}:00.0"
        uuid = f"GPU-{i:08x}-fake-4e0b-9c3a-{0xa100 + i:012x}"
        fake.busids.append(bus)
        fake.uuids.append(uuid)
        d = proc / "gpus" / bus
        d.mkdir()
        (d / "information").write_text(
            f"Model: \t\t NVIDIA Fake A100\nIRQ:   \t\t 42\nGPU UUID: \t {uuid}\n"
            f"Video BIOS: \t 92.00.00.00.01\nBus Type: \t PCIe\nDMA Size: \t 47 bits\n"
            f"DMA Mask: \t 0x7fffffffffff\nBus Location: \t {bus}\nDevice Minor: \t {fake.minor(i)}\n"
            f"GPU Excluded:\t No\n")
    return fake


def build_probe(out_dir: Path) -> Path:
    """cuda_probe, dynamically linked against the host's glibc (static
    binaries cannot dlopen)."""
    out = out_dir / "cuda_probe"
    _cc(["-O1", "-o", str(out), str(PROBE_SRC), "-ldl"])
    return out


def add_glibc(rootfs: Path, libdir: str = "lib/x86_64-linux-gnu", debian: bool = True) -> None:
    """The host's dynamic loader and libc in a (busybox) rootfs, so that
    dynamically linked programs run; the static ldconfig for `ldconfig -p`.
    debian=False: libc in /lib and no /etc/debian_version (an rpm-style
    tree: the hook then picks /usr/lib64, found only through ld.so.cache)."""
    if not debian:
        libdir = "lib"
    d = rootfs / libdir
    d.mkdir(parents=True, exist_ok=True)
    for name in ("ld-linux-x86-64.so.2", "libc.so.6"):
        shutil.copy2(os.path.realpath(f"/lib/x86_64-linux-gnu/{name}"), d / name)
    (rootfs / "lib64").mkdir(exist_ok=True)
    link = rootfs / "lib64" / "ld-linux-x86-64.so.2"
    if not link.exists():
        link.symlink_to(f"/{libdir}/ld-linux-x86-64.so.2")
    (rootfs / "sbin").mkdir(exist_ok=True)
    shutil.copy2(os.path.realpath("/sbin/ldconfig"), rootfs / "sbin" / "ldconfig")
    if debian:
        (rootfs / "etc" / "debian_version").write_text("12.0\n")


if __name__ == "__main__":  # python -m tests.support.fake_nvidia DIR [GPUS]
    import sys

    f = make(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2)
    print(f)
