"""Hooks that hang or fail, for every kind: a hook past its `timeout` is
killed with its children, those in its process group and those that left it
(setsid); a hook that fails or times out leaves no half-made container.
create's hooks fail create and leave nothing; startContainer and poststart
(in a 1.3 bundle) fail start, which stops and destroys the container and
leaves nothing (lifecycle step 12 on); poststop, and poststart in a 1.0-1.2 bundle, only warn. (Order, stdin, env and the rest: test_hooks.py.)

pyruntime only: runc 1.1.5 kills only the hook's own process on timeout and
then waits for its output pipe (see test_hooks.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import alive, create, kill_pids, must, wait_for
from tests.support.traces import assert_no_traces, remove_leftovers, state_json

MakeBundle = Callable[..., Path]
KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
IN_CREATE = {"prestart", "createRuntime", "createContainer"}


@pytest.fixture(autouse=True)
def _pyruntime_only(rt: Any, cid: str, tmp_path: Path) -> Any:
    if "pyruntime" not in Path(rt.path).name:
        pytest.skip("runc 1.1.5 kills only the hook's own process on timeout (test_hooks.py)")
    yield
    remove_leftovers(cid, tmp_path)


def _hook_dir(kind: str, logdir: Path) -> str:
    # startContainer runs after pivot_root: it sees the log dir through a bind mount
    return "/hooklog" if kind == "startContainer" else str(logdir)


def _bundle(make_bundle: MakeBundle, logdir: Path, kind: str, script: str, oci_version: str = "1.3.0",
            **hook: Any) -> Path:
    """oci_version: 1.3 by default, where a failing poststart hook stops the
    container as the other pre-program kinds do (before 1.3: a warning)."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["ociVersion"] = oci_version
        cfg["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(logdir),
                              "options": ["rbind"]})
        cfg["hooks"] = {kind: [{"path": "/bin/sh", "args": ["sh", "-c", script], **hook}]}
    return make_bundle(["sleep", "300"], mutate=mutate)


def _hook_pids(logdir: Path) -> list[int]:
    try:
        return [int(x) for x in (logdir / "pids").read_text().split()]
    except FileNotFoundError:
        return []


# The hook: a child in its process group, a grandchild in a session of its
# own, then it waits forever. Each records its pid: host pids, except for
# createContainer and startContainer, which run in the container's pid
# namespace (their processes are then found through the container's cgroup).
IN_CONTAINER = {"createContainer", "startContainer"}
HANG = ('d={d}; echo $$ >> $d/pids; sleep 1000 & echo $! >> $d/pids; '
        'setsid sh -c "echo \\$\\$ >> $d/pids; exec sleep 1001" & wait')


def _drive(rt: Any, cid: str, bundle: Path, kind: str) -> Any:
    """create, start, delete --force; returns the failed (or, for poststop, warning) command."""
    p = create(rt, bundle, cid)
    if kind in IN_CREATE:
        return p
    must(p)
    p = rt("start", cid, timeout=60)
    if kind in ("startContainer", "poststart"):
        return p
    must(p)
    return rt("delete", "--force", cid, timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_hanging_hook_is_killed_with_its_children(rt: Any, cid: str, make_bundle: MakeBundle,
                                                  tmp_path: Path, kind: str) -> None:
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    bundle = _bundle(make_bundle, logdir, kind, HANG.format(d=_hook_dir(kind, logdir)), timeout=1)
    t0 = time.monotonic()
    p = _drive(rt, cid, bundle, kind)
    took = time.monotonic() - t0
    pids = _hook_pids(logdir)
    try:
        assert len(pids) == 3, f"the hook did not start its children: {pids} {p.stderr}"
        assert f"hooks.{kind}[0]" in p.stderr and "timeout of 1s" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        assert took < 60
        if kind == "poststop":
            assert p.returncode == 0  # a warning: the container is deleted all the same
        else:
            assert p.returncode != 0
        if kind not in IN_CONTAINER:  # host pids: the hook, its child and the setsid grandchild
            wait_for(lambda: not any(alive(x) for x in pids), timeout=5,
                     what="the hook and all its children to die")
        if kind in ("startContainer", "poststart"):  # destroyed by the failed start
            assert state_json(rt, cid) is None
        assert_no_traces(rt, cid, bundle)
    finally:
        if kind not in IN_CONTAINER:
            kill_pids(x for x in pids if alive(x))


@pytest.mark.parametrize("kind", KINDS)
def test_failing_hook_leaves_no_half_made_container(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    tmp_path: Path, kind: str) -> None:
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    bundle = _bundle(make_bundle, logdir, kind, f"echo {kind}-says-no >&2; exit 9")
    p = _drive(rt, cid, bundle, kind)
    assert f"hooks.{kind}[0]" in p.stderr and f"{kind}-says-no" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    if kind == "poststop":
        assert p.returncode == 0
    else:
        assert p.returncode != 0 and "exit status 9" in p.stderr
    if kind in ("startContainer", "poststart"):  # destroyed by the failed start
        assert state_json(rt, cid) is None
    assert_no_traces(rt, cid, bundle)
    assert rt("state", cid).returncode != 0


def test_hanging_poststart_hook_in_a_1_2_bundle_is_killed_and_only_warned_about(
        rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    """Before 1.3 a failing poststart hook is a warning: the timed-out hook
    and its children are killed all the same, `start` succeeds and the
    container goes on running."""
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    bundle = _bundle(make_bundle, logdir, "poststart", HANG.format(d=logdir), oci_version="1.2.1", timeout=1)
    must(create(rt, bundle, cid))
    pid = state_json(rt, cid)["pid"]  # type: ignore[index]
    p = must(rt("start", cid, timeout=60))
    pids = _hook_pids(logdir)
    try:
        assert len(pids) == 3, f"the hook did not start its children: {pids} {p.stderr}"
        assert "hooks.poststart[0]" in p.stderr and "timeout of 1s" in p.stderr, p.stderr
        wait_for(lambda: not any(alive(x) for x in pids), timeout=5, what="the hook and all its children to die")
        st = state_json(rt, cid)
        assert st is not None and st["status"] == "running" and alive(pid), st
        must(rt("delete", "--force", cid))
        assert_no_traces(rt, cid, bundle)
    finally:
        kill_pids(x for x in pids if alive(x))
