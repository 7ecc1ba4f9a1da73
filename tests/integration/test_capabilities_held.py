"""pyruntime.capabilities against the running kernel (no container: the
function a create uses to learn what it can grant)."""

from __future__ import annotations

import subprocess

import pytest


def test_held_bounding_is_the_kernels_bounding_set() -> None:
    """capabilities.held_bounding (PR_CAPBSET_READ per wanted bit) against the
    kernel's own CapBnd, in a process whose bounding set lacks CAP_SYS_MODULE
    and CAP_NET_RAW (setpriv): what a create there can grant."""
    import shutil
    import sys

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) not installed")
    code = ("from pyruntime import capabilities as c\n"
            "every = (1 << (c.last_cap() + 1)) - 1\n"
            "bnd = next(int(x.split()[1], 16) for x in open('/proc/self/status') if x.startswith('CapBnd:'))\n"
            "print(c.held_bounding(every), bnd, c.held_bounding(1 << 16 | 1 << 5))\n")
    p = subprocess.run(["setpriv", "--bounding-set=-sys_module,-net_raw", sys.executable, "-c", code],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    held, bnd, two = (int(x) for x in p.stdout.split())
    assert held == bnd and not bnd >> 16 & 1 and not bnd >> 13 & 1, (hex(held), hex(bnd))
    assert two == 1 << 5  # CAP_SYS_MODULE (16) left out, CAP_KILL (5) held
