"""pyruntime's warm server (pyruntime/launch/server.py) seen from tests: which
servers run for a --root, and starting one."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.conftest import Runtime
from tests.integration.probes import wait_for


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def servers(rt: Runtime) -> list[int]:
    """Pids of warm servers for rt's --root."""
    return servers_for(str(rt.root))


def servers_for(root: str) -> list[int]:
    """Pids of warm servers for that --root (argv: ... serve(...) KEY ROOT IDLE)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _cmdline(int(entry))
            if len(argv) >= 4 and "from pyruntime.launch.server import serve" in " ".join(argv) and root in argv:
                found.append(int(entry))
    return found


def start_server_for(runtime: str, root: Path, netns_path: str, env: dict[str, str] | None = None) -> int:
    """README's "A warm server for a shim's --root": one for `root` that
    stays (PYRUNTIME_WARM_IDLE=0) until the root goes, started from here (no
    subreaper) in the shim's network namespace. Its pid."""
    import subprocess

    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["nsenter", f"--net={netns_path}", runtime, "--root", str(root), "state", "none"],
                   env=dict(os.environ if env is None else env, PYRUNTIME_WARM_IDLE="0"), capture_output=True,
                   timeout=30)
    wait_for(lambda: len(servers_for(str(root))) == 1, what=f"a warm server for {root}")
    return servers_for(str(root))[0]


def children_cpu_ticks(pid: int) -> int:
    """/proc/<pid>/stat cutime + cstime (fields 16, 17): the CPU time of the
    children pid has reaped, in clock ticks (a server's: its workers')."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[13]) + int(fields[14])


def server_key(pid: int) -> str:
    """The key server pid listens under (its abstract socket "\\0pyruntime-warm/<key>"):
    its argv ends KEY ROOT IDLE (and /proc's cmdline with a NUL)."""
    return _cmdline(pid)[-4]


def warm_up(rt: Runtime, cid: str) -> int:
    """The first served command finds no server and starts one (for an
    existing --root only: the server goes when its root goes): its pid."""
    rt.root.mkdir(exist_ok=True)
    rt("state", cid)
    wait_for(lambda: len(servers(rt)) == 1, what="a warm server for this root")
    # and it answers (it listens before the first command can be served)
    time.sleep(0.2)
    return servers(rt)[0]
