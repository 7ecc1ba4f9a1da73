"""Crash consistency: pyruntime SIGKILLed at each step of create, start,
exec and delete (PYRUNTIME_FAULT=<point>, pyruntime/faults.py). Afterwards
`state` tells the truth, `delete --force` removes every trace (state dir,
cgroups, mounts, processes), and another container under the same --root
is untouched. `:raise` at a point is an internal error: one line naming
where, the traceback only with --debug, and create/delete still clean up.

pyruntime's own fault points: skipped under runc.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import alive, create, must, run_nocapture, wait_for
from tests.support.traces import (
    Bystander,
    assert_no_traces,
    proc_comm,
    read_state_file,
    start_bystander,
    state_json,
)

MakeBundle = Callable[..., Path]
KILLED = -9


@pytest.fixture(autouse=True)
def _pyruntime_only(rt: Any) -> None:
    if "pyruntime" not in Path(rt.path).name:
        pytest.skip("pyruntime's fault points")


@pytest.fixture
def bystander(rt: Any, make_bundle: MakeBundle, cid: str) -> Bystander:
    return start_bystander(rt, make_bundle(["sleep", "300"], name="bystander"), f"{cid}-by")


def faulty(rt: Any, point: str, *args: str, debug: bool = False) -> subprocess.CompletedProcess[str]:
    """Run a command with PYRUNTIME_FAULT=point; stdio to files (the container may outlive it)."""
    env = dict(os.environ, PYRUNTIME_FAULT=point)
    if debug:
        rt = _Debug(rt)
    return run_nocapture(rt, *args, env=env)


class _Debug:
    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.path, self.root = rt.path, rt.root

    def cmd(self, *args: str) -> list[str]:
        return [self.path, "--debug", "--root", str(self.root), *args]


def _truth(rt: Any, cid: str) -> str:
    """What really is, from the host: 'absent' (no state.json), 'stopped'
    (no init, or a create that will never finish), 'created' (the init waits
    on the exec fifo, not exec'd yet) or 'running' (the init has exec'd)."""
    data = read_state_file(rt, cid)
    if not data:
        return "absent"
    pid = int(data.get("pid") or 0)
    if not pid or not alive(pid):
        return "stopped"
    if not data.get("created"):
        return "stopped"  # the create was killed: it never will be
    if proc_comm(pid) == "pyrt:[2:INIT]" and (rt.root / cid / "exec.fifo").exists():
        return "created"
    return "running"


def assert_state_tells_truth(rt: Any, cid: str, allowed: set[str]) -> str:
    truth = _truth(rt, cid)
    st = state_json(rt, cid)
    status = "absent" if st is None else st["status"]
    assert status in allowed, f"status {status}, expected one of {allowed} (truth: {truth})"
    if status != truth:  # the truth may move on by itself (the init exits or execs): look again
        wait_for(lambda: (state_json(rt, cid) or {"status": "absent"})["status"] == _truth(rt, cid),
                 timeout=5, what=f"state to agree with the host ({truth})")
    if st is not None and st["status"] == "stopped":
        assert st["pid"] == 0
    return status


def delete_force_leaves_nothing(rt: Any, cid: str, bundle: Path, bystander: Bystander) -> None:
    must(rt("delete", "--force", cid))
    assert_no_traces(rt, cid, bundle)
    bystander.assert_untouched(rt)
    assert rt("state", cid).returncode != 0


# point -> statuses `state` may then report ('absent': "container does not exist")
CREATE_POINTS = {
    "create.reserved": {"absent"},            # the state dir exists, state.json not yet
    "create.state-saved": {"stopped"},
    "create.cgroup-made": {"stopped"},        # cgroup dirs made, not yet in state.json's "created"
    "create.fifo-made": {"stopped"},
    "create.forked": {"stopped"},             # P1, the intermediate just forked
    "create.namespaces": {"stopped"},         # in the intermediate, namespaces made
    "create.init-recorded": {"stopped"},      # the init's pid saved
    "create.init-mounted": {"stopped"},       # in the init, mounts done
    "create.prestart": {"stopped"},           # P1 about to run the prestart hooks
    "create.pivoted": {"stopped"},            # in the init, after pivot_root
    "create.init-ready": {"stopped"},         # the init waits on the fifo, create not finished
    "create.created": {"created"},            # finished, but for the pid file
}


@pytest.mark.parametrize("point", list(CREATE_POINTS))
def test_create_killed(rt: Any, cid: str, make_bundle: MakeBundle, bystander: Bystander,
                       tmp_path: Path, point: str) -> None:
    bundle = make_bundle(["sleep", "300"])
    p = faulty(rt, point, "create", "--bundle", str(bundle), "--pid-file", str(tmp_path / "pid"), cid)
    assert p.returncode == KILLED, f"{point} not reached: rc={p.returncode} {p.stderr}"
    status = assert_state_tells_truth(rt, cid, CREATE_POINTS[point])
    if status == "created":  # a finished create: the container is usable
        must(rt("start", cid))
        assert state_json(rt, cid)["status"] == "running"  # type: ignore[index]
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


START_POINTS = {
    "start.checked": {"created"},              # the fifo not opened yet: start can be retried
    "start.fifo-opened": {"created", "running", "stopped"},  # the init may or may not have its byte
    "start.released": {"created", "running"},  # the init is exec'ing; the fifo is still there
    "start.unlinked": {"running"},
}


@pytest.mark.parametrize("point", list(START_POINTS))
def test_start_killed(rt: Any, cid: str, make_bundle: MakeBundle, bystander: Bystander,
                      point: str) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(rt, bundle, cid))
    p = faulty(rt, point, "start", cid)
    assert p.returncode == KILLED, f"{point} not reached: rc={p.returncode} {p.stderr}"
    status = assert_state_tells_truth(rt, cid, START_POINTS[point])
    if point == "start.checked":
        must(rt("start", cid))
        assert state_json(rt, cid)["status"] == "running"  # type: ignore[index]
    if status == "running":
        r = rt("start", cid)
        assert r.returncode != 0 and "already running" in r.stderr, r.stderr
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


EXEC_POINTS = ["exec.prepared", "exec.forked", "exec.joined", "exec.in-container", "exec.started"]


@pytest.mark.parametrize("point", EXEC_POINTS)
def test_exec_killed(rt: Any, cid: str, make_bundle: MakeBundle, bystander: Bystander,
                     point: str) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    init = state_json(rt, cid)["pid"]  # type: ignore[index]
    p = faulty(rt, point, "exec", "--detach", cid, "sleep", "301")
    assert p.returncode == KILLED, f"{point} not reached: rc={p.returncode} {p.stderr}"
    assert_state_tells_truth(rt, cid, {"running"})
    assert state_json(rt, cid)["pid"] == init  # type: ignore[index]
    # the container still takes an exec
    must(rt("exec", cid, "true"))
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


DELETE_POINTS = {
    "delete.start": {"running"},
    "delete.killed": {"stopped"},
    "delete.cgroup-removed": {"stopped"},
    "delete.state-partial": {"stopped"},   # all but state.json removed
    "delete.state-removed": {"absent"},
}


@pytest.mark.parametrize("point", list(DELETE_POINTS))
def test_delete_killed(rt: Any, cid: str, make_bundle: MakeBundle, bystander: Bystander,
                       point: str) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    p = faulty(rt, point, "delete", "--force", cid)
    assert p.returncode == KILLED, f"{point} not reached: rc={p.returncode} {p.stderr}"
    if point != "delete.start":  # the init was SIGKILLed: it may take a moment to be gone
        wait_for(lambda: _truth(rt, cid) in DELETE_POINTS[point], timeout=5, what="the init to die")
    assert_state_tells_truth(rt, cid, DELETE_POINTS[point])
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


# -- internal errors ------------------------------------------------------------------------

def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line, got: {stderr!r}"
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("point,where", [
    ("create.cgroup-made", "pyruntime/lifecycle/create.py"),
    ("create.init-mounted", "in container init at pyruntime/process/init.py"),
    ("create.namespaces", "in container setup at pyruntime/process/intermediate.py"),
])
def test_internal_error_in_create_is_one_line_and_cleans_up(rt: Any, cid: str, make_bundle: MakeBundle,
                                                            bystander: Bystander, point: str,
                                                            where: str) -> None:
    bundle = make_bundle(["sleep", "300"])
    p = faulty(rt, f"{point}:raise", "create", "--bundle", str(bundle), cid)
    assert p.returncode == 1
    line = _one_error_line(p.stderr)
    assert "internal error" in line and where in line and f"fault injected at {point}" in line, line
    assert_no_traces(rt, cid, bundle)
    bystander.assert_untouched(rt)


def test_internal_error_detail_with_debug(rt: Any, cid: str, make_bundle: MakeBundle,
                                          bystander: Bystander) -> None:
    bundle = make_bundle(["sleep", "300"])
    p = faulty(rt, "create.fifo-made:raise", "create", "--bundle", str(bundle), cid, debug=True)
    assert p.returncode == 1
    assert "Traceback" in p.stderr and "FaultInjected" in p.stderr, p.stderr
    assert "internal error at pyruntime/lifecycle/create.py" in p.stderr
    assert_no_traces(rt, cid, bundle)


def test_internal_error_json_log_is_one_line(rt: Any, cid: str, make_bundle: MakeBundle,
                                             tmp_path: Path) -> None:
    import json

    bundle = make_bundle(["sleep", "300"])
    log = tmp_path / "log.json"
    env = dict(os.environ, PYRUNTIME_FAULT="start.checked:raise")
    must(create(rt, bundle, cid))
    p = subprocess.run([rt.path, "--root", str(rt.root), "--log", str(log), "--log-format", "json",
                        "start", cid], capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 1
    entries = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert [e["level"] for e in entries] == ["error"]
    assert entries[0]["msg"].startswith("internal error at pyruntime/lifecycle/start.py:")
    assert state_json(rt, cid)["status"] == "created"  # type: ignore[index]
    must(rt("start", cid))


def test_internal_error_in_delete_then_delete_again(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    bystander: Bystander) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    p = faulty(rt, "delete.killed:raise", "delete", "--force", cid)
    assert p.returncode == 1
    assert "delete.killed" in _one_error_line(p.stderr)
    wait_for(lambda: (state_json(rt, cid) or {}).get("status") == "stopped", what="stopped")
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


def test_internal_error_in_exec_tenant(rt: Any, cid: str, make_bundle: MakeBundle,
                                       bystander: Bystander) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    p = faulty(rt, "exec.in-container:raise", "exec", cid, "true")
    assert p.returncode != 0
    line = _one_error_line(p.stderr)
    assert "internal error in exec at pyruntime/process/tenant.py" in line, line
    assert state_json(rt, cid)["status"] == "running"  # type: ignore[index]
    delete_force_leaves_nothing(rt, cid, bundle, bystander)


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "poststart"])
def test_killed_while_a_hook_runs(rt: Any, cid: str, make_bundle: MakeBundle, bystander: Bystander,
                                  tmp_path: Path, kind: str) -> None:
    """The hook is recorded in state.json while it runs: `delete --force`
    after a create or start killed meanwhile kills the hook too."""
    pid_file = tmp_path / "hook.pid"

    def hooks(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {kind: [{"path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 300"]}]}

    bundle = make_bundle(["sleep", "300"], mutate=hooks)
    if kind == "poststart":
        must(create(rt, bundle, cid))
        p = faulty(rt, "hooks.running", "start", cid)
        expected = {"running"}
    else:
        p = faulty(rt, "hooks.running", "create", "--bundle", str(bundle), cid)
        expected = {"stopped"}
    assert p.returncode == KILLED, f"not reached: rc={p.returncode} {p.stderr}"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", what="the hook to start")
    hook = int(pid_file.read_text())
    try:
        assert alive(hook)
        assert_state_tells_truth(rt, cid, expected)
        delete_force_leaves_nothing(rt, cid, bundle, bystander)
        wait_for(lambda: not alive(hook), timeout=5, what="the hook to be killed by delete")
    finally:
        if alive(hook):
            os.kill(hook, 9)
