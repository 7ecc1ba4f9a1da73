"""CDI (Container Device Interface, cncf-tags/container-device-interface
SPEC.md) for this host's GPUs: `cdi generate` writes a spec of kind
nvidia.com/gpu that any CDI-aware engine (or pyruntime itself, through
`cdi.k8s.io/*` annotations: pyruntime/cdi.py) applies without this hook
running at prestart; and the helpers the spec's createContainer hooks call
(`cdi-hook ...`), which run in the container's mount namespace before
pivot_root, where the rootfs is at its host path.

The spec (as nvidia-ctk's, docs/NVIDIA.md):
  devices      "0", "1", ... (index), "GPU-<uuid>", and "all": their /dev/nvidia<N>
  containerEdits (for any of them):
    env          NVIDIA_VISIBLE_DEVICES=void (the legacy hook must not act again)
    deviceNodes  nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset
    mounts       every driver library, binary and firmware file, read-only,
                 at its path under the driver root
    hooks        createContainer: create-symlinks (SONAME links, libcuda.so),
                 update-ldcache (ldconfig for the library folders),
                 disable-device-node-modification (the /proc/driver/nvidia cover)
"""

from __future__ import annotations

import json
import os
from typing import Any

from hooks.nvidia import plan as planmod
from hooks.nvidia.driver import Driver, find_gpus
from hooks.nvidia.errors import HookError
from hooks.nvidia.hook import read_state
from hooks.nvidia.inject import LDCONFIG_TIMEOUT, Injector, default_ldconfig, run_confined
from pyruntime.rootfs.securejoin import secure_join

CDI_VERSION = "0.5.0"  # hostPath in deviceNodes and names starting with a digit need 0.5.0
MOUNT_OPTIONS = ["ro", "nosuid", "nodev", "bind"]


def generate(drv: Driver, hook: str, kind: str = "nvidia.com/gpu") -> dict[str, Any]:
    def node(path: str) -> dict[str, Any]:
        return {"path": path, "hostPath": drv.dev_host(path)}

    devices: list[dict[str, Any]] = []
    for g in drv.gpus:
        edits = {"deviceNodes": [node(g.node.path)]}
        devices.append({"name": str(g.index), "containerEdits": edits})
        if g.uuid:
            devices.append({"name": g.uuid, "containerEdits": edits})
    if drv.gpus:
        devices.append({"name": "all", "containerEdits": {"deviceNodes": [node(g.node.path) for g in drv.gpus]}})
    if not devices:
        raise HookError(f"no GPU found under {drv.dev_root} (/proc/driver/nvidia/gpus, /dev/nvidia<N>)")
    common_nodes = [node(n.path) for name, n in sorted(drv.nodes.items())]
    mounts: list[dict[str, Any]] = []
    links: list[str] = []
    folders: list[str] = []
    for lib in sorted(drv.libs, key=lambda x: x.path):
        mounts.append({"hostPath": drv.host(lib.path), "containerPath": lib.path, "options": MOUNT_OPTIONS})
        d = os.path.dirname(lib.path)
        links += [f"{lib.file}::{d}/{s}" for s in lib.sonames]
        if lib.name == "libcuda.so" and "libcuda.so.1" in lib.sonames:
            links.append(f"libcuda.so.1::{d}/libcuda.so")
        if d not in folders:
            folders.append(d)
    for name, path in sorted(drv.bins.items()):
        mounts.append({"hostPath": drv.host(path), "containerPath": f"/usr/bin/{name}",
                       "options": MOUNT_OPTIONS})
    for fw in drv.firmware:
        mounts.append({"hostPath": drv.host(fw), "containerPath": fw, "options": MOUNT_OPTIONS})
    hooks: list[dict[str, Any]] = []
    if links:
        args = [os.path.basename(hook), "cdi-hook", "create-symlinks"]
        for link in links:
            args += ["--link", link]
        hooks.append({"hookName": "createContainer", "path": hook, "args": args})
    if folders:
        args = [os.path.basename(hook), "cdi-hook", "update-ldcache"]
        for f in folders:
            args += ["--folder", f]
        hooks.append({"hookName": "createContainer", "path": hook, "args": args})
    if drv.proc:
        hooks.append({"hookName": "createContainer", "path": hook,
                      "args": [os.path.basename(hook), "cdi-hook", "disable-device-node-modification",
                               "--dev-root", drv.dev_root]})
    return {"cdiVersion": CDI_VERSION, "kind": kind, "devices": devices,
            "containerEdits": {"env": ["NVIDIA_VISIBLE_DEVICES=void"], "deviceNodes": common_nodes,
                               "mounts": mounts, "hooks": hooks}}


def dump(spec: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(spec, indent=2) + "\n"
    import yaml  # PyYAML, only for YAML output

    out: str = yaml.safe_dump(spec, sort_keys=False)
    return out


def write(spec: dict[str, Any], output: str | None, fmt: str | None) -> str:
    fmt = fmt or ("json" if output and output.endswith(".json") else "yaml")
    text = dump(spec, fmt)
    if not output or output == "-":
        return text
    tmp = f"{output}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, output)
    except OSError as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise HookError(f"--output {output}: {os.strerror(e.errno or 0)}") from None
    return ""


# ---------------------------------------------------------------- createContainer helpers

def _rootfs(stdin: bytes) -> tuple[str, int, dict[str, Any]]:
    c = read_state(stdin)
    with open(os.path.join(c.bundle, "config.json")) as f:
        cfg: dict[str, Any] = json.load(f)
    return c.rootfs, c.pid, cfg


def create_symlinks(stdin: bytes, links: list[str]) -> None:
    rootfs, _, _ = _rootfs(stdin)
    for spec in links:
        target, sep, path = spec.partition("::")
        if not sep or not target or not path.startswith("/"):
            raise HookError(f"--link {spec!r}: want TARGET::/ABSOLUTE/LINK")
        parent = secure_join(rootfs, os.path.dirname(path))
        host = os.path.join(parent, os.path.basename(path))
        if os.path.islink(host):
            if os.readlink(host) == target:
                continue
            os.unlink(host)
        elif os.path.lexists(host):
            continue  # a real file there: leave it
        try:
            os.makedirs(parent, exist_ok=True)
            os.symlink(target, host)
        except OSError as e:
            raise HookError(f"creating the link {path} -> {target}: {os.strerror(e.errno or 0)}") from None


def update_ldcache(stdin: bytes, folders: list[str], ldconfig: str | None) -> None:
    rootfs, _, _ = _rootfs(stdin)
    argv = [ldconfig or default_ldconfig(), "-r", rootfs, "-X", *folders]
    if not os.path.isdir(os.path.join(rootfs, "etc")):
        os.mkdir(os.path.join(rootfs, "etc"), 0o755)
    status, out = run_confined(argv, LDCONFIG_TIMEOUT)
    if status != 0:
        raise HookError(f"{' '.join(argv)} failed ({status}): {out.strip()[-2000:]}")


def cover_proc(stdin: bytes, dev_root: str) -> None:
    """The /proc/driver/nvidia cover, showing the GPUs whose nodes the
    config's linux.devices has. The hook runs in the container's mount
    namespace, before pivot_root: the Injector enters that namespace through
    our own pid as the mounted (host's) /proc names it; the state's pid is
    the one the container sees (1 in a new pid namespace), which names
    another process there."""
    rootfs, _, cfg = _rootfs(stdin)
    pid = int(os.readlink("/proc/self"))
    source = os.path.join(dev_root, "proc/driver/nvidia")
    if not os.path.isdir(source):
        return
    minors = set()
    for d in (cfg.get("linux") or {}).get("devices") or []:
        p = d.get("path", "")
        if p.startswith("/dev/nvidia") and p[11:].isdigit():
            minors.add(int(p[11:]))
    gpus = [g.busid for g in find_gpus(dev_root) if g.minor in minors and g.busid
            and os.path.isdir(os.path.join(source, "gpus", g.busid))]
    Injector(planmod.Plan(proc_source=source, proc_gpus=gpus), rootfs, pid).run()
