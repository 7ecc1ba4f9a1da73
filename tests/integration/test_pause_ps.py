"""pause / resume (v1 freezer, v2 cgroup.freeze) and ps (json for containerd,
table from the host's ps), as runc 1.1 does them (runc pause.go, resume.go,
ps.go). On a pure cgroup v2 host (scripts/guest/test.sh) the cgroup files
are read through tests/support/cgfiles.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.cgfiles import cg_dir, cg_file, pure_v2
from tests.support.isolation import (
    create_detached,
    describe,
    pid_alive,
    poll_until,
    start_detached,
    stdio_log,
    v1_hierarchies,
)

MakeBundle = Callable[..., Path]


@pytest.fixture(autouse=True)
def _needs_freezer() -> None:
    if "freezer" not in v1_hierarchies() and not pure_v2():
        pytest.skip("pause needs the cgroup v1 freezer or a pure cgroup v2 host")


def bundle_in(make_bundle: MakeBundle, cgpath: str, args: list[str]) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = cgpath
    return make_bundle(args, mutate=mutate)


def cg_pids(cgpath: str) -> set[int]:
    text = cg_file("freezer", cgpath, "cgroup.procs").read_text()
    return {int(x) for x in text.split()}


def freezer_state(cgpath: str) -> str:
    state = cg_file("freezer", cgpath, "freezer.state").read_text().strip()
    return {"1": "FROZEN", "0": "THAWED"}.get(state, state)  # v2: cgroup.freeze


def status(rt: Any, cid: str) -> str:
    s: str = rt.state(cid)["status"]
    return s


def fails_with(p: Any, text: str) -> None:
    assert p.returncode == 1, describe(p)
    assert text in p.stderr, describe(p)


# ---------------------------------------------------------------- pause / resume

def test_pause_resume(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = cgpath
        c["root"]["readonly"] = False

    b = make_bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tick; sleep 0.05; done"],
                    mutate=mutate)
    init = start_detached(rt, b, cid)
    tick = b / "rootfs" / "tick"
    assert poll_until(lambda: tick.exists() and tick.read_text() != ""), stdio_log(b, cid)
    p = rt("pause", cid)
    assert p.returncode == 0 and p.stdout == "", describe(p)
    assert status(rt, cid) == "paused"
    assert freezer_state(cgpath) == "FROZEN"
    assert rt.state(cid)["pid"] == init
    before = tick.read_text()
    poll_until(lambda: False, timeout=0.3)
    assert tick.read_text() == before, "a paused container went on running"
    p = rt("resume", cid)
    assert p.returncode == 0 and p.stdout == "", describe(p)
    assert status(rt, cid) == "running"
    assert freezer_state(cgpath) == "THAWED"
    assert poll_until(lambda: tick.read_text() != before), "the resumed container does not run"


def test_pause_twice_and_resume_running_fail(rt: Any, cid: str, cgpath: str,
                                            make_bundle: MakeBundle) -> None:
    start_detached(rt, bundle_in(make_bundle, cgpath, ["sleep", "300"]), cid)
    fails_with(rt("resume", cid), "container not paused")
    assert rt("pause", cid).returncode == 0
    fails_with(rt("pause", cid), "container not running")
    assert status(rt, cid) == "paused"
    assert rt("resume", cid).returncode == 0
    fails_with(rt("resume", cid), "container not paused")


def test_pause_stopped_fails(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    init = start_detached(rt, bundle_in(make_bundle, cgpath, ["true"]), cid)
    assert poll_until(lambda: not pid_alive(init))
    assert poll_until(lambda: status(rt, cid) == "stopped")
    fails_with(rt("pause", cid), "container not running")
    fails_with(rt("resume", cid), "container not paused")


def test_pause_missing_container(rt: Any, cid: str) -> None:
    fails_with(rt("pause", cid), "container does not exist")
    fails_with(rt("resume", cid), "container does not exist")


def test_pause_created_container(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    # runc pauses a created container too; its status is then "paused"
    create_detached(rt, bundle_in(make_bundle, cgpath, ["true"]), cid)
    assert rt("pause", cid).returncode == 0
    assert status(rt, cid) == "paused"
    assert rt("resume", cid).returncode == 0
    assert status(rt, cid) == "created"


def test_kill_and_delete_paused(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    init = start_detached(rt, bundle_in(make_bundle, cgpath, ["sleep", "300"]), cid)
    assert rt("pause", cid).returncode == 0
    p = rt("delete", cid)
    assert p.returncode == 1 and "paused" in p.stderr, describe(p)
    p = rt("delete", "--force", cid)
    assert p.returncode == 0, describe(p)
    assert poll_until(lambda: not pid_alive(init))
    assert not cg_dir("freezer", cgpath).exists()


# ---------------------------------------------------------------- ps

def test_ps_json_lists_every_pid(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle_in(make_bundle, cgpath, ["sh", "-c", "sleep 300 & sleep 300 & wait"])
    init = start_detached(rt, b, cid)
    assert poll_until(lambda: len(cg_pids(cgpath)) >= 3), stdio_log(b, cid)
    p = rt("ps", "--format", "json", cid)
    assert p.returncode == 0, describe(p)
    pids = json.loads(p.stdout)
    assert p.stdout.endswith("\n") and "\n" not in p.stdout[:-1] and " " not in p.stdout
    assert isinstance(pids, list) and init in pids
    assert set(pids) == cg_pids(cgpath)
    # -f is --format; nothing on stderr (go-runc parses stdout and stderr together)
    p = rt("ps", "-f=json", cid)
    assert p.stderr == "" and set(json.loads(p.stdout)) == set(pids), describe(p)


def test_ps_table(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    b = bundle_in(make_bundle, cgpath, ["sh", "-c", "sleep 300 & wait"])
    init = start_detached(rt, b, cid)
    assert poll_until(lambda: len(cg_pids(cgpath)) >= 2), stdio_log(b, cid)
    want = cg_pids(cgpath)
    p = rt("ps", cid)
    assert p.returncode == 0, describe(p)
    lines = p.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["UID", "PID", "PPID"], lines[0]  # `ps -ef`
    shown = {int(ln.split()[1]) for ln in lines[1:]}
    assert shown == want, p.stdout
    assert any(ln.split()[1] == str(init) for ln in lines[1:])


def test_ps_args_after_id_go_to_ps(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    init = start_detached(rt, bundle_in(make_bundle, cgpath, ["sleep", "300"]), cid)
    p = rt("ps", cid, "-o", "pid,comm")
    assert p.returncode == 0, describe(p)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["PID", "COMMAND"], p.stdout
    assert [ln.split() for ln in lines[1:]] == [[str(init), "sleep"]], p.stdout
    # no PID column: an error
    p = rt("ps", cid, "-o", "comm")
    assert p.returncode == 1 and "couldn't find PID field in ps output" in p.stderr, describe(p)


def test_ps_bad_format_and_missing(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    fails_with(rt("ps", "--format", "json", cid), "container does not exist")
    start_detached(rt, bundle_in(make_bundle, cgpath, ["sleep", "300"]), cid)
    fails_with(rt("ps", "--format", "yaml", cid), "invalid format option")


def test_ps_stopped_container(rt: Any, cid: str, cgpath: str, make_bundle: MakeBundle) -> None:
    init = start_detached(rt, bundle_in(make_bundle, cgpath, ["true"]), cid)
    assert poll_until(lambda: not pid_alive(init))
    assert poll_until(lambda: status(rt, cid) == "stopped")
    p = rt("ps", "--format", "json", cid)
    assert p.returncode == 0, describe(p)
    assert json.loads(p.stdout) in (None, []), p.stdout  # runc 1.1 prints null
