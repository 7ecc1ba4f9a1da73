"""Helpers shared by the config-field integration tests
(test_process_fields, test_sysctl_domainname, test_netdevices): which runc
release first honours a field, and a `create` that must be refused and must
leave nothing behind.

runc silently ignores config fields newer than its runtime-spec, so a test
of such a field cannot pass on an older runc: it is skipped there instead.
"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    cgroup_dirs,
    cmdline,
    container_processes,
    create,
    mounts_mentioning,
    root_entries,
    wait_for,
)

# The first runc release that applies each field (older ones ignore it).
RUNC_SINCE: dict[str, tuple[int, int]] = {
    "process.scheduler": (1, 2),
    "process.ioPriority": (1, 2),
    "process.execCPUAffinity": (1, 2),
    "linux.personality": (1, 2),
    "domainname": (1, 2),
    "linux.netDevices": (1, 3),
}


@cache
def runc_version(path: str) -> tuple[int, int] | None:
    """(major, minor) when the binary at path is runc, else None."""
    if Path(path).name != "runc":
        return None
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"runc version (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def skip_unless_supported(rt: Any, field: str) -> None:
    """Skip when the runtime under test is a runc that predates `field`."""
    ver = runc_version(rt.path)
    since = RUNC_SINCE[field]
    if ver is not None and ver < since:
        pytest.skip(f"runc {ver[0]}.{ver[1]} ignores {field} "
                    f"(first applied by runc {since[0]}.{since[1]})")


def create_refused(rt: Any, bundle: Path, cid: str) -> str:
    """`create` the bundle, assert it fails and leaves nothing (no state
    entry, cgroup dir, mount or process); return its stderr and stdout."""
    mounts_before = mounts_mentioning(bundle)
    p = create(rt, bundle, cid)
    msg = p.stderr + p.stdout
    assert p.returncode != 0, f"create succeeded: stdout={p.stdout!r} stderr={p.stderr!r}"
    assert msg.strip(), "no error message"
    assert cid not in root_entries(rt), f"state dir entry left: {sorted(root_entries(rt))}"
    assert cgroup_dirs(cid) == [], f"cgroup dirs left: {cgroup_dirs(cid)}"
    assert mounts_mentioning(bundle) == mounts_before, "mounts left behind"
    try:
        wait_for(lambda: not container_processes(cid, bundle), timeout=3,
                 what="the container's processes to go away")
    except AssertionError:
        procs = container_processes(cid, bundle)
        raise AssertionError(f"processes left: {[(p, cmdline(p)) for p in procs]}") from None
    s = rt("state", cid)
    assert s.returncode != 0, f"state still answers: {s.stdout}"
    return msg
