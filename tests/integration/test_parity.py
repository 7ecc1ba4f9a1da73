"""The same bundle under the runtime and under runc: same stdout, same exit
code, same state transitions."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import create, must, status_of, wait_for

MakeBundle = Callable[..., Path]

COMMANDS: dict[str, list[str]] = {
    "echo": ["echo", "hello"],
    "exit-7": ["sh", "-c", "exit 7"],
    "hostname": ["hostname"],
    "id": ["id"],
    "dev": ["sh", "-c", "ls /dev | sort"],
    "caps": ["sh", "-c", "cat /proc/self/status | grep ^Cap"],
}

# what runc 1.1.5 gives for some of them, as a check on the test itself
RUNC_SAYS: dict[str, tuple[int, str]] = {
    "echo": (0, "hello\n"),
    "exit-7": (7, ""),
    "hostname": (0, "runc\n"),
}


@pytest.fixture
def both(rt: Any, runc: Any) -> tuple[Any, Any]:
    if os.path.realpath(rt.path) == os.path.realpath(runc.path):
        pytest.skip("the runtime under test is runc itself")
    return rt, runc


@pytest.mark.parametrize("name", list(COMMANDS))
def test_run_output_and_exit_code(both: tuple[Any, Any], cid: str, make_bundle: MakeBundle,
                                  name: str) -> None:
    bundle = make_bundle(COMMANDS[name])
    results = []
    for r in both:
        p = r("run", "--bundle", str(bundle), f"{cid}-{r.name}")
        results.append((p.returncode, p.stdout))
    (rc_ours, out_ours), (rc_runc, out_runc) = results
    if name in RUNC_SAYS:
        assert (rc_runc, out_runc) == RUNC_SAYS[name]
    assert rc_ours == rc_runc
    assert out_ours == out_runc


def _transitions(r: Any, bundle: Path, cid: str, out: Path) -> tuple[list[str], str]:
    """create, start, then watch until stopped: the distinct statuses seen in
    order, and what the container wrote to stdout."""
    seen: list[str] = []

    def note() -> str | None:
        s = status_of(r, cid)
        if s is not None and (not seen or seen[-1] != s):
            seen.append(s)
        return s

    must(create(r, bundle, cid, stdout=out))
    note()
    must(r("start", cid))
    note()
    wait_for(lambda: note() == "stopped", timeout=15, what=f"{cid} to stop")
    must(r("delete", cid))
    return seen, out.read_text()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_state_transitions(both: tuple[Any, Any], cid: str, make_bundle: MakeBundle, tmp_path: Path,
                           name: str) -> None:
    # sleep first, so that "running" can be seen before the command ends
    bundle = make_bundle(["sh", "-c", 'sleep 0.3; exec "$@"', "sh", *COMMANDS[name]])
    got = [_transitions(r, bundle, f"{cid}-{r.name}", tmp_path / f"{r.name}.out") for r in both]
    (seen_ours, out_ours), (seen_runc, out_runc) = got
    assert seen_runc == ["created", "running", "stopped"]
    assert seen_ours == seen_runc
    assert out_ours == out_runc


def _kill_transitions(r: Any, bundle: Path, cid: str) -> list[str | None]:
    """Status after create, start, kill and delete (None: state failed)."""
    statuses: list[str | None] = []
    must(create(r, bundle, cid))
    statuses.append(status_of(r, cid))
    must(r("start", cid))
    statuses.append(status_of(r, cid))
    must(r("kill", cid, "KILL"))
    wait_for(lambda: status_of(r, cid) == "stopped", what=f"{cid} to stop")
    statuses.append(status_of(r, cid))
    must(r("delete", cid))
    statuses.append(status_of(r, cid))
    return statuses


def test_kill_transitions(both: tuple[Any, Any], cid: str, sleep_bundle: Path) -> None:
    ours, theirs = (_kill_transitions(r, sleep_bundle, f"{cid}-{r.name}") for r in both)
    assert theirs == ["created", "running", "stopped", None]
    assert ours == theirs
