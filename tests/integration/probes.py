"""Helpers for integration tests: drive a runtime without capturing the
container's stdio, wait for conditions, and look at what a container left on
the host (state dirs, cgroup dirs, mounts, processes).

Only ever looks at (and cleans up) things named after the test's own
container id or living inside the test's own bundle.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.isolation import CGROUP_ROOT, RuntimeLike, kill_pid, remove_cgroup_tree
from tests.support.isolation import pid_alive as alive

# RFC 3339 date-time, as Go's time.RFC3339 / RFC3339Nano produce it.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def run_nocapture(rt: RuntimeLike, *args: str, timeout: float = 30, stdout: Path | None = None,
                  **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a runtime command whose children may outlive it (`create`,
    `run --detach`): their stdio goes to files, not pipes, so waiting for the
    runtime never waits for the container. Returns the runtime's exit status
    and what was in the files when the runtime exited. With stdout=PATH the
    container's (and the runtime's) stdout goes on being written to PATH."""
    with tempfile.TemporaryFile("w+") as tmp, tempfile.TemporaryFile("w+") as err, \
            (stdout.open("w+") if stdout is not None else tmp) as out:
        p = subprocess.run(rt.cmd(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                           timeout=timeout, text=True, **kw)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())


def create(rt: RuntimeLike, bundle: Path, cid: str, *extra: str,
           stdout: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`create --bundle BUNDLE [extra...] ID`."""
    return run_nocapture(rt, "create", "--bundle", str(bundle), *extra, cid, stdout=stdout)


def must(p: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Fail the test with the runtime's output when p failed."""
    assert p.returncode == 0, f"{p.args} rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
    return p


def wait_for(pred: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02,
             what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def status_of(rt: RuntimeLike, cid: str) -> str | None:
    """The container's status, or None when `state` fails."""
    p = subprocess.run(rt.cmd("state", cid), capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=30)
    if p.returncode != 0:
        return None
    status: str = json.loads(p.stdout)["status"]
    return status


def wait_status(rt: RuntimeLike, cid: str, want: str, timeout: float = 10.0) -> None:
    wait_for(lambda: status_of(rt, cid) == want, timeout, what=f"{cid} to be {want}")


def root_entries(rt: RuntimeLike) -> set[str]:
    """Names under the runtime's --root (empty when the root does not exist)."""
    try:
        return {e.name for e in rt.root.iterdir()}
    except FileNotFoundError:
        return set()


def proc_state(pid: int) -> str | None:
    """The one-letter state from /proc/PID/stat, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2]


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root_pid: int) -> set[int]:
    """Live descendants of root_pid (not including it)."""
    parent = {p: ppid(p) for p in all_pids()}
    found: set[int] = set()
    frontier = {root_pid}
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in found}
        found |= frontier
    return {p for p in found if alive(p)}


def cgroup_dirs(cid: str) -> list[Path]:
    """Every directory named exactly `cid` anywhere under /sys/fs/cgroup."""
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        for d in dirnames:
            if d == cid:
                found.append(Path(dirpath) / d)
    return found


def cgroup_pids(cid: str) -> set[int]:
    pids: set[int] = set()
    for d in cgroup_dirs(cid):
        for path in d.rglob("cgroup.procs"):
            try:
                pids |= {int(x) for x in path.read_text().split()}
            except OSError:
                pass
    return pids


def _inside(link: str, bundle: Path) -> bool:
    try:
        target = os.readlink(link)
    except OSError:
        return False
    b = str(bundle)
    return target == b or target.startswith(b + "/")


def container_processes(cid: str, bundle: Path) -> set[int]:
    """Live processes that belong to the container: in a cgroup named after
    the id, or with their cwd or root inside the bundle."""
    found: set[int] = set()
    for pid in all_pids():
        if pid == os.getpid() or not alive(pid):
            continue
        if _inside(f"/proc/{pid}/cwd", bundle) or _inside(f"/proc/{pid}/root", bundle):
            found.add(pid)
            continue
        try:
            cg = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        for line in cg.splitlines():
            if cid in line.split(":", 2)[-1].split("/"):
                found.add(pid)
                break
    return {p for p in found if alive(p)}


def mounts_mentioning(path: Path) -> list[str]:
    """Lines of our /proc/self/mountinfo that mention path."""
    return [ln for ln in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in ln]


def kill_pids(pids: Iterable[int]) -> None:
    for pid in pids:
        kill_pid(pid)


def remove_cgroups(cid: str) -> None:
    """rmdir the cgroup dirs named after cid (deepest first), killing what is
    still in them. For cleaning up after a runtime that left them behind."""
    kill_pids(cgroup_pids(cid))
    for d in sorted(cgroup_dirs(cid), key=lambda p: len(p.parts), reverse=True):
        remove_cgroup_tree(d)


def edit_config(bundle: Path, fn: Callable[[dict[str, Any]], None]) -> None:
    cfg_path = bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    fn(cfg)
    cfg_path.write_text(json.dumps(cfg, indent=2))


def read_events(proc: subprocess.Popen[str], until: Callable[[list[dict[str, Any]]], bool],
                timeout: float) -> list[dict[str, Any]]:
    """JSON lines from `events` (proc's stdout) until `until(got)` holds, the
    stream ends or `timeout` seconds pass."""
    assert proc.stdout is not None
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        line = proc.stdout.readline()
        if not line:
            break
        got.append(json.loads(line))
    return got
