"""cli: main's --version, usage and errors; `list` and its table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyruntime import SPEC_VERSION, __version__
from pyruntime.cli import main
from pyruntime.cli.cmd_list import table
from pyruntime.state.store import Container


def test_table_min_width_and_padding() -> None:
    rows = [["ID", "PID", "STATUS"], ["abc", "0", "stopped"]]
    assert table(rows) == ("ID          PID         STATUS\n"
                           "abc         0           stopped\n")


def test_table_wide_column_gets_three_spaces() -> None:
    long_id = "x" * 20
    out = table([["ID", "PID"], [long_id, "42"], ["a", "1"]])
    lines = out.splitlines()
    assert lines[0] == "ID" + " " * 21 + "PID"
    assert lines[1] == long_id + "   42"
    assert lines[2] == "a" + " " * 22 + "1"
    assert out.endswith("\n")


def test_table_last_column_is_not_padded() -> None:
    out = table([["A", "LAST"], ["b", "c"]])
    assert out.splitlines()[1] == "b" + " " * 11 + "c"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"pyruntime version {__version__}"
    assert f"spec: {SPEC_VERSION}" in lines
    assert any(x.startswith("spec: ") for x in lines)
    assert main(["-v"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("pyruntime version ")


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 1
    err = capsys.readouterr().err
    assert "No help topic for 'frobnicate'" in err
    assert "level=error" in err


def test_unknown_global_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--bogus", "list"]) == 1
    assert "flag provided but not defined: -bogus" in capsys.readouterr().err


def test_bad_log_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format", "xml", "list"]) == 1
    assert "invalid log-format: xml" in capsys.readouterr().err


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    out = capsys.readouterr().out
    assert out.startswith("usage: pyruntime")
    assert "   list" in out
    assert main(["--help"]) == 0
    assert "global options:" in capsys.readouterr().out


def test_json_log_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format=json", "nope"]) == 1
    d = json.loads(capsys.readouterr().err.strip())
    assert d["level"] == "error"
    assert d["msg"] == "No help topic for 'nope'"


def _container(root: Path, cid: str) -> None:
    c = Container.create(str(root), cid)
    c.data.update({"pid": 999999999, "start_time": 1, "bundle": f"/b/{cid}",
                   "created": "2024-10-22T10:00:00.000000000Z", "owner": "root"})
    c.save()
    c.unlock()


def test_list_table_json_and_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    assert main(["--root", str(root), "list"]) == 0
    assert capsys.readouterr().out == "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
    _container(root, "second")
    _container(root, "first")
    os.mkdir(root / "half-created")  # no state.json: skipped
    assert main(["--root", str(root), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[1].split() == ["first", "0", "stopped", "/b/first", "2024-10-22T10:00:00.000000000Z", "root"]
    assert main(["--root", str(root), "list", "--format", "json"]) == 0
    states = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in states] == ["first", "second"]
    assert all(s["status"] == "stopped" and s["pid"] == 0 for s in states)
    assert main(["--root", str(root), "list", "-q"]) == 0
    assert capsys.readouterr().out == "first\nsecond\n"
    assert main(["--root", str(root), "list", "--format", "yaml"]) == 1
    assert "invalid format option: yaml" in capsys.readouterr().err
