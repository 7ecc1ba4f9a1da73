"""CDI: devices named in `cdi.k8s.io/<key>` annotations, applied to the config
from the CDI specs in /etc/cdi and /var/run/cdi (Container Device Interface,
cncf-tags/container-device-interface SPEC.md, pkg/cdi).

Imported by create only when such an annotation exists (it pulls in PyYAML
for YAML specs): a create without one pays nothing.

- Annotation values are comma-separated qualified names `vendor.com/class=name`.
- Specs are `*.json`, `*.yaml`, `*.yml` files in the spec directories
  (PYRUNTIME_CDI_SPEC_DIRS=dir:dir overrides the two defaults); a device in a
  later directory overrides the same one in an earlier (/var/run/cdi wins over
  /etc/cdi); the same device twice in one directory is a conflict. A spec that
  does not load is named in the error only if a requested device cannot be
  found elsewhere.
- Edits, as pkg/cdi/container-edits.go applies them, the spec's own
  containerEdits once, then each device's: env (a name set again replaces the
  old value); deviceNodes into linux.devices (type, major, minor and fileMode
  from hostPath, or path, when not given; uid/gid the process's when not
  given; one at the same path replaced) each with a linux.resources.devices
  allow rule (permissions, default rwm); mounts (one at the same containerPath
  replaced; then all mounts sorted by path depth, stably); hooks appended to
  their stage; additionalGids; netDevices into linux.netDevices. intelRdt is
  refused (pyruntime does not do Intel RDT).
- The edited config is validated again, and snapshotted as the config.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from pyruntime import jsonfast
from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config

PREFIX = "cdi.k8s.io/"
DIRS_ENV = "PYRUNTIME_CDI_SPEC_DIRS"
DEFAULT_DIRS = ("/etc/cdi", "/var/run/cdi")
VERSIONS = ("0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")
SPEC_KEYS = {"cdiVersion", "kind", "annotations", "devices", "containerEdits"}
DEVICE_KEYS = {"name", "annotations", "containerEdits"}
EDIT_KEYS = {"env", "deviceNodes", "hooks", "mounts", "intelRdt", "additionalGids", "netDevices"}
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
_ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def wanted(annotations: dict[str, str]) -> bool:
    return any(k.startswith(PREFIX) for k in annotations)


def _name_ok(s: str, extra: str) -> bool:
    return bool(s) and s[0] in _ALNUM and s[-1] in _ALNUM and all(c in _ALNUM or c in extra for c in s)


def parse_qualified(name: str) -> tuple[str, str]:
    """'nvidia.com/gpu=0' → ('nvidia.com/gpu', '0'); ValueError when malformed."""
    kind, sep, dev = name.partition("=")
    vendor, slash, cls = kind.partition("/")
    if not sep or not slash:
        raise ValueError("want vendor.com/class=name")
    if not _name_ok(vendor, ".-"):
        raise ValueError(f"invalid vendor {vendor!r}")
    if not _name_ok(cls, "_.-"):
        raise ValueError(f"invalid class {cls!r}")
    if not _name_ok(dev, "_.-:"):
        raise ValueError(f"invalid device name {dev!r}")
    return kind, dev


def requested(annotations: dict[str, str]) -> list[tuple[str, str, str]]:
    """[(annotation key, kind, device name)] in annotation order, each device once."""
    out: list[tuple[str, str, str]] = []
    for key, value in annotations.items():
        if not key.startswith(PREFIX):
            continue
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            try:
                kind, dev = parse_qualified(item)
            except ValueError as e:
                raise ConfigError(f"annotations[{key!r}]: CDI device {item!r}: {e}", field="annotations") from None
            if not any(k == kind and d == dev for _, k, d in out):
                out.append((key, kind, dev))
    return out


def spec_dirs() -> list[str]:
    env = os.environ.get(DIRS_ENV)
    return [d for d in env.split(":") if d] if env is not None else list(DEFAULT_DIRS)


def _load_file(path: str) -> Any:
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".json"):
        return jsonfast.loads(data)
    import yaml  # PyYAML, only for YAML specs

    return yaml.safe_load(data)


def check_spec(spec: Any, path: str) -> None:
    """Raise ValueError naming the field when `spec` is not a usable CDI spec."""
    if not isinstance(spec, dict):
        raise ValueError("not a mapping")
    for k in spec:
        if k not in SPEC_KEYS:
            raise ValueError(f"unknown field {k!r}")
    if spec.get("cdiVersion") not in VERSIONS:
        raise ValueError(f"cdiVersion: {spec.get('cdiVersion')!r} is not one of {', '.join(VERSIONS)}")
    kind = spec.get("kind")
    try:
        parse_qualified(f"{kind}=x")
    except ValueError as e:
        raise ValueError(f"kind: {kind!r}: {e}") from None
    devices = spec.get("devices")
    if not isinstance(devices, list) or not devices:
        raise ValueError("devices: want a non-empty list")
    for i, d in enumerate(devices):
        if not isinstance(d, dict) or not _name_ok(str(d.get("name", "")), "_.-:"):
            raise ValueError(f"devices[{i}].name: missing or invalid")
        for k in d:
            if k not in DEVICE_KEYS:
                raise ValueError(f"devices[{i}]: unknown field {k!r}")
        _check_edits(d.get("containerEdits"), f"devices[{i}].containerEdits", required=True)
    _check_edits(spec.get("containerEdits"), "containerEdits", required=False)


def _check_edits(e: Any, field: str, required: bool) -> None:
    if e is None and not required:
        return
    if not isinstance(e, dict):
        raise ValueError(f"{field}: want a mapping")
    for k, v in e.items():
        if k not in EDIT_KEYS:
            raise ValueError(f"{field}: unknown field {k!r}")
        if k != "intelRdt" and v is not None and not isinstance(v, list):
            raise ValueError(f"{field}.{k}: want a list")
    for i, n in enumerate(e.get("deviceNodes") or []):
        if not isinstance(n, dict) or not str(n.get("path", "")).startswith("/"):
            raise ValueError(f"{field}.deviceNodes[{i}].path: want an absolute path")
    for i, m in enumerate(e.get("mounts") or []):
        if not isinstance(m, dict) or not m.get("hostPath") or not str(m.get("containerPath", "")).startswith("/"):
            raise ValueError(f"{field}.mounts[{i}]: want hostPath and an absolute containerPath")
    for i, h in enumerate(e.get("hooks") or []):
        if not isinstance(h, dict) or h.get("hookName") not in HOOK_STAGES or not str(h.get("path", "")).startswith("/"):
            raise ValueError(f"{field}.hooks[{i}]: want hookName (one of {', '.join(HOOK_STAGES)}) "
                             f"and an absolute path")


class Registry:
    """Every device of every spec in the spec directories."""

    def __init__(self, dirs: list[str]) -> None:
        self.dirs = dirs
        self.devices: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any], str]] = {}
        self.broken: list[str] = []
        for d in dirs:
            seen: dict[tuple[str, str], str] = {}
            try:
                names = sorted(os.listdir(d))
            except FileNotFoundError:
                continue
            except OSError as e:
                self.broken.append(f"{d}: {os.strerror(e.errno or 0)}")
                continue
            for n in names:
                if not n.endswith((".json", ".yaml", ".yml")):
                    continue
                path = os.path.join(d, n)
                try:
                    spec = _load_file(path)
                    check_spec(spec, path)
                except Exception as e:  # noqa: BLE001 - any parse error: the file is unusable
                    self.broken.append(f"{path}: {e}")
                    continue
                for dev in spec["devices"]:
                    key = (spec["kind"], str(dev["name"]))
                    if key in seen:
                        raise ConfigError(f"CDI: device {key[0]}={key[1]} is defined twice in {d}: "
                                          f"{seen[key]} and {path}", path=path)
                    seen[key] = path
                    self.devices[key] = (spec, dev, path)

    def find(self, annotation: str, kind: str, name: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        hit = self.devices.get((kind, name))
        if hit is None:
            where = ", ".join(self.dirs) or "no directory"
            extra = f"; spec files that did not load: {'; '.join(self.broken)}" if self.broken else ""
            raise ConfigError(f"annotations[{annotation!r}]: unresolvable CDI device {kind}={name} "
                              f"(no spec in {where} defines it{extra})", field="annotations")
        return hit


def apply(cfg: Config) -> None:
    """Apply the requested devices' edits to cfg (data and raw)."""
    reqs = requested(cfg.annotations)
    if not reqs:
        return
    reg = Registry(spec_dirs())
    hits = [(ann, *reg.find(ann, kind, name)) for ann, kind, name in reqs]
    done_specs: list[str] = []
    for _ann, spec, _dev, path in hits:
        if path not in done_specs:
            done_specs.append(path)
            _edit(cfg.data, spec.get("containerEdits") or {}, path)
    for _ann, _spec, dev, path in hits:
        _edit(cfg.data, dev["containerEdits"], path)
    _sort_mounts(cfg.data)
    from pyruntime.spec.load import check
    from pyruntime.spec.validator import validate

    errors = validate(cfg.data)
    if errors:
        raise ConfigError(f"{cfg.path}: after the CDI edits of {', '.join(done_specs)}: "
                          f"{errors[0].path}: {errors[0].problem}", field=errors[0].path)
    check(cfg)
    cfg.raw = jsonfast.dumps(cfg.data).encode()


