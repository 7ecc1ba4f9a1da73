"""spec/load.py: every refusal names config.json and the JSON field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyruntime.errors import ConfigError
from pyruntime.spec.load import load
from tests.support.bundle import base_config


def write(bundle: Path, cfg: Any) -> str:
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "config.json").write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
    return str(bundle / "config.json")


def test_valid_runc_spec_loads(tmp_path: Path) -> None:
    path = write(tmp_path / "b", base_config(["echo", "hi"]))
    cfg = load(str(tmp_path / "b"))
    assert cfg.path == path
    assert cfg.bundle == str(tmp_path / "b")
    assert cfg.rootfs == str(tmp_path / "b" / "rootfs")
    assert cfg.process is not None and cfg.process["args"] == ["echo", "hi"]
    assert cfg.has_ns("pid") and cfg.new_ns("uts") and not cfg.has_ns("user")
    assert [n["type"] for n in cfg.namespaces] == ["pid", "network", "ipc", "uts", "mount"]
    assert cfg.hooks == {} and cfg.annotations == {}
    assert json.loads(cfg.raw) == cfg.data


def test_relative_bundle_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "b", base_config())
    monkeypatch.chdir(tmp_path)
    assert load("b").path == str(tmp_path / "b" / "config.json")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value) == f"{tmp_path}/config.json: no such file (is --bundle right?)"


def test_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, '{"ociVersion": "1.2.1",')
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value).startswith(f"{path}: invalid JSON: ")
    assert e.value.path == path


def test_top_level_not_object(tmp_path: Path) -> None:
    path = write(tmp_path, "[1, 2]")
    with pytest.raises(ConfigError, match="top level must be an object") as e:
        load(str(tmp_path))
    assert e.value.path == path


def _del(*keys: str) -> Callable[[dict[str, Any]], None]:
    def f(cfg: dict[str, Any]) -> None:
        d = cfg
        for k in keys[:-1]:
            d = d[k]
        del d[keys[-1]]
    return f


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def f(cfg: dict[str, Any]) -> None:
        d = cfg
        for k in keys[:-1]:
            d = d.setdefault(k, {})
        d[keys[-1]] = value
    return f


def _add_ns(t: str) -> Callable[[dict[str, Any]], None]:
    return lambda cfg: cfg["linux"]["namespaces"].append({"type": t})


def _drop_uts(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "uts"]


def _dup_rlimit(cfg: dict[str, Any]) -> None:
    cfg["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1})


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("missing ociVersion", _del("ociVersion"), "ociVersion", "required string is missing"),
    ("ociVersion 2.0", _set("2.0", "ociVersion"), "ociVersion",
     "unsupported version '2.0' (this runtime runs 1.x configs)"),
    ("ociVersion 1.2 (not SemVer)", _set("1.2", "ociVersion"), "ociVersion",
     "'1.2' is not a SemVer 2.0.0 version (MAJOR.MINOR.PATCH)"),
    ("missing root.path", _del("root", "path"), "root.path", "required string is missing"),
    ("missing root", _del("root"), "root.path", "required string is missing"),
    ("root not object", _set("rootfs", "root"), "root", "must be an object"),
    ("duplicate namespace", _add_ns("pid"), "linux.namespaces[5]", "duplicate namespace pid"),
    ("unknown namespace", _add_ns("bogus"), "linux.namespaces[5].type", "unknown namespace type 'bogus'"),
    ("mappings without user ns", _set([{"containerID": 0, "hostID": 1000, "size": 1}], "linux", "uidMappings"),
     "linux.uidMappings", "user namespace mappings need a user namespace"),
    ("user ns without mappings", _add_ns("user"), "linux.uidMappings",
     "a new user namespace needs uidMappings and gidMappings"),
    ("hostname without uts", _drop_uts, "hostname", "setting the hostname needs a uts namespace in linux.namespaces"),
    ("duplicate rlimit", _dup_rlimit, "process.rlimits[1]", "duplicate rlimit RLIMIT_NOFILE"),
    ("relative cwd", _set("tmp", "process", "cwd"), "process.cwd", "must be an absolute path, got 'tmp'"),
    ("empty args", _set([], "process", "args"), "process.args", "must be a non-empty list of strings"),
    ("uid not int", _set("0", "process", "user", "uid"), "process.user.uid", "must be an integer"),
    ("relative ns path", lambda c: c["linux"]["namespaces"][1].update(path="net"),
     "linux.namespaces[1].path", "must be an absolute path, got 'net'"),
    ("hook path", _set([{"path": "bin/hook"}], "hooks", "prestart"), "hooks.prestart[0].path",
     "must be an absolute path"),
    ("hook timeout", _set([{"path": "/bin/true"}, {"path": "/bin/x", "timeout": 0}], "hooks", "poststart"),
     "hooks.poststart[1].timeout", "must be a positive integer"),
    ("mount destination", lambda c: c["mounts"].append({"type": "tmpfs"}), "mounts[7].destination",
     "required string is missing"),
    ("time offsets", _set({"monotonic": {"secs": 1}}, "linux", "timeOffsets"), "linux.timeOffsets",
     "time offsets need a new time namespace"),
    ("idmapped mount", lambda c: c["mounts"][0].update(uidMappings=[{"containerID": 0, "hostID": 1, "size": 1}]),
     "mounts[0].uidMappings", "idmapped mounts are not supported by this version of pyruntime"),
]


@pytest.mark.parametrize(("mutate", "field", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusals_name_file_and_field(tmp_path: Path, mutate: Callable[[dict[str, Any]], None],
                                      field: str, problem: str) -> None:
    cfg = base_config()
    mutate(cfg)
    path = write(tmp_path, cfg)
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value) == f"{path}: {field}: {problem}"
    assert e.value.field == field
    assert e.value.path == path


def test_empty_unimplemented_fields_are_accepted(tmp_path: Path) -> None:
    cfg = base_config()
    cfg["linux"]["intelRdt"] = {}
    cfg["linux"]["sysctl"] = {}
    cfg["process"]["apparmorProfile"] = ""
    write(tmp_path, cfg)
    assert load(str(tmp_path)).linux["sysctl"] == {}


def test_null_is_not_an_absent_field(tmp_path: Path) -> None:
    # The OCI schema (and jsonschema) refuse `null` where an object is expected;
    # Go's encoding/json would read it as absent. pyruntime follows the schema.
    cfg = base_config()
    cfg["linux"]["seccomp"] = None
    path = write(tmp_path, cfg)
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value) == f"{path}: linux.seccomp: must be an object"


def test_schema_errors_come_before_hand_written_checks(tmp_path: Path) -> None:
    cfg = base_config()
    cfg["process"]["cwd"] = "relative"  # a hand-written check
    cfg["linux"]["resources"]["devices"][0]["major"] = "8"  # the schema
    path = write(tmp_path, cfg)
    with pytest.raises(ConfigError) as e:
        load(str(tmp_path))
    assert str(e.value) == f"{path}: linux.resources.devices[0].major: must be an integer"
    assert e.value.field == "linux.resources.devices[0].major"


def test_user_ns_with_mappings_loads(tmp_path: Path) -> None:
    cfg = base_config()
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    write(tmp_path, cfg)
    assert load(str(tmp_path)).new_ns("user")


def test_no_process_is_fine(tmp_path: Path) -> None:
    cfg = base_config()
    del cfg["process"]
    write(tmp_path, cfg)
    assert load(str(tmp_path)).process is None
