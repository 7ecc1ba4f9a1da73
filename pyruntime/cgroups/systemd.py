"""`--systemd-cgroup`: the systemd cgroup driver's side of a container's
cgroup (runc libcontainer/cgroups/systemd, specconv.CreateCgroupConfig).

With the driver, linux.cgroupsPath is "slice:prefix:name" (empty: the
default "system.slice", prefix "runc", the container id). The container's
cgroup is the transient unit <prefix>-<name>.scope (or <name> itself when it
ends in ".slice") inside the slice, whose directory is the slice name
expanded on its dashes: "a-b.slice" is /a.slice/a-b.slice.

The driver needs systemd as PID 1 (runc's test: /run/systemd/system is a
directory); without it the error says so and points to the cgroupfs driver.
Where systemd runs, the unit would be created over D-Bus
(org.freedesktop.systemd1.Manager.StartTransientUnit with PIDs, Delegate=yes,
Slice=): that part is not written yet, and is refused by name.
"""

from __future__ import annotations

import os

from pyruntime.errors import PyruntimeError

SYSTEMD_RUN_DIR = "/run/systemd/system"
DEFAULT_SLICE = "system.slice"
DEFAULT_PREFIX = "runc"
FIELD = "linux.cgroupsPath"
_UNIT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@")
UNIT_NAME_MAX = 255  # systemd's UNIT_NAME_MAX (with the suffix)


class SystemdCgroup:
    """A parsed "slice:prefix:name" cgroupsPath."""

    def __init__(self, slice_name: str, prefix: str, name: str) -> None:
        self.slice = slice_name
        self.prefix = prefix
        self.name = name

    @property
    def unit(self) -> str:
        """runc's getUnitName: a scope unless the name asks for a slice."""
        if self.name.endswith(".slice"):
            return self.name
        return f"{self.prefix}-{self.name}.scope" if self.prefix else f"{self.name}.scope"

    @property
    def slice_path(self) -> str:
        return expand_slice(self.slice)

    @property
    def path(self) -> str:
        """The unit's cgroup, from the hierarchy root."""
        return os.path.join(self.slice_path, self.unit)

    def __repr__(self) -> str:
        return f"SystemdCgroup({self.slice!r}, {self.prefix!r}, {self.name!r})"


def expand_slice(slice_name: str) -> str:
    """"a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is the root.
    runc's ExpandSlice rules: ends in ".slice", no "/", no empty dash-part."""
    suffix = ".slice"
    if not slice_name.endswith(suffix) or "/" in slice_name:
        raise PyruntimeError(f"{FIELD}: invalid slice name: {slice_name}", field=FIELD)
    stem = slice_name[:-len(suffix)]
    if stem == "-":
        return "/"
    path = prefix = ""
    for part in stem.split("-"):
        if not part:  # "test--a.slice", "-test.slice", ".slice"
            raise PyruntimeError(f"{FIELD}: invalid slice name: {slice_name}", field=FIELD)
        path += f"/{prefix}{part}{suffix}"
        prefix += f"{part}-"
    return path


def _check_unit_name(what: str, value: str) -> None:
    bad = sorted(set(value) - _UNIT_CHARS)
    if bad:
        raise PyruntimeError(f"{FIELD}: {what} {value!r} has characters a systemd unit name cannot "
                             f"hold: {''.join(bad)!r}", field=FIELD)


def parse_cgroups_path(cgroups_path: str | None, cid: str) -> SystemdCgroup:
    """linux.cgroupsPath for the systemd driver (runc's rules)."""
    if not cgroups_path:
        sc = SystemdCgroup(DEFAULT_SLICE, DEFAULT_PREFIX, cid)
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise PyruntimeError(f'{FIELD}: expected cgroupsPath to be of format "slice:prefix:name" '
                                 f"for systemd cgroups, got {cgroups_path!r} instead", field=FIELD)
        sc = SystemdCgroup(parts[0] or DEFAULT_SLICE, parts[1], parts[2])
    if not sc.name:
        raise PyruntimeError(f"{FIELD}: {cgroups_path!r}: the name (slice:prefix:name) is empty",
                             field=FIELD)
    _check_unit_name("prefix", sc.prefix)
    _check_unit_name("name", sc.name)
    if len(sc.unit) > UNIT_NAME_MAX:
        raise PyruntimeError(f"{FIELD}: unit name {sc.unit!r} is longer than {UNIT_NAME_MAX} "
                             "characters", field=FIELD)
    expand_slice(sc.slice)
    if sc.unit.endswith(".slice"):
        expand_slice(sc.unit)
    return sc


def systemd_running(run_dir: str = SYSTEMD_RUN_DIR) -> bool:
    """runc's IsRunningSystemd: systemd (as PID 1) has made /run/systemd/system."""
    return os.path.isdir(run_dir) and not os.path.islink(run_dir)


def not_running_error() -> PyruntimeError:
    return PyruntimeError(f"--systemd-cgroup: systemd is not running on this host (no {SYSTEMD_RUN_DIR}); "
                          "use the cgroupfs driver (no --systemd-cgroup)")


def prepare(cgroups_path: str | None, cid: str, run_dir: str = SYSTEMD_RUN_DIR) -> SystemdCgroup:
    """The container's unit for `create --systemd-cgroup`: the path is checked
    first (as runc parses it before it looks for systemd), then systemd."""
    sc = parse_cgroups_path(cgroups_path, cid)
    if not systemd_running(run_dir):
        raise not_running_error()
    raise PyruntimeError(f"--systemd-cgroup: systemd runs here, but creating the transient unit "
                         f"{sc.unit} in {sc.slice} over D-Bus (StartTransientUnit) is not implemented "
                         "in this version; use the cgroupfs driver (no --systemd-cgroup)")