def _edit(data: dict[str, Any], e: dict[str, Any], path: str) -> None:
    if e.get("intelRdt"):
        raise ConfigError(f"{path}: containerEdits.intelRdt: Intel RDT is not supported by pyruntime",
                          path=path)
    proc = data.setdefault("process", {})
    linux = data.setdefault("linux", {})
    if e.get("env"):
        env = proc.setdefault("env", [])
        for item in e["env"]:
            name = str(item).split("=", 1)[0]
            env[:] = [x for x in env if x.split("=", 1)[0] != name] + [str(item)]
    for n in e.get("deviceNodes") or []:
        dev = _device(n, proc, path)
        devices = linux.setdefault("devices", [])
        devices[:] = [d for d in devices if d.get("path") != dev["path"]] + [dev]
        if dev["type"] in ("b", "c"):
            access = n.get("permissions") or "rwm"
            rules = linux.setdefault("resources", {}).setdefault("devices", [])
            rules.append({"allow": True, "type": dev["type"], "major": dev["major"], "minor": dev["minor"],
                          "access": access})
    for m in e.get("mounts") or []:
        mounts = data.setdefault("mounts", [])
        oci: dict[str, Any] = {"destination": m["containerPath"], "source": m["hostPath"]}
        if m.get("type"):
            oci["type"] = m["type"]
        if m.get("options"):
            oci["options"] = list(m["options"])
        mounts[:] = [x for x in mounts if x.get("destination") != oci["destination"]] + [oci]
    for h in e.get("hooks") or []:
        hook = {k: h[k] for k in ("path", "args", "env", "timeout") if h.get(k) is not None}
        data.setdefault("hooks", {}).setdefault(h["hookName"], []).append(hook)
    gids = [int(g) for g in e.get("additionalGids") or [] if int(g) != 0]
    if gids:
        have = proc.setdefault("user", {}).setdefault("additionalGids", [])
        for g in gids:
            if g not in have:
                have.append(g)
    for nd in e.get("netDevices") or []:
        linux.setdefault("netDevices", {})[nd["hostInterfaceName"]] = {"name": nd["name"]}


