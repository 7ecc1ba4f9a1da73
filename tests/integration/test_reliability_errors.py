"""A user error is one line and exit status 1, never a traceback, with or
without --debug, in text and json logs. (Internal errors, made on purpose
at fault points, are in test_reliability_crash.py.) Every case also fails
under runc."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import create, must

MakeBundle = Callable[..., Path]


class Setup:
    def __init__(self, rt: Any, cid: str, tmp: Path, make_bundle: MakeBundle) -> None:
        self.rt, self.tmp = rt, tmp
        self.bundle = make_bundle(["sleep", "300"])
        self.running, self.stopped = f"{cid}-run", f"{cid}-stop"
        for c in (self.running, self.stopped):
            must(create(rt, self.bundle, c))
        must(rt("start", self.running))
        must(create(rt, make_bundle(["true"], name="true"), f"{cid}-true"))
        must(rt("start", f"{cid}-true"))
        self.stopped = f"{cid}-true"
        self.bad_json = tmp / "bad-json"
        self.bad_json.mkdir()
        (self.bad_json / "config.json").write_text("{nope")
        self.bad_schema = tmp / "bad-schema"
        self.bad_schema.mkdir()
        (self.bad_schema / "config.json").write_text(json.dumps({"ociVersion": "1.2.1",
                                                                 "process": {"args": "not-a-list", "cwd": "/"},
                                                                 "root": {"path": "rootfs"}}))
        self.no_rootfs = make_bundle(["true"], name="no-rootfs")
        os.rename(self.no_rootfs / "rootfs", self.no_rootfs / "rootfs-gone")
        self.a_file = tmp / "a-file"
        self.a_file.write_text("")
        self.tty = make_bundle(["true"], name="tty", mutate=lambda c: c["process"].update(terminal=True))
        self.sock = str(tmp / "console.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(self.sock)
        s.close()  # a socket file nobody listens on


def cases(s: Setup) -> dict[str, list[str]]:
    b = str(s.bundle)
    return {
        "state of nothing": ["state", "nope"],
        "kill of nothing": ["kill", "nope", "KILL"],
        "delete of nothing": ["delete", "nope"],
        "start of nothing": ["start", "nope"],
        "pause of nothing": ["pause", "nope"],
        "ps of nothing": ["ps", "nope"],
        "exec in nothing": ["exec", "nope", "true"],
        "update of nothing": ["update", "--memory", "1048576", "nope"],
        "bad id": ["state", "a/b"],
        "id too long": ["create", "--bundle", b, "x" * 300],
        "no config.json": ["create", "--bundle", str(s.tmp / "nowhere"), "c1"],
        "config not json": ["create", "--bundle", str(s.bad_json), "c1"],
        "config not the schema": ["create", "--bundle", str(s.bad_schema), "c1"],
        "rootfs missing": ["create", "--bundle", str(s.no_rootfs), "c1"],
        "same id again": ["create", "--bundle", b, s.running],
        "start a running one": ["start", s.running],
        "delete a running one": ["delete", s.running],
        "exec in a stopped one": ["exec", s.stopped, "true"],
        "kill a stopped one": ["kill", s.stopped, "KILL"],
        "unknown signal": ["kill", s.running, "SIGNOPE"],
        "unknown command": ["frobnicate"],
        "unknown flag": ["state", "--frob", s.running],
        "missing id": ["start"],
        "pid file in no dir": ["create", "--bundle", b, "--pid-file", str(s.tmp / "no" / "pid"), "c2"],
        "console socket without terminal": ["create", "--bundle", b, "--console-socket", s.sock, "c3"],
        "console socket nobody listens on": ["create", "--bundle", str(s.tty), "--console-socket", s.sock, "c4"],
        "terminal without console socket": ["create", "--bundle", str(s.tty), "c5"],
        "root is a file": ["--root", str(s.a_file), "create", "--bundle", b, "c6"],
        "root cannot be made": ["--root", "/proc/sys/nope", "create", "--bundle", b, "c7"],
        "log in no dir": ["--log", str(s.tmp / "no" / "log"), "state", s.running],
        "log format": ["--log-format", "yaml", "state", s.running],
        "update not a number": ["update", "--memory", "lots", s.running],
        "list format": ["list", "--format", "yaml"],
        "spec where config exists": ["spec", "--bundle", b],
        "spec in no dir": ["spec", "--bundle", str(s.tmp / "nowhere")],
    }


@pytest.fixture
def setup(rt: Any, cid: str, tmp_path: Path, make_bundle: MakeBundle) -> Iterator[Setup]:
    yield Setup(rt, cid, tmp_path, make_bundle)


def _run(rt: Any, args: list[str], *pre: str) -> subprocess.CompletedProcess[str]:
    global_args = ["--root", str(rt.root)] if args[0] != "--root" else []
    return subprocess.run([rt.path, *pre, *global_args, *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)


def _is_pyruntime(rt: Any) -> bool:
    return "pyruntime" in Path(rt.path).name


def test_user_errors_are_one_line(rt: Any, setup: Setup) -> None:
    bad: dict[str, str] = {}
    for name, args in cases(setup).items():
        p = _run(rt, args)
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        if p.returncode == 0:
            bad[name] = "succeeded"
        elif _is_pyruntime(rt) and ("Traceback" in p.stderr or "internal error" in p.stderr or len(lines) != 1):
            bad[name] = p.stderr
        elif _is_pyruntime(rt) and p.returncode not in (1, 255):  # exec fails with 255, as runc
            bad[name] = f"rc={p.returncode}"
    assert not bad, json.dumps(bad, indent=1)


def test_user_errors_with_debug_have_no_traceback(rt: Any, setup: Setup) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("pyruntime's own debug output")
    bad = {}
    for name, args in cases(setup).items():
        p = _run(rt, args, "--debug")
        if p.returncode == 0 or "Traceback" in p.stderr or "internal error" in p.stderr:
            bad[name] = p.stderr
    assert not bad, json.dumps(bad, indent=1)


def test_user_errors_in_a_json_log_are_one_error_line(rt: Any, setup: Setup, tmp_path: Path) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("checked for runc in test_log_contract.py")
    bad = {}
    for i, (name, args) in enumerate(cases(setup).items()):
        if args[0] in ("--log", "--log-format", "--root"):
            continue
        log = tmp_path / f"log{i}.json"
        p = _run(rt, args, "--log", str(log), "--log-format", "json")
        entries = [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []
        if p.returncode == 0 or [e["level"] for e in entries] != ["error"] or "Traceback" in p.stderr:
            bad[name] = f"rc={p.returncode} log={entries} stderr={p.stderr!r}"
    assert not bad, json.dumps(bad, indent=1)


def test_closed_stdout_is_not_a_traceback(rt: Any, setup: Setup) -> None:
    """`pyruntime list | head -0`: the reader is gone before the output."""
    r, w = os.pipe()
    os.close(r)
    p = subprocess.run([rt.path, "--root", str(rt.root), "list"], stdout=w, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    os.close(w)
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr
