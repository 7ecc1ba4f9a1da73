"""Build OCI bundles for tests and benchmarks: a busybox-static rootfs and a
config equal to what `runc spec` emits (with `terminal` off, so tests can
capture stdio).

No image registry is reachable here, so every rootfs is made from the host's
busybox-static binary (Debian package busybox-static).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

BUSYBOX = "/bin/busybox"

# `runc spec` (runc 1.1.5) output, with ociVersion raised to 1.2.1 and the
# terminal turned off. Tests copy this and edit the copy.
RUNC_SPEC: dict[str, Any] = {
    "ociVersion": "1.2.1",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            s: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            for s in ("bounding", "effective", "permitted", "ambient")
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
        ],
    },
}


def base_config(args: list[str] | None = None, **process: Any) -> dict[str, Any]:
    """A fresh copy of RUNC_SPEC, with process.args (and other process keys) set."""
    cfg = copy.deepcopy(RUNC_SPEC)
    if args is not None:
        cfg["process"]["args"] = list(args)
    cfg["process"].update(process)
    return cfg


def make_busybox_rootfs(dest: Path) -> Path:
    """Create a rootfs tree at dest: busybox-static with every applet linked
    under /bin, plus the directories a container expects. Returns dest."""
    if not os.path.exists(BUSYBOX):
        raise FileNotFoundError(f"{BUSYBOX} missing: apt-get install busybox-static")
    dest = Path(dest)
    for d in ("bin", "dev", "proc", "sys", "etc", "tmp", "root", "var", "run", "usr/bin", "sbin"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        link = dest / "bin" / applet
        if applet != "busybox" and not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    (dest / "etc" / "group").write_text("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    return dest


def write_bundle(bundle: Path, config: dict[str, Any], rootfs_src: Path | None = None) -> Path:
    """Write config.json into bundle; give it a rootfs (a copy of rootfs_src,
    or a fresh busybox tree) unless one is already there. Returns bundle."""
    bundle = Path(bundle)
    bundle.mkdir(parents=True, exist_ok=True)
    rootfs = bundle / config.get("root", {}).get("path", "rootfs")
    if not rootfs.exists():
        if rootfs_src is not None:
            shutil.copytree(rootfs_src, rootfs, symlinks=True)
        else:
            make_busybox_rootfs(rootfs)
    (bundle / "config.json").write_text(json.dumps(config, indent=2))
    return bundle


if __name__ == "__main__":  # python -m tests.support.bundle DIR [args...]
    import sys

    out = Path(sys.argv[1])
    write_bundle(out, base_config(sys.argv[2:] or None))
    print(out)
