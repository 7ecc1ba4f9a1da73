"""linux.resources.unified: cgroup v2 files set by name (runtime-spec 1.0.2,
runc 1.2's fs2 setUnified, crun). Each key is a file of the container's
cgroup2 directory, each value written to it line by line (io.max and
others take one entry a write). Applied last, so a key wins over the same
file written from the other resources fields.

Where: the one cgroup2 tree of a pure v2 host, or the cgroup2 hierarchy of
a hybrid host (crun's behaviour; runc 1.1.5 refuses unified there).

Errors are ConfigErrors naming linux.resources.unified["<key>"]: a key that
is not a plain file name (checked before anything is made), a controller
the parent does not offer in cgroup.controllers (or cannot give its
children: cgroup v2's no-internal-process rule), a file the cgroup does
not have, a value the kernel refuses. create then undoes everything."""

from __future__ import annotations

import os

from pyruntime.errors import ConfigError, PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CORE = "cgroup"  # cgroup.* files: in every cgroup2 cgroup, no controller


def field(key: str) -> str:
    return f'linux.resources.unified["{key}"]'


def check_keys(unified: Any) -> None:
    """What can be told from the config alone: a plain file name, a string value."""
    if not isinstance(unified, dict):
        raise ConfigError("linux.resources.unified: must be an object of file names to values",
                          field="linux.resources.unified")
    for key, value in unified.items():
        if not key or "/" in key or key in (".", "..") or ".." in key or "\0" in key:
            raise ConfigError(f"{field(key)}: not a cgroup file name (no '/' or '..')", field=field(key))
        if not isinstance(value, str):
            raise ConfigError(f"{field(key)}: the value must be a string", field=field(key))


def _controllers(d: str, fname: str) -> set[str]:
    try:
        with open(os.path.join(d, fname)) as f:
            return set(f.read().split())
    except OSError:
        return set()


def apply(path: str, unified: dict[str, Any], mount: str) -> None:
    """Write each entry into the cgroup2 directory path (mount: the cgroup2 mount above it)."""
    check_keys(unified)
    from pyruntime.cgroups.v1_resources import enable_in_parents

    parent = os.path.dirname(path.rstrip("/"))
    for key, value in unified.items():
        fld = field(key)
        ctrl = key.split(".", 1)[0] if "." in key else ""
        if ctrl and ctrl != CORE and ctrl not in _controllers(path, "cgroup.controllers"):
            # a controller's files appear once the parent gives it in cgroup.subtree_control
            if ctrl not in _controllers(parent, "cgroup.controllers"):
                raise ConfigError(f"{fld}: the {ctrl} controller is not available in {parent} "
                                  "(not in its cgroup.controllers)", field=fld, path=parent)
            try:
                enable_in_parents(mount, path, ctrl, fld)
            except PyruntimeError as e:
                raise ConfigError(str(e), field=fld, path=e.path) from None
        target = os.path.join(path, key)
        if not os.path.isfile(target):
            raise ConfigError(f"{fld}: {path} has no such file", field=fld, path=target)
        lines = [ln for ln in value.split("\n") if ln] or [value]  # runc's WriteFileByLine
        for line in lines:
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            except OSError as e:
                raise ConfigError(f"{fld}: writing {line!r} to {target}: {os.strerror(e.errno or 0)}",
                                  field=fld, path=target) from None
