"""The prestart / createRuntime hook: state on stdin → the container's
config → request → discovery → plan → requirements → injection → device
cgroup. Any error stops it before the container is changed, or undoes what
was done (inject.py), and the runtime fails `create` with the message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hooks.nvidia import devcgroup, driver, nvml, plan, request, require
from hooks.nvidia.errors import HookError
from hooks.nvidia.inject import Injector
from pyruntime.rootfs.securejoin import secure_join


@dataclass
class Settings:
    driver_root: str = "/"
    dev_root: str | None = None
    ldconfig: str | None = None
    cgroups: bool = True
    log: Callable[[str], None] = lambda s: None


@dataclass
class Container:
    pid: int
    bundle: str
    rootfs: str
    env: dict[str, str]


def read_state(raw: bytes) -> Container:
    """The runtime's state JSON (runtime-spec "State"; `bundlePath` from
    older runtimes) and the bundle's config.json."""
    try:
        st = json.loads(raw or b"null")
    except ValueError as e:
        raise HookError(f"the container state on stdin is not JSON: {e}") from None
    if not isinstance(st, dict):
        raise HookError("no container state on stdin (run me as an OCI hook: prestart or createRuntime)")
    pid, bundle = st.get("pid"), st.get("bundle") or st.get("bundlePath")
    if not isinstance(pid, int) or pid <= 0:
        raise HookError(f"state.pid: {pid!r}: want the container's host pid (a prestart or createRuntime hook)")
    if not isinstance(bundle, str) or not bundle:
        raise HookError("state.bundle: missing")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            cfg: Any = json.load(f)
    except (OSError, ValueError) as e:
        raise HookError(f"{path}: {e}") from None
    root = (cfg.get("root") or {}).get("path") if isinstance(cfg, dict) else None
    if not isinstance(root, str) or not root:
        raise HookError(f"{path}: root.path: missing")
    env = ((cfg.get("process") or {}).get("env")) or []
    if not isinstance(env, list):
        raise HookError(f"{path}: process.env: not a list")
    return Container(pid, bundle, os.path.realpath(os.path.join(bundle, root)), request.env_map(env))


def facts_for(reqs: list[tuple[str, str]], drv: driver.Driver, gpus: list[driver.Gpu],
              ) -> list[require.Facts]:
    """The facts each requirement is checked against: one per selected GPU
    (arch, brand), or one without GPU facts when none is selected."""
    text = " ".join(e for _, e in reqs).lower()
    want_cuda = "cuda" in text
    want_dev = ("arch" in text or "brand" in text) and bool(gpus)
    answers: dict[str, Any] = {}
    if want_cuda or want_dev:
        def lib(name: str) -> str | None:
            return next((drv.host(x.path) for x in drv.libs if x.name == name and x.bits == 64), None)

        answers = nvml.ask(lib("libcuda.so") if want_cuda else None,
                           lib("libnvidia-ml.so") if want_dev else None,
                           [g.busid for g in gpus if g.busid] if want_dev else [])
    cuda = answers.get("cuda")
    devices = answers.get("devices") or {}
    if not gpus:
        return [require.Facts(cuda=cuda, driver=drv.version)]
    return [require.Facts(cuda=cuda, driver=drv.version, arch=devices.get(g.busid, {}).get("arch"),
                          brand=devices.get(g.busid, {}).get("brand")) for g in gpus]


def run(stdin: bytes, s: Settings) -> str:
    """Configure the container; returns a one-line summary."""
    c = read_state(stdin)
    req = request.parse(c.env)
    if req is None:
        return "not a GPU container (NVIDIA_VISIBLE_DEVICES unset, empty or void): nothing to do"
    drv = driver.discover(s.driver_root, s.dev_root, os.environ.get("PATH"))
    for w in drv.warnings:
        s.log(w)
    libdir, lib32dir = plan.container_libdirs(lambda p: os.path.lexists(secure_join(c.rootfs, p)),
                                              driver._machine())
    p = plan.make(req, drv, libdir, lib32dir)
    if req.requirements:
        for facts in facts_for(req.requirements, drv, p.gpus):
            for var, expr in req.requirements:
                require.check(var, expr, facts)
    inj = Injector(p, c.rootfs, c.pid, s.ldconfig, s.log)
    def cgroup() -> None:
        devcgroup.allow(c.pid, p.devices)

    if not inj.run(cgroup if s.cgroups else None):
        return "the container has the NVIDIA devices already (the hook ran before): nothing to do"
    gpus = ", ".join(g.describe() for g in p.gpus) or "none"
    return (f"driver {drv.version}: GPUs {gpus}; capabilities {','.join(sorted(req.capabilities))}; "
            f"{len(p.binds)} mounts into {c.rootfs}")
