"""`list`, `spec`, `features`, `--version` and `--log FILE --log-format json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import RFC3339, create, must


@pytest.fixture
def two_containers(rt: Any, cid: str, sleep_bundle: Path) -> list[str]:
    ids = [cid + "-a", cid + "-b"]
    for i in ids:
        must(create(rt, sleep_bundle, i))
    must(rt("start", ids[1]))
    return ids


def test_list_table(rt: Any, two_containers: list[str], sleep_bundle: Path) -> None:
    lines = must(rt("list")).stdout.splitlines()
    assert lines[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:] if ln.strip()}
    assert set(rows) == set(two_containers)
    a, b = two_containers
    assert rows[a][2] == "created"
    assert rows[b][2] == "running"
    for row in rows.values():
        assert int(row[1]) > 0
        assert row[3] == str(sleep_bundle)
        assert RFC3339.match(row[4]), row[4]


@pytest.mark.parametrize("flag", [["--format", "json"], ["--format=json"], ["-f", "json"]],
                         ids=["space", "equals", "short"])
def test_list_json(rt: Any, two_containers: list[str], sleep_bundle: Path, flag: list[str]) -> None:
    states = json.loads(must(rt("list", *flag)).stdout)
    assert isinstance(states, list)
    by_id = {s["id"]: s for s in states}
    assert set(by_id) == set(two_containers)
    for s in states:
        for key in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"):
            assert key in s, f"{key} missing from {s}"
        assert s["bundle"] == str(sleep_bundle)
        assert s["pid"] > 0
    assert by_id[two_containers[0]]["status"] == "created"
    assert by_id[two_containers[1]]["status"] == "running"


def test_list_quiet(rt: Any, two_containers: list[str]) -> None:
    out = must(rt("list", "-q")).stdout
    assert sorted(out.split("\n")[:-1]) == sorted(two_containers)
    assert out.endswith("\n")
    assert sorted(must(rt("list", "--quiet")).stdout.split()) == sorted(two_containers)


def test_list_empty_root(rt: Any) -> None:
    p = must(rt("list", "-q"))
    assert p.stdout.strip() == ""
    lines = must(rt("list")).stdout.splitlines()
    assert lines[0].split()[0] == "ID"
    assert [ln for ln in lines[1:] if ln.strip()] == []


def _check_spec(config: Path) -> None:
    cfg = json.loads(config.read_text())
    assert cfg["process"]["terminal"] is True
    assert isinstance(cfg["ociVersion"], str)
    assert cfg["root"]["path"] == "rootfs"
    assert cfg["process"]["args"] == ["sh"]
    assert {n["type"] for n in cfg["linux"]["namespaces"]} >= {"pid", "network", "ipc", "uts", "mount"}


def test_spec_in_cwd_and_refuses_to_overwrite(rt: Any, tmp_path: Path) -> None:
    must(rt("spec", cwd=tmp_path))
    config = tmp_path / "config.json"
    _check_spec(config)

    config.write_text('{"mine": true}')
    p = rt("spec", cwd=tmp_path)
    assert p.returncode != 0
    assert "exists" in p.stderr  # runc: "File config.json exists. Remove it first"
    assert config.read_text() == '{"mine": true}'


@pytest.mark.parametrize("flag", ["--bundle", "-b"])
def test_spec_bundle(rt: Any, tmp_path: Path, flag: str) -> None:
    bundle = tmp_path / "elsewhere"
    bundle.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    must(rt("spec", flag, str(bundle), cwd=cwd))
    _check_spec(bundle / "config.json")
    assert not (cwd / "config.json").exists()
    p = rt("spec", flag, str(bundle), cwd=cwd)
    assert p.returncode != 0
    assert "exists" in p.stderr


def test_features(rt: Any) -> None:
    feats = json.loads(must(rt("features")).stdout)
    assert isinstance(feats["ociVersionMin"], str) and feats["ociVersionMin"].startswith("1.")
    assert isinstance(feats["ociVersionMax"], str) and feats["ociVersionMax"].startswith("1.")
    assert set(feats["hooks"]) >= {"prestart", "createRuntime", "createContainer", "startContainer",
                                   "poststart", "poststop"}
    assert set(feats["linux"]["namespaces"]) >= {"cgroup", "ipc", "mount", "network", "pid", "user",
                                                 "uts"}


def test_version(rt: Any) -> None:
    p = must(rt("--version"))
    lines = p.stdout.splitlines()
    words = lines[0].split()
    assert len(words) == 3 and words[1] == "version", lines[0]
    assert words[0] == rt.name or rt.name.startswith(words[0]), lines[0]
    assert any(ln.startswith("spec: ") and len(ln) > len("spec: ") for ln in lines), p.stdout
    # dockerd reads the "commit:" line of the default runtime (docker info, docker version)
    assert any(ln.startswith("commit: ") and len(ln) > len("commit: ") for ln in lines), p.stdout


@pytest.mark.parametrize("flags", [["--log-format", "json"], ["--log-format=json"]],
                         ids=["space", "equals"])
def test_log_json_one_error_line(rt: Any, cid: str, tmp_path: Path, flags: list[str]) -> None:
    log = tmp_path / "log.json"
    p = rt("--log", str(log), *flags, "state", cid)
    assert p.returncode != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert set(entry) == {"level", "msg", "time"}
    assert entry["level"] == "error"
    assert "container does not exist" in entry["msg"]
    assert RFC3339.match(entry["time"]), entry["time"]


def test_log_json_appends(rt: Any, cid: str, tmp_path: Path) -> None:
    """containerd reuses one log file per bundle: each failure adds a line."""
    log = tmp_path / "log.json"
    for _ in range(2):
        assert rt("--log", str(log), "--log-format", "json", "start", cid).returncode != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 2
    assert all(json.loads(ln)["level"] == "error" for ln in lines)
