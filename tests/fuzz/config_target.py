"""The config loader as a fuzz target: bytes in, config.json of a bundle,
then everything `create` checks before it makes anything. Anything but a
clean `PyruntimeError` (a message for the user) is a finding: the CLI would
answer it with "internal error" instead of a clear message.

Used by tests/fuzz/fuzz_config_loader.py (atheris) and, on a fixed corpus,
by tests/unit/test_security_config.py (so the target keeps working in CI).
"""

from __future__ import annotations

import os
import tempfile

from pyruntime.errors import PyruntimeError

_BUNDLE = tempfile.mkdtemp(prefix="pyrt-fuzz-bundle-")


def create_checks(cfg: object) -> None:
    """What pyruntime/lifecycle/create.py checks before the state dir exists
    (keep in step with create()): nothing here touches the host."""
    from pyruntime import capabilities, lsm, rootless, sysctl
    from pyruntime.cgroups.support import check_resources
    from pyruntime.process import settings
    from pyruntime.spec.load import Config

    assert isinstance(cfg, Config)
    proc = cfg.process or {}  # OPTIONAL until start
    lsm.check(cfg)
    if rootless.euid_rootless():
        rootless.check_config(cfg)
    check_resources(cfg.linux.get("resources"))
    # held: our own bounding set is a host fact (PR_CAPBSET_READ, a syscall);
    # a capability outside it is only warned about and left out
    capabilities.masks(proc.get("capabilities"), held=(1 << 64) - 1, source=cfg.path)
    settings.check_scheduler(proc.get("scheduler"))
    settings.check_io_priority(proc.get("ioPriority"))
    settings.check_personality(cfg.linux.get("personality"))
    sysctl.check(cfg)
    if cfg.linux.get("seccomp") is not None:
        from pyruntime.seccomp import compile_filter

        compile_filter(cfg.linux["seccomp"])


def one_input(data: bytes) -> str:
    """Load `data` as a bundle's config.json and run create's checks.
    Returns "ok" or the error message; raises on anything else."""
    from pyruntime.spec.load import load

    with open(os.path.join(_BUNDLE, "config.json"), "wb") as f:
        f.write(data)
    try:
        create_checks(load(_BUNDLE))
    except PyruntimeError as e:
        if not e.msg:
            raise AssertionError("an error without a message") from None
        return e.msg
    return "ok"
