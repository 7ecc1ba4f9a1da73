"""What a container leaves on the host, for the reliability tests: its state
dir entry, cgroup directories, mounts, processes. Everything is looked up by
the container's own id, --root and bundle, so tests running next to other
engineers' containers see only their own.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.integration.probes import (
    alive,
    cgroup_dirs,
    cmdline,
    container_processes,
    mounts_mentioning,
    root_entries,
    wait_for,
)


class RuntimeLike(Protocol):
    path: str
    root: Path

    def cmd(self, *args: str) -> list[str]: ...

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]: ...


@dataclass
class Traces:
    state_dir: bool
    cgroups: list[Path]
    mounts: list[str]
    processes: set[int] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.state_dir or self.cgroups or self.mounts or self.processes)


def traces(rt: RuntimeLike, cid: str, bundle: Path) -> Traces:
    return Traces(cid in root_entries(rt), cgroup_dirs(cid),
                  mounts_mentioning(bundle) + mounts_mentioning(rt.root / cid),
                  container_processes(cid, bundle))


def assert_stopped_and_inert(rt: RuntimeLike, cid: str) -> None:
    """The container is stopped and nothing can start, signal or enter it."""
    st = state_json(rt, cid)
    assert st is not None and st["status"] == "stopped" and st["pid"] == 0, st
    p = rt("start", cid)
    assert p.returncode != 0 and "cannot start a container that has stopped" in p.stderr, p.stderr
    p = rt("kill", cid, "KILL")
    assert p.returncode != 0 and "container not running" in p.stderr, p.stderr
    p = rt("exec", cid, "true")
    assert p.returncode != 0 and "Traceback" not in p.stderr


def assert_no_traces(rt: RuntimeLike, cid: str, bundle: Path) -> None:
    """Nothing of the container is left (its processes may take a moment to be reaped)."""
    try:
        wait_for(lambda: traces(rt, cid, bundle).empty(), timeout=5, what=f"{cid} to leave nothing")
    except AssertionError:
        t = traces(rt, cid, bundle)
        procs = {p: cmdline(p) for p in t.processes}
        raise AssertionError(f"{cid} left: state dir={t.state_dir} cgroups={t.cgroups} "
                             f"mounts={t.mounts} processes={procs}") from None


def state_json(rt: RuntimeLike, cid: str) -> dict[str, Any] | None:
    """`state` output, or None when the runtime says the container does not exist.
    Any other failure fails the test."""
    p = rt("state", cid)
    if p.returncode != 0:
        assert "container does not exist" in p.stderr, f"state {cid}: rc={p.returncode} {p.stderr!r}"
        assert "Traceback" not in p.stderr
        return None
    state: dict[str, Any] = json.loads(p.stdout)
    return state


def proc_comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


@dataclass
class Bystander:
    """Another container under the same --root: it must come through untouched."""

    cid: str
    pid: int
    cgroups: list[Path]

    def assert_untouched(self, rt: RuntimeLike) -> None:
        st = state_json(rt, self.cid)
        assert st is not None and st["status"] == "running" and st["pid"] == self.pid, st
        assert alive(self.pid)
        assert cgroup_dirs(self.cid) == self.cgroups
        assert all(d.is_dir() for d in self.cgroups)


def start_bystander(rt: RuntimeLike, bundle: Path, cid: str) -> Bystander:
    from tests.integration.probes import create, must

    must(create(rt, bundle, cid))
    must(rt("start", cid))
    st = state_json(rt, cid)
    assert st is not None and st["status"] == "running"
    return Bystander(cid, int(st["pid"]), cgroup_dirs(cid))


def read_state_file(rt: RuntimeLike, cid: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((rt.root / cid / "state.json").read_text())
    except FileNotFoundError:
        return {}
    return data


def kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def remove_leftovers(prefix: str, bundle_parent: Path) -> None:
    """After a test: kill the processes in cgroups whose name starts with
    prefix (the test's own ids) or running in a bundle under bundle_parent,
    then rmdir those cgroups. For runtimes that leak (runc 1.1.5 under races)."""
    from tests.integration.probes import CGROUP_ROOT, all_pids, cgroup_pids, kill_pids, remove_cgroups

    names = {d for _, dirs, _ in os.walk(CGROUP_ROOT) for d in dirs if d.startswith(prefix)}
    pids: set[int] = set()
    for name in names:
        pids |= cgroup_pids(name)
    for pid in all_pids():
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(str(bundle_parent) + "/"):
                pids.add(pid)
        except OSError:
            pass
    pids.discard(os.getpid())
    kill_pids(pids)
    for name in names:
        remove_cgroups(name)