def _device(n: dict[str, Any], proc: dict[str, Any], path: str) -> dict[str, Any]:
    dev: dict[str, Any] = {"path": n["path"]}
    host = n.get("hostPath") or n["path"]
    typ, major, minor, mode = n.get("type"), n.get("major"), n.get("minor"), n.get("fileMode")
    if not typ or (major is None and typ != "p"):  # CDI's fillMissingInfo: only then from the host
        try:
            st = os.stat(host)
        except OSError as e:
            raise ConfigError(f"{path}: deviceNodes {n['path']}: {host}: {os.strerror(e.errno or 0)}",
                              path=host) from None
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b" if stat.S_ISBLK(st.st_mode) else \
            "p" if stat.S_ISFIFO(st.st_mode) else None
        if kind is None:
            raise ConfigError(f"{path}: deviceNodes {n['path']}: {host} is not a device node", path=host)
        if not typ or major is None:
            typ, major, minor = kind, os.major(st.st_rdev), os.minor(st.st_rdev)
        if mode is None:
            mode = stat.S_IMODE(st.st_mode)
    dev.update({"type": typ, "major": int(major or 0), "minor": int(minor or 0)})
    if mode is not None:
        dev["fileMode"] = int(mode)
    user = proc.get("user") or {}
    for k in ("uid", "gid"):
        v = n.get(k, user.get(k) if (user.get(k) or 0) > 0 else None)
        if v is not None:
            dev[k] = int(v)
    return dev


def _sort_mounts(data: dict[str, Any]) -> None:
    """By the number of path components of the destination, stably (CDI's
    sortMounts): a mount never lands under one made after it."""
    def depth(m: dict[str, Any]) -> int:
        return len([p for p in os.path.normpath(str(m.get("destination", ""))).split("/") if p])

    if data.get("mounts"):
        data["mounts"].sort(key=depth)
