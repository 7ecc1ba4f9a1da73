"""Status is derived from the host, never trusted from the record: a
container whose init died between create and start, whose init is a zombie,
or whose init's PID now belongs to another process (PID reuse: same pid,
another start time) is stopped, never created or running, and nothing is
signalled in its name. Run against pyruntime and runc.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import alive, create, must, proc_state, wait_for
from tests.support.traces import assert_no_traces, assert_stopped_and_inert, remove_leftovers

MakeBundle = Callable[..., Path]


@pytest.fixture(params=["pyruntime", "runc"])
def runtime(request: pytest.FixtureRequest, cid: str, tmp_path: Path) -> Iterator[Any]:
    yield request.getfixturevalue("rt" if request.param == "pyruntime" else "runc")
    remove_leftovers(cid, tmp_path)


def _is_runc(rt: Any) -> bool:
    return Path(rt.path).name == "runc"


def test_init_killed_between_create_and_start(runtime: Any, cid: str, make_bundle: MakeBundle,
                                              tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(runtime, bundle, cid, "--pid-file", str(tmp_path / "pid")))
    init = int((tmp_path / "pid").read_text())
    os.kill(init, signal.SIGKILL)
    wait_for(lambda: not alive(init), what="the init to die")
    assert_stopped_and_inert(runtime, cid)
    must(runtime("delete", cid))  # stopped: no --force needed
    assert_no_traces(runtime, cid, bundle)


_REAPER = """
import ctypes, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come to us, unreaped
subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
print("created", flush=True)
time.sleep(600)
"""


def test_zombie_init_is_stopped(runtime: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    """The caller (a subreaper, as containerd's shim) has not reaped the dead
    init yet: a zombie has a pid and a start time but is not running."""
    bundle = make_bundle(["sleep", "300"])
    pid_file = tmp_path / "pid"
    reaper = subprocess.Popen([sys.executable, "-c", _REAPER, *runtime.cmd(
        "create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert reaper.stdout is not None and reaper.stdout.readline().strip() == "created"
        init = int(pid_file.read_text())
        os.kill(init, signal.SIGKILL)
        wait_for(lambda: proc_state(init) == "Z", what="the init to be a zombie")
        assert_stopped_and_inert(runtime, cid)
        assert proc_state(init) == "Z"
        must(runtime("delete", cid))
    finally:
        reaper.kill()
        reaper.wait()
    assert_no_traces(runtime, cid, bundle)


def _point_state_at(rt: Any, cid: str, pid: int) -> None:
    """Make the record name another live process, keeping the old start time."""
    path = rt.root / cid / "state.json"
    data = json.loads(path.read_text())
    data["init_process_pid" if _is_runc(rt) else "pid"] = pid
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("started", [True, False], ids=["running", "created"])
def test_reused_pid_is_stopped_and_never_signalled(runtime: Any, cid: str, make_bundle: MakeBundle,
                                                   tmp_path: Path, started: bool) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(runtime, bundle, cid, "--pid-file", str(tmp_path / "pid")))
    if started:
        must(runtime("start", cid))
    init = int((tmp_path / "pid").read_text())
    os.kill(init, signal.SIGKILL)
    wait_for(lambda: not alive(init), what="the init to die")
    # Another process now holds "the init's" pid (in the record): same pid, later start time.
    other = subprocess.Popen(["sleep", "300"])
    try:
        _point_state_at(runtime, cid, other.pid)
        assert_stopped_and_inert(runtime, cid)
        must(runtime("delete", "--force", cid))
        assert other.poll() is None and alive(other.pid), "a process that is not the init was killed"
    finally:
        other.kill()
        other.wait()
    assert_no_traces(runtime, cid, bundle)


def test_list_shows_dead_init_as_stopped(runtime: Any, cid: str, make_bundle: MakeBundle,
                                         tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "300"])
    must(create(runtime, bundle, cid, "--pid-file", str(tmp_path / "pid")))
    must(runtime("start", cid))
    init = int((tmp_path / "pid").read_text())
    os.kill(init, signal.SIGKILL)
    wait_for(lambda: not alive(init), what="the init to die")
    rows = json.loads(must(runtime("list", "--format", "json")).stdout)
    assert [(r["id"], r["status"], r["pid"]) for r in rows] == [(cid, "stopped", 0)]
    must(runtime("delete", cid))
