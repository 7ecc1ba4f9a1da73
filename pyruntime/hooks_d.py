"""Hooks from drop-in files: every container created gets the hooks whose
`when` matches it, from `*.json` files in /etc/pyruntime/hooks.d
(PYRUNTIME_HOOKS_DIR=dir:dir overrides it; a file in a later directory
replaces the file of the same name in an earlier one).

The file format is the OCI hooks configuration of Podman and CRI-O
(containers/common docs/oci-hooks.5.md, version 1.0.0), so NVIDIA's own
oci-nvidia-hook.json works as it is; what it is for here: the NVIDIA hook for
containers that Docker starts with `--runtime pyruntime -e NVIDIA_VISIBLE_DEVICES=...`
(docs/NVIDIA.md), which no engine would add.

    {"version": "1.0.0",
     "hook": {"path": "/abs/path", "args": [...], "env": [...], "timeout": N},
     "when": {"always": true, "annotations": {"key regex": "value regex"},
              "commands": ["regex of process.args[0]"], "hasBindMounts": true, "or": false},
     "stages": ["prestart", ...]}

All the given conditions must match (any one with "or": true). Regexes are
Go's RE2 in Podman; here Python's `re.search`, imported only when a file
uses them. A file that does not parse or names an unknown stage is an error
naming the file. Not the directories Podman reads: a container that Podman
starts already has those hooks.
"""

from __future__ import annotations

import os
from typing import Any

from pyruntime import jsonfast
from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config

DIRS_ENV = "PYRUNTIME_HOOKS_DIR"
DEFAULT_DIR = "/etc/pyruntime/hooks.d"
STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def dirs() -> list[str]:
    env = os.environ.get(DIRS_ENV)
    return [d for d in env.split(":") if d] if env is not None else [DEFAULT_DIR]


def files(directories: list[str]) -> list[str]:
    """The drop-in files in force, in name order."""
    by_name: dict[str, str] = {}
    for d in directories:
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(f"hooks directory {d}: {os.strerror(e.errno or 0)}", path=d) from None
        for n in names:
            if n.endswith(".json"):
                by_name[n] = os.path.join(d, n)
    return [by_name[n] for n in sorted(by_name)]


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            h = jsonfast.loads(f.read())
    except (OSError, ValueError) as e:
        raise ConfigError(f"hook file {path}: {e}", path=path) from None
    def bad(problem: str) -> ConfigError:
        return ConfigError(f"hook file {path}: {problem}", path=path)

    if not isinstance(h, dict) or h.get("version") != "1.0.0":
        raise bad("version: want \"1.0.0\"")
    hook = h.get("hook")
    if not isinstance(hook, dict) or not str(hook.get("path", "")).startswith("/"):
        raise bad("hook.path: want an absolute path")
    when = h.get("when")
    if not isinstance(when, dict) or not any(k in when for k in ("always", "annotations", "commands",
                                                                  "hasBindMounts")):
        raise bad("when: want at least one of always, annotations, commands, hasBindMounts")
    stages = h.get("stages")
    if not isinstance(stages, list) or not stages or any(s not in STAGES for s in stages):
        raise bad(f"stages: want a non-empty list of {', '.join(STAGES)}")
    return h


def matches(when: dict[str, Any], data: dict[str, Any]) -> bool:
    results: list[bool] = []
    if "always" in when:
        results.append(bool(when["always"]))
    if "hasBindMounts" in when:
        has = any(m.get("type") == "bind" or "bind" in (m.get("options") or []) or "rbind" in (m.get("options") or [])
                  for m in data.get("mounts") or [])
        results.append(has == bool(when["hasBindMounts"]))
    if when.get("annotations") or when.get("commands"):
        import re

        ann: dict[str, str] = data.get("annotations") or {}
        for kre, vre in (when.get("annotations") or {}).items():
            results.append(any(re.search(kre, k) and re.search(vre, v) for k, v in ann.items()))
        if when.get("commands"):
            args = (data.get("process") or {}).get("args") or [""]
            results.append(any(re.search(c, args[0]) for c in when["commands"]))
    return any(results) if when.get("or") else all(results)


def apply(cfg: Config) -> bool:
    """Add the matching hooks to cfg.data; True when any was added."""
    added = False
    for path in files(dirs()):
        h = _load(path)
        if not matches(h["when"], cfg.data):
            continue
        hook = {k: h["hook"][k] for k in ("path", "args", "env", "timeout") if h["hook"].get(k) is not None}
        for stage in h["stages"]:
            cfg.data.setdefault("hooks", {}).setdefault(stage, []).append(dict(hook))
        added = True
    if added:
        cfg.raw = jsonfast.dumps(cfg.data).encode()
    return added
