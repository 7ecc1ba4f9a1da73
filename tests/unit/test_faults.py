"""pyruntime/faults.py: inert without PYRUNTIME_FAULT (no extra import), and
each action when the named point is reached (in a fresh interpreter: the
variable is read once, at import)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import sys
from pyruntime import faults
print("armed" if faults._KILL_PIPE >= 0 else "inert", "fcntl" in sys.modules, flush=True)
faults.point("other.point")
print("passed other", flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "child":
    import os
    pid = os.fork()
    if pid == 0:
        faults.point("the.point")  # a child: kills its parent, goes on
        os._exit(0)
    os.waitpid(pid, 0)
    import time
    time.sleep(5)
else:
    faults.point("the.point")
print("after", flush=True)
"""


def probe(fault: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYRUNTIME_FAULT"}
    if fault is not None:
        env["PYRUNTIME_FAULT"] = fault
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=env, timeout=30)


def test_inert_without_the_variable() -> None:
    p = probe(None)
    assert p.returncode == 0 and p.stdout.split("\n")[0] == "inert False"
    assert "after" in p.stdout


def test_kill() -> None:
    p = probe("the.point")
    assert p.returncode == -9
    assert "passed other" in p.stdout and "after" not in p.stdout


def test_kill_from_a_child() -> None:
    p = probe("the.point:kill", "child")
    assert p.returncode == -9 and "after" not in p.stdout


def test_raise() -> None:
    p = probe("the.point:raise")
    assert p.returncode == 1 and "FaultInjected: fault injected at the.point" in p.stderr


@pytest.mark.parametrize("action", ["hang"])
def test_hang_until_killed(action: str) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", PROBE], env=dict(os.environ, PYRUNTIME_FAULT=f"the.point:{action}"),
                       capture_output=True, timeout=2)
