"""The log contract the clients rely on (containerd's go-runc, conmon, dockerd):

- with `--log FILE --log-format json`, each failing command adds exactly one
  line to FILE: {"level": "error", "msg": ..., "time": RFC 3339}, and prints
  the message on stderr, as runc does;
- a successful `state`, `ps`, `list` prints nothing on stderr (go-runc parses
  stdout, conmon reads both);
- `create` writes nothing on the container's stdio: what the container's
  stdout and stderr receive is only what its process writes after `start`.

RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import RFC3339, run_nocapture
from tests.support.isolation import poll_until, start_detached

MakeBundle = Callable[..., Path]


def _failures(make_bundle: MakeBundle, tmp_path: Path, running: str) -> dict[str, list[str]]:
    bad = make_bundle(["true"], mutate=lambda c: c["process"].update(cwd="relative/cwd"), name="bad")
    return {
        "create, no such bundle": ["create", "--bundle", str(tmp_path / "nonexistent"), "lc-none"],
        "create, invalid config": ["create", "--bundle", str(bad), "lc-bad"],
        "start, unknown id": ["start", "lc-unknown"],
        "state, unknown id": ["state", "lc-unknown"],
        "kill, unknown id": ["kill", "lc-unknown", "KILL"],
        "kill, bad signal": ["kill", running, "SIGNOPE"],
        "exec, unknown id": ["exec", "lc-unknown", "true"],
        "delete, running without --force": ["delete", running],
        "pause, unknown id": ["pause", "lc-unknown"],
        "create, id taken": ["create", "--bundle", str(bad), running],
    }


def test_json_log_one_error_line_per_failure(rt: Any, cid: str, make_bundle: MakeBundle,
                                             tmp_path: Path) -> None:
    start_detached(rt, make_bundle(["sleep", "30"], name="sleeper"), cid)
    log = tmp_path / "log.json"
    problems = []
    for what, argv in _failures(make_bundle, tmp_path, cid).items():
        before = log.read_text().splitlines() if log.exists() else []
        p = rt("--log", str(log), "--log-format", "json", *argv)
        lines = log.read_text().splitlines()[len(before):]
        if p.returncode == 0:
            problems.append(f"{what}: succeeded")
            continue
        if len(lines) != 1:
            problems.append(f"{what}: {len(lines)} log lines: {lines}")
            continue
        entry = json.loads(lines[0])
        if entry.get("level") != "error" or not entry.get("msg") or not RFC3339.match(entry.get("time", "")):
            problems.append(f"{what}: bad entry {entry}")
        if entry.get("msg", "\0") not in p.stderr:
            problems.append(f"{what}: stderr {p.stderr!r} lacks the message {entry.get('msg')!r}")
    assert problems == []
    assert rt.state(cid)["status"] == "running"  # none of the failures touched it


def test_queries_print_nothing_on_stderr(rt: Any, cid: str, sleep_bundle: Path) -> None:
    start_detached(rt, sleep_bundle, cid)
    for argv in (["state", cid], ["ps", cid], ["ps", "--format", "json", cid], ["list"],
                 ["list", "--format", "json"], ["events", "--stats", cid]):
        p = rt(*argv)
        assert (p.returncode, p.stderr) == (0, ""), (argv, p.stderr)
        assert p.stdout.strip(), argv


def test_create_writes_nothing_on_the_containers_stdio(rt: Any, cid: str, make_bundle: MakeBundle,
                                                       tmp_path: Path) -> None:
    bundle = make_bundle(["sh", "-c", "echo from-the-process; echo to-stderr >&2"])
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        # the runtime's own stdio are the container's: as a shim passes them
        p = subprocess.run(rt.cmd("create", "--bundle", str(bundle), cid), stdout=o, stderr=e,
                           stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 0, err.read_text()
    assert (out.read_bytes(), err.read_bytes()) == (b"", b"")
    assert rt("start", cid).returncode == 0
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped", 10)
    assert (out.read_text(), err.read_text()) == ("from-the-process\n", "to-stderr\n")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_log_file_is_for_errors_only_on_success(rt: Any, cid: str, sleep_bundle: Path, tmp_path: Path,
                                                fmt: str) -> None:
    """A successful lifecycle writes no error to --log (containerd reads the
    log file back as the error of a failed command)."""
    log = tmp_path / "log"
    for argv in (["create", "--bundle", str(sleep_bundle), cid], ["start", cid], ["state", cid],
                 ["kill", cid, "KILL"]):
        # stdio to files: the container would hold captured pipes open
        p = run_nocapture(rt, "--log", str(log), "--log-format", fmt, *argv)
        assert p.returncode == 0, (argv, p.stderr)
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped", 10)
    assert rt("--log", str(log), "--log-format", fmt, "delete", cid).returncode == 0
    text = log.read_text() if log.exists() else ""
    assert "error" not in text.lower(), text
