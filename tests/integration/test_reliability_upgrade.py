"""Upgrades: containers created by an earlier pyruntime (its state format)
answer `state`, `start`, `exec`, `kill`, `delete` and `list` from this one,
and leave nothing behind.

The earlier releases are commits of this repository, installed into venvs of
their own (tests/support/old_release.py, ~3 s each, once per session):
- 158fea4, the first with a working create: state.json format 1 as first
  written (cgroup record without "kind", no "creator");
- 4ac9b4e, the last change to the state directory before the reliability
  work (NOTIFY_SOCKET's notify/), which added "creator" and "cgroup_pending".
Additive fields keep format 1 (an older reader ignores them); a change an
older reader would misread must raise FORMAT_VERSION (state/store.py).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import alive, create, must, run_nocapture, wait_for
from tests.support import old_release
from tests.support.traces import assert_no_traces, state_json

MakeBundle = Callable[..., Path]
RELEASES = {"158fea4": "first create", "4ac9b4e": "before the reliability state changes"}


@pytest.fixture(scope="session", params=list(RELEASES))
def old_pyruntime(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    sha = request.param
    if not old_release.has_commit(sha):
        pytest.skip(f"commit {sha} is not in this clone (shallow?)")
    return str(old_release.install(sha, tmp_path_factory.mktemp(f"pyruntime-{sha}")))


@pytest.fixture(autouse=True)
def _pyruntime_only(rt: Any) -> None:
    if "pyruntime" not in Path(rt.path).name:
        pytest.skip("pyruntime's own earlier releases")


def test_containers_of_an_earlier_release(rt: Any, old_pyruntime: str, cid: str, make_bundle: MakeBundle,
                                          tmp_path: Path) -> None:
    old = Runtime(old_pyruntime, rt.root)  # the same --root: the upgrade happened in place
    assert old("--version").stdout.startswith("pyruntime version")
    bundle = make_bundle(["sleep", "300"])
    made, running, dead = f"{cid}-created", f"{cid}-running", f"{cid}-dead"
    pids: dict[str, int] = {}
    for c in (made, running, dead):
        must(create(old, bundle, c, "--pid-file", str(tmp_path / c)))
        pids[c] = int((tmp_path / c).read_text())
    must(old("start", running))
    os.kill(pids[dead], signal.SIGKILL)
    wait_for(lambda: not alive(pids[dead]), what="the old container's init to die")
    assert "creator" not in json.loads((rt.root / made / "state.json").read_text())

    # -- now the current pyruntime ---------------------------------------------------------
    for c, status in ((made, "created"), (running, "running"), (dead, "stopped")):
        st = state_json(rt, c)
        assert st is not None and st["status"] == status, (c, st)
        assert st["pid"] == (0 if status == "stopped" else pids[c])
    listed = {r["id"]: r["status"] for r in json.loads(must(rt("list", "--format", "json")).stdout)}
    assert listed == {made: "created", running: "running", dead: "stopped"}

    must(rt("start", made))
    assert state_json(rt, made)["status"] == "running"  # type: ignore[index]
    out = tmp_path / "exec.out"
    must(run_nocapture(rt, "exec", running, "echo", "from-the-new-one", stdout=out))
    assert out.read_text() == "from-the-new-one\n"
    must(rt("kill", made, "KILL"))
    wait_for(lambda: (state_json(rt, made) or {}).get("status") == "stopped", what="stopped")
    must(rt("delete", made))
    must(rt("delete", dead))
    must(rt("delete", "--force", running))
    for c in (made, running, dead):
        assert_no_traces(rt, c, bundle)
        assert rt("state", c).returncode != 0


def test_the_earlier_release_can_still_delete_what_it_made(rt: Any, old_pyruntime: str, cid: str,
                                                          make_bundle: MakeBundle) -> None:
    """A sanity check of the old install itself (so a failure above is the upgrade's)."""
    old = Runtime(old_pyruntime, rt.root)
    bundle = make_bundle(["sleep", "300"])
    must(create(old, bundle, cid))
    must(old("delete", "--force", cid))
    assert_no_traces(rt, cid, bundle)
