"""Soak, CI size: 100 sequential run/delete cycles leave nothing growing
(state dirs, cgroup dirs, mounts, processes, zombies, the caller's fds, memory
charged to the soak's cgroup). The full 1,000: scripts/soak.sh. What is
measured and why: tests/support/soak.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.soak import run_soak


def test_hundred_run_delete_cycles_leave_nothing_growing(rt: Any, tmp_path: Path) -> None:
    samples, problems = run_soak(rt.path, cycles=100, every=10, workdir=tmp_path)
    assert len(samples) == 11
    assert not problems, problems
    last = samples[-1]
    assert (last.state_dirs, last.cgroup_dirs, last.mounts_ours, last.processes, last.zombies) == (0, 0, 0, 0, 0)
