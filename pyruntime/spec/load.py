"""Load a bundle's config.json and refuse what cannot be run.

Errors name the file and the JSON path (`config.json: linux.namespaces[2]:
...`). `load` first validates the whole document against the OCI schemas in
specs/ (pyruntime.spec.validator: generated plain Python, no jsonschema on
the hot path), then makes the checks a schema cannot express (duplicates,
absolute paths, what needs which namespace, the 1.x version), and refuses
every field this runtime does not implement yet, so nothing is silently
ignored.
"""

from __future__ import annotations

import os

from pyruntime import jsonfast
from pyruntime.errors import ConfigError
from pyruntime.spec.validator import validate

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# Fields accepted by the schema but not implemented yet: refusing them beats
# running a container without what its config asked for.
UNIMPLEMENTED = {
    ("linux", "intelRdt"): "Intel RDT",
    ("linux", "memoryPolicy"): "memoryPolicy",
}


class Config:
    """A parsed config.json plus where it came from."""

    def __init__(self, data: dict[str, Any], path: str, raw: bytes) -> None:
        self.data = data
        self.path = path
        self.raw = raw
        self.bundle = os.path.dirname(path)

    def err(self, field: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {field}: {problem}", field=field, path=self.path)

    @property
    def linux(self) -> dict[str, Any]:
        v: dict[str, Any] = self.data.get("linux") or {}
        return v

    @property
    def process(self) -> dict[str, Any] | None:
        v: dict[str, Any] | None = self.data.get("process")
        return v

    @property
    def rootfs(self) -> str:
        p = str(self.data["root"]["path"])
        return os.path.normpath(os.path.join(self.bundle, p))

    @property
    def namespaces(self) -> list[dict[str, Any]]:
        v: list[dict[str, Any]] = self.linux.get("namespaces") or []
        return v

    def has_ns(self, t: str) -> bool:
        return any(n.get("type") == t for n in self.namespaces)

    def new_ns(self, t: str) -> bool:
        return any(n.get("type") == t and not n.get("path") for n in self.namespaces)

    @property
    def hooks(self) -> dict[str, list[dict[str, Any]]]:
        v: dict[str, list[dict[str, Any]]] = self.data.get("hooks") or {}
        return v

    @property
    def annotations(self) -> dict[str, str]:
        v: dict[str, str] = self.data.get("annotations") or {}
        return v


def load(bundle: str) -> Config:
    path = os.path.join(os.path.abspath(bundle), "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (is --bundle right?)", path=path) from None
    except OSError as e:
        raise ConfigError(f"{path}: {os.strerror(e.errno or 0)}", path=path) from None
    try:
        data = jsonfast.loads(raw)
    except ValueError as e:
        raise ConfigError(f"{path}: invalid JSON: {e}", path=path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be an object", path=path)
    cfg = Config(data, path, raw)
    errors = validate(data)
    if errors:
        raise cfg.err(errors[0].path, errors[0].problem)
    bad = bad_string(data)
    if bad:
        raise cfg.err(*bad)
    check(cfg)
    return cfg


def bad_string(doc: Any) -> tuple[str, str] | None:
    """(JSON path, problem) of the first string no kernel interface can take:
    one with a NUL (execve, mount and open end a C string there) or a lone
    UTF-16 surrogate (JSON's \\ud800 escapes: not encodable to UTF-8; Go's
    decoder would silently turn it into U+FFFD). Walked without recursion."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, dict):
            for k, item in v.items():
                stack.append((f"{where}.{k}" if where else k, item))
                if "\0" in k or (not k.isascii() and _surrogate(k)):
                    return where or "(top level)", f"key {k!r} holds a NUL or a lone surrogate"
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))
        elif isinstance(v, str):
            if "\0" in v:
                return where, "contains a NUL character"
            if not v.isascii() and _surrogate(v):
                return where, "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _surrogate(s: str) -> bool:
    try:
        s.encode()
    except UnicodeEncodeError:
        return True
    return False


def _obj(cfg: Config, d: Any, field: str) -> dict[str, Any]:
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise cfg.err(field, "must be an object")
    return d


def check(cfg: Config) -> None:
    d = cfg.data
    ver = d.get("ociVersion")
    if not isinstance(ver, str):
        raise cfg.err("ociVersion", "required string is missing")
    if not ver.startswith("1."):
        raise cfg.err("ociVersion", f"unsupported version {ver!r} (this runtime runs 1.x configs)")
    from pyruntime.spec.versions import is_semver

    if not is_semver(ver):
        raise cfg.err("ociVersion", f"{ver!r} is not a SemVer 2.0.0 version (MAJOR.MINOR.PATCH)")
    root = _obj(cfg, d.get("root"), "root")
    if not isinstance(root.get("path"), str) or not root["path"]:
        raise cfg.err("root.path", "required string is missing")
    for (top, key), what in UNIMPLEMENTED.items():
        section = d.get(top)
        if isinstance(section, dict) and section.get(key) not in (None, "", [], {}):
            raise cfg.err(f"{top}.{key}", f"{what} is not supported by this version of pyruntime")
    proc = _obj(cfg, d.get("process"), "process")
    if proc:
        args = proc.get("args")
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            raise cfg.err("process.args", "must be a non-empty list of strings")
        cwd = proc.get("cwd", "/")
        if not isinstance(cwd, str) or not cwd.startswith("/"):
            raise cfg.err("process.cwd", f"must be an absolute path, got {cwd!r}")
        user = _obj(cfg, proc.get("user"), "process.user")
        for k in ("uid", "gid"):
            if not isinstance(user.get(k, 0), int):
                raise cfg.err(f"process.user.{k}", "must be an integer")
        seen: set[str] = set()
        for i, rl in enumerate(proc.get("rlimits") or []):
            t = rl.get("type")
            if t in seen:
                raise cfg.err(f"process.rlimits[{i}]", f"duplicate rlimit {t}")
            seen.add(t)
    linux = _obj(cfg, d.get("linux"), "linux")
    types: set[str] = set()
    for i, ns in enumerate(linux.get("namespaces") or []):
        t = ns.get("type")
        if t not in NAMESPACE_TYPES:
            raise cfg.err(f"linux.namespaces[{i}].type", f"unknown namespace type {t!r}")
        if t in types:
            raise cfg.err(f"linux.namespaces[{i}]", f"duplicate namespace {t}")
        types.add(t)
        p = ns.get("path")
        if p is not None and (not isinstance(p, str) or not p.startswith("/")):
            raise cfg.err(f"linux.namespaces[{i}].path", f"must be an absolute path, got {p!r}")
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in types:
        raise cfg.err("linux.uidMappings", "user namespace mappings need a user namespace")
    if "user" in types and cfg.new_ns("user") and not (linux.get("uidMappings") and linux.get("gidMappings")):
        raise cfg.err("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
    if linux.get("timeOffsets") and not cfg.new_ns("time"):
        raise cfg.err("linux.timeOffsets", "time offsets need a new time namespace")
    # As runc: a uts namespace of the container's own, new or joined by path (then
    # the name is set there); never the host's.
    if d.get("hostname") and "uts" not in types:
        raise cfg.err("hostname", "setting the hostname needs a uts namespace in linux.namespaces")
    if d.get("domainname") and "uts" not in types:
        raise cfg.err("domainname", "setting the domainname needs a uts namespace in linux.namespaces")
    for i, m in enumerate(d.get("mounts") or []):
        dest = m.get("destination")
        if not isinstance(dest, str) or not dest:
            raise cfg.err(f"mounts[{i}].destination", "required string is missing")
        for key in ("uidMappings", "gidMappings"):
            if m.get(key):
                raise cfg.err(f"mounts[{i}].{key}", "idmapped mounts are not supported by this version "
                                                    "of pyruntime")
    for key in (d.get("annotations") or {}):
        if not key:
            raise cfg.err("annotations", "keys must not be empty")
    for kind, hooks in (d.get("hooks") or {}).items():
        for i, h in enumerate(hooks or []):
            if not isinstance(h.get("path"), str) or not h["path"].startswith("/"):
                raise cfg.err(f"hooks.{kind}[{i}].path", "must be an absolute path")
            t = h.get("timeout")
            if t is not None and (not isinstance(t, int) or t <= 0):
                raise cfg.err(f"hooks.{kind}[{i}].timeout", "must be a positive integer")
