"""log.Logger: runc's (logrus) text and json line formats."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pyruntime.log import Logger, rfc3339

RFC3339_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
RFC3339_NANOS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")


def test_rfc3339_fixed_times() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1_700_000_000_123_456_789) == "2023-11-14T22:13:20Z"
    assert rfc3339(1_700_000_000_123_456_789, nanos=True) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339(1_700_000_000_000_000_005, nanos=True) == "2023-11-14T22:13:20.000000005Z"


def test_rfc3339_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    s = rfc3339()
    n = rfc3339(nanos=True)
    assert RFC3339_SECONDS.match(s)
    assert RFC3339_NANOS.match(n)
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    assert abs((t - before).total_seconds()) < 5


def test_json_line() -> None:
    lg = Logger()
    lg.configure(None, "json", False)
    d = json.loads(lg.line("error", 'bad "thing"\nhere'))
    assert list(d) == ["level", "msg", "time"]
    assert d["level"] == "error"
    assert d["msg"] == 'bad "thing"\nhere'
    assert RFC3339_SECONDS.match(d["time"])
    parsed = datetime.fromisoformat(d["time"].replace("Z", "+00:00"))
    assert parsed.tzinfo is not None and parsed.utcoffset() is not None


def test_text_line_quoting() -> None:
    lg = Logger()
    line = lg.line("warning", 'a "q" \\ b\nc')
    m = re.fullmatch(r'time="([^"]+)" level=warning msg="(.*)"', line)
    assert m is not None
    assert RFC3339_SECONDS.match(m.group(1))
    assert m.group(2) == r'a \"q\" \\ b\nc'


def test_log_to_stderr_filters_debug(capsys: pytest.CaptureFixture[str]) -> None:
    lg = Logger()
    lg.debug("hidden")
    lg.warning("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert err.endswith('level=warning msg="shown"\n')
    lg.configure(None, "text", True)
    lg.debug("now visible")
    assert 'level=debug msg="now visible"' in capsys.readouterr().err


def test_error_to_file_also_prints_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lg = Logger()
    path = tmp_path / "log.json"
    lg.configure(str(path), "json", False)
    lg.error("container does not exist")
    lg.error("second")
    lines = path.read_text().splitlines()
    assert [json.loads(x)["msg"] for x in lines] == ["container does not exist", "second"]
    assert all(json.loads(x)["level"] == "error" for x in lines)
    assert capsys.readouterr().err == "container does not exist\nsecond\n"


def test_empty_path_means_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    lg = Logger()
    lg.configure("", "json", False)
    assert lg.path is None
    lg.error("x")
    assert json.loads(capsys.readouterr().err)["msg"] == "x"
