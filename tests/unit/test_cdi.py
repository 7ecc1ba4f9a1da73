"""CDI in pyruntime (pyruntime/cdi.py): annotation parsing, spec loading and
precedence, and the edits as pkg/cdi applies them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyruntime import cdi, jsonfast
from pyruntime.errors import ConfigError
from pyruntime.spec.load import Config
from tests.support.bundle import base_config


def spec(kind: str = "vendor.com/dev", devices: list[dict[str, Any]] | None = None,
         edits: dict[str, Any] | None = None) -> dict[str, Any]:
    s: dict[str, Any] = {"cdiVersion": "0.6.0", "kind": kind,
                         "devices": devices or [{"name": "a", "containerEdits": {"env": ["DEV=a"]}}]}
    if edits is not None:
        s["containerEdits"] = edits
    return s


def config(tmp_path: Path, annotations: dict[str, str]) -> Config:
    data = base_config(["true"])
    data["annotations"] = annotations
    data["process"]["user"] = {"uid": 1000, "gid": 1000}
    raw = json.dumps(data).encode()
    return Config(data, str(tmp_path / "config.json"), raw)


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    etc, run = tmp_path / "etc-cdi", tmp_path / "run-cdi"
    etc.mkdir()
    run.mkdir()
    monkeypatch.setenv(cdi.DIRS_ENV, f"{etc}:{run}")
    return etc, run


def test_qualified_names() -> None:
    assert cdi.parse_qualified("nvidia.com/gpu=GPU-1234:0") == ("nvidia.com/gpu", "GPU-1234:0")
    for bad in ("nvidia.com/gpu", "gpu=0", "nvidia.com/=0", "-x.com/gpu=0", "nvidia.com/gpu=", "a.com/b=c d"):
        with pytest.raises(ValueError):
            cdi.parse_qualified(bad)
    with pytest.raises(ConfigError, match=r"annotations\['cdi.k8s.io/x'\]: CDI device 'gpu0'"):
        cdi.requested({"cdi.k8s.io/x": "gpu0"})
    assert cdi.requested({"other": "x", "cdi.k8s.io/a": "v.com/c=1, v.com/c=2", "cdi.k8s.io/b": "v.com/c=1"}) == [
        ("cdi.k8s.io/a", "v.com/c", "1"), ("cdi.k8s.io/a", "v.com/c", "2")]


def test_edits_are_applied(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    etc, _ = dirs
    edits = {"env": ["PATH=/cdi", "COMMON=1"],
             "deviceNodes": [{"path": "/dev/vdev0", "type": "c", "major": 240, "minor": 3, "permissions": "rw"}],
             "mounts": [{"hostPath": "/opt/lib", "containerPath": "/usr/lib/v", "options": ["ro", "bind"]},
                        {"hostPath": "/opt/a", "containerPath": "/a"}],
             "hooks": [{"hookName": "createContainer", "path": "/bin/hook", "args": ["hook", "x"]}],
             "additionalGids": [0, 44, 44]}
    (etc / "v.yaml").write_text(json.dumps(spec(edits=edits)))  # JSON is YAML too
    cfg = config(tmp_path, {"cdi.k8s.io/dev": "vendor.com/dev=a"})
    cdi.apply(cfg)
    d = cfg.data
    env = d["process"]["env"]
    assert "PATH=/cdi" in env and not any(e.startswith("PATH=/usr") for e in env) and "DEV=a" in env
    assert d["linux"]["devices"] == [{"path": "/dev/vdev0", "type": "c", "major": 240, "minor": 3,
                                      "uid": 1000, "gid": 1000}]
    assert d["linux"]["resources"]["devices"][-1] == {"allow": True, "type": "c", "major": 240, "minor": 3,
                                                      "access": "rw"}
    dests = [m["destination"] for m in d["mounts"]]
    assert dests.index("/a") < dests.index("/dev/pts") and dests.index("/usr/lib/v") > dests.index("/sys/fs/cgroup")
    assert d["hooks"]["createContainer"] == [{"path": "/bin/hook", "args": ["hook", "x"]}]
    assert d["process"]["user"]["additionalGids"] == [44]
    assert jsonfast.loads(cfg.raw) == d


def test_later_directory_wins_and_conflicts(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    etc, run = dirs
    (etc / "a.json").write_text(json.dumps(spec()))
    (run / "a.json").write_text(json.dumps(spec(devices=[{"name": "a", "containerEdits": {"env": ["DEV=run"]}}])))
    cfg = config(tmp_path, {"cdi.k8s.io/x": "vendor.com/dev=a"})
    cdi.apply(cfg)
    assert "DEV=run" in cfg.data["process"]["env"]
    (etc / "b.json").write_text(json.dumps(spec()))
    with pytest.raises(ConfigError, match="vendor.com/dev=a is defined twice in"):
        cdi.apply(config(tmp_path, {"cdi.k8s.io/x": "vendor.com/dev=a"}))


def test_unresolvable_device_names_broken_specs(tmp_path: Path, dirs: tuple[Path, Path]) -> None:
    etc, _ = dirs
    (etc / "bad.json").write_text(json.dumps({**spec(), "cdiVersion": "9.9.9"}))
    (etc / "worse.yaml").write_text("devices: [\n")
    with pytest.raises(ConfigError) as e:
        cdi.apply(config(tmp_path, {"cdi.k8s.io/x": "vendor.com/dev=a"}))
    msg = str(e.value)
    assert "unresolvable CDI device vendor.com/dev=a" in msg and "bad.json: cdiVersion: '9.9.9'" in msg
    assert "worse.yaml" in msg


@pytest.mark.parametrize("edits,msg", [({"intelRdt": {"closID": "x"}}, "Intel RDT is not supported"),
                                       ({"mounts": [{"hostPath": "/x", "containerPath": "rel"}]}, "unresolvable"),
                                       ({"deviceNodes": [{"path": "/dev/nope", "hostPath": "/nonexistent"}]},
                                        "/nonexistent: No such file")])
def test_bad_edits(tmp_path: Path, dirs: tuple[Path, Path], edits: dict[str, Any], msg: str) -> None:
    etc, _ = dirs
    (etc / "v.json").write_text(json.dumps(spec(edits=edits)))
    with pytest.raises(ConfigError, match=msg):
        cdi.apply(config(tmp_path, {"cdi.k8s.io/x": "vendor.com/dev=a"}))
