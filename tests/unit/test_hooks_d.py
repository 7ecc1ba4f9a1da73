"""hooks.d drop-ins (pyruntime/hooks_d.py): the oci-hooks 1.0.0 format,
`when` matching, precedence between directories, errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pyruntime import hooks_d, jsonfast
from pyruntime.errors import ConfigError
from pyruntime.spec.load import Config
from tests.support.bundle import base_config


def drop_in(d: Path, name: str, when: dict[str, Any], stages: list[str] | None = None,
            path: str = "/usr/bin/nvidia-hook") -> None:
    d.mkdir(exist_ok=True)
    (d / name).write_text(json.dumps({"version": "1.0.0", "hook": {"path": path, "args": ["h", "prestart"]},
                                      "when": when, "stages": stages or ["prestart"]}))


def cfg(**kw: Any) -> Config:
    data = base_config(["/bin/app"])
    data.update(kw)
    return Config(data, "/b/config.json", json.dumps(data).encode())


def test_matching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "h"
    drop_in(d, "a.json", {"always": True}, ["prestart", "poststop"])
    drop_in(d, "b.json", {"commands": ["^/bin/other$"]}, path="/b")
    drop_in(d, "c.json", {"annotations": {"^gpu$": "yes"}, "commands": ["app"]}, path="/c")
    drop_in(d, "d.json", {"always": False, "hasBindMounts": False, "or": True}, path="/d")
    monkeypatch.setenv(hooks_d.DIRS_ENV, str(d))
    c = cfg(annotations={"gpu": "yes"})
    assert hooks_d.apply(c)
    assert [h["path"] for h in c.data["hooks"]["prestart"]] == ["/usr/bin/nvidia-hook", "/c", "/d"]
    assert c.data["hooks"]["poststop"] == [{"path": "/usr/bin/nvidia-hook", "args": ["h", "prestart"]}]
    assert jsonfast.loads(c.raw) == c.data


def test_a_later_directory_replaces_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop_in(tmp_path / "1", "nvidia.json", {"always": True}, path="/first")
    drop_in(tmp_path / "2", "nvidia.json", {"always": True}, path="/second")
    monkeypatch.setenv(hooks_d.DIRS_ENV, f"{tmp_path / '1'}:{tmp_path / '2'}:{tmp_path / 'missing'}")
    c = cfg()
    hooks_d.apply(c)
    assert [h["path"] for h in c.data["hooks"]["prestart"]] == ["/second"]


@pytest.mark.parametrize("content,msg", [("{", "Expecting property name"), ('{"version": "2.0.0"}', "version"),
                                         ('{"version": "1.0.0", "hook": {"path": "rel"}}', "hook.path"),
                                         ('{"version": "1.0.0", "hook": {"path": "/x"}, "when": {}}', "when"),
                                         ('{"version": "1.0.0", "hook": {"path": "/x"}, "when": {"always": true},'
                                          ' "stages": ["later"]}', "stages")])
def test_bad_files_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, msg: str) -> None:
    (tmp_path / "bad.json").write_text(content)
    monkeypatch.setenv(hooks_d.DIRS_ENV, str(tmp_path))
    with pytest.raises(ConfigError, match=f"hook file {tmp_path / 'bad.json'}: .*{msg}"):
        hooks_d.apply(cfg())
