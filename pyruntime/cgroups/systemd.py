"""`--systemd-cgroup`: the systemd cgroup driver's side of a container's
cgroup (runc libcontainer/cgroups/systemd, specconv.CreateCgroupConfig).

With the driver, linux.cgroupsPath is "slice:prefix:name" (empty: the
default "system.slice", prefix "runc", the container id). The container's
cgroup is the transient unit <prefix>-<name>.scope (or <name> itself when it
ends in ".slice") inside the slice, whose directory is the slice name
expanded on its dashes: "a-b.slice" is /a.slice/a-b.slice.

The driver needs systemd as PID 1 (runc's test: /run/systemd/system is a
directory); without it the error says so and points to the cgroupfs driver.
(Test-only: PYRUNTIME_SYSTEMD_ASSUME_RUNNING=1 skips that check, so that the
tests can point DBUS_SYSTEM_BUS_ADDRESS at a private bus with a fake systemd
on a host where systemd does not run.)

Where systemd runs, the unit is created over D-Bus (cgroups/dbus.py):
org.freedesktop.systemd1.Manager.StartTransientUnit(name, "replace",
[Description, Slice, Delegate=true, DefaultDependencies=false, PIDs, and the
limits systemd knows: MemoryMax/MemoryLimit, TasksMax, CPUWeight/CPUShares,
CPUQuotaPerSecUSec], []) and the driver waits for the job's JobRemoved. The
PID in the unit is a placeholder (a forked pyruntime that only pauses): our
init is forked later by the intermediate process, which then joins the
unit's cgroup as with the cgroupfs driver; the placeholder is killed once the
init is inside (apply, in create's on_pid). From then on the unit's cgroup
directories are handled as the cgroupfs managers (manager.py, v2.py) handle
theirs: limits (all of them written as files, as runc's driver falls back for
what systemd has no property for), freezing, killing, listing; directories
systemd did not make (v1 freezer, cpuset...) are made and removed by us, as
runc's legacy driver joins them. delete kills and then stops the unit
(StopUnit). The state records the base manager's kind ("v1"/"v2", so events
and update read it unchanged) and "driver": "systemd".
"""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cgroups.manager import Manager

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


ASSUME_RUNNING_ENV = "PYRUNTIME_SYSTEMD_ASSUME_RUNNING"  # test-only, see the module doc


def systemd_running(run_dir: str = SYSTEMD_RUN_DIR) -> bool:
    """runc's IsRunningSystemd: systemd (as PID 1) has made /run/systemd/system."""
    if os.environ.get(ASSUME_RUNNING_ENV) == "1":
        return True
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
    return sc


def for_config(sc: SystemdCgroup, cid: str, mounts: dict[str, str],
               resources: dict[str, Any] | None = None) -> Manager:
    """The manager of the unit's cgroup: the cgroupfs manager of this host
    (v1/hybrid or v2) for the directory sc.path, with the unit's part."""
    from pyruntime.cgroups import factory

    # with_unified: on a hybrid host systemd places the unit in the cgroup2
    # tree too; the init joins it there as well.
    base = factory.for_config(sc.path, cid, mounts, with_unified=True)
    m = _manager(base, sc)
    m.resources = resources  # type: ignore[attr-defined]  # for the unit's properties
    return m


def from_state(d: dict[str, Any], base: Manager) -> Manager:
    u = d.get("systemd") or {}
    sc = SystemdCgroup(str(u.get("slice") or DEFAULT_SLICE), str(u.get("prefix") or ""),
                       str(u.get("name") or ""))
    return _manager(base, sc)


_classes: dict[type, type] = {}


def _manager(base: Manager, sc: SystemdCgroup) -> Manager:
    """base, re-classed as a subclass of its own class with the unit's part
    (so code that reads a v2 manager's attributes works unchanged)."""
    cls = type(base)
    sub = _classes.get(cls)
    if sub is None:
        sub = type(f"Systemd{cls.__name__}", (_UnitMixin, cls), {})
        _classes[cls] = sub
    base.__class__ = sub
    m: Any = base
    m.unit = sc
    m.placeholder = 0
    m.resources = None
    return base


class _UnitMixin:
    """What the systemd driver changes in a cgroupfs manager."""

    unit: SystemdCgroup
    placeholder: int
    resources: dict[str, Any] | None

    def to_state(self) -> dict[str, Any]:
        d: dict[str, Any] = super().to_state()  # type: ignore[misc]
        d["driver"] = "systemd"
        d["systemd"] = {"slice": self.unit.slice, "prefix": self.unit.prefix, "name": self.unit.name,
                        "unit": self.unit.unit}
        return d

    def create(self) -> None:
        """Start the transient unit (with a placeholder pid), wait for its
        job, then make what systemd did not (cgroupfs)."""
        from pyruntime.cgroups import dbus

        pid = 0 if self.unit.unit.endswith(".slice") else _placeholder()
        self.placeholder = pid
        try:
            with dbus.Connection() as bus:
                start_unit(bus, self.unit, pid, self.resources,
                           v2=self.to_state().get("kind") == "v2")
        except BaseException:
            self._end_placeholder()
            raise
        super().create()  # type: ignore[misc]

    def apply(self, resources: dict[str, Any] | None) -> None:
        self._end_placeholder()  # the init is in the cgroup now (create's on_pid)
        super().apply(resources)  # type: ignore[misc]

    def _end_placeholder(self) -> None:
        if self.placeholder:
            sc.kill_and_reap(self.placeholder)
            self.placeholder = 0

    def destroy(self) -> None:
        """Kill and remove what we made, then stop the unit, whether the
        first part succeeded or not (runc's legacy Destroy stops the unit and
        removes the paths on success and on error alike). The slice stays,
        as runc leaves it: other pods' containers may be in it."""
        self._end_placeholder()
        try:
            super().destroy()  # type: ignore[misc]
        finally:
            from pyruntime.cgroups import dbus

            try:
                with dbus.Connection() as bus:
                    stop_unit(bus, self.unit.unit)
            except dbus.DBusError as e:
                raise PyruntimeError(f"--systemd-cgroup: stopping {self.unit.unit}: {e}") from None


def _placeholder() -> int:
    """A child that only waits (and dies within 60 s whatever happens)."""
    import _signal

    pid = os.fork()
    if pid == 0:
        try:
            _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
            _signal.alarm(60)
            while True:
                _signal.pause()
        finally:
            os._exit(0)
    return pid




# -- org.freedesktop.systemd1 -----------------------------------------------------------
DEST = "org.freedesktop.systemd1"
PATH = "/org/freedesktop/systemd1"
IFACE = "org.freedesktop.systemd1.Manager"
JOB_TIMEOUT = 30.0  # runc's
UINT64_MAX = (1 << 64) - 1


def unit_properties(sc: SystemdCgroup, pid: int, resources: dict[str, Any] | None,
                    v2: bool) -> list[tuple[str, tuple[str, Any]]]:
    """StartTransientUnit's a(sv), as runc's systemd drivers build it."""
    props: list[tuple[str, tuple[str, Any]]] = [
        ("Description", ("s", f"pyruntime container {sc.name}"))]
    if sc.unit.endswith(".slice"):
        props.append(("Wants", ("as", [sc.slice])))
    else:
        props.append(("Slice", ("s", sc.slice)))
        props.append(("Delegate", ("b", True)))
    if pid:
        props.append(("PIDs", ("au", [pid])))
    props.append(("DefaultDependencies", ("b", False)))
    res = resources or {}
    mem = res.get("memory") or {}
    if mem.get("limit") is not None and int(mem["limit"]) != 0:
        lim = int(mem["limit"])
        props.append(("MemoryMax" if v2 else "MemoryLimit", ("t", UINT64_MAX if lim < 0 else lim)))
    pids = res.get("pids") or {}
    if pids.get("limit") is not None and int(pids["limit"]) != 0:
        lim = int(pids["limit"])
        props.append(("TasksMax", ("t", UINT64_MAX if lim < 0 else lim)))
    cpu = res.get("cpu") or {}
    if cpu.get("shares"):
        if v2:
            from pyruntime.cgroups.v2 import shares_to_weight

            props.append(("CPUWeight", ("t", shares_to_weight(int(cpu["shares"])))))
        else:
            props.append(("CPUShares", ("t", int(cpu["shares"]))))
    quota, period = int(cpu.get("quota") or 0), int(cpu.get("period") or 0)
    if quota != 0 or period != 0:
        period = period or 100000
        # runc's addCpuQuota: per second, rounded up to whole 10 ms
        per_sec = UINT64_MAX if quota <= 0 else ((quota * 1000000 // period + 9999) // 10000) * 10000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return props


def _watch_jobs(bus: Any) -> None:
    bus.bus_call("AddMatch", "s", [f"type='signal',sender='{DEST}',path='{PATH}',interface='{IFACE}',"
                                   "member='JobRemoved'"])


def _wait_job(bus: Any, job: str, what: str) -> str:
    """JobRemoved(u id, o job, s unit, s result) for job: its result."""
    import time

    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PyruntimeError(f"--systemd-cgroup: {what}: timed out waiting for job {job}")
        m = bus.recv(left)
        if m.member == "JobRemoved" and m.interface == IFACE and len(m.body) == 4 and m.body[1] == job:
            return str(m.body[3])


def start_unit(bus: Any, sc: SystemdCgroup, pid: int, resources: dict[str, Any] | None,
               v2: bool) -> None:
    from pyruntime.cgroups.dbus import DBusError

    what = f"starting {sc.unit} in {sc.slice}"
    props = unit_properties(sc, pid, resources, v2)
    try:
        _watch_jobs(bus)
        job = str(bus.call(DEST, PATH, IFACE, "StartTransientUnit", "ssa(sv)a(sa(sv))",
                           [sc.unit, "replace", props, []])[0])
    except DBusError as e:
        if e.name == "org.freedesktop.systemd1.UnitExists":
            raise PyruntimeError(f"--systemd-cgroup: {what}: the unit exists already "
                                 "(another container with this cgroupsPath?)") from None
        raise PyruntimeError(f"--systemd-cgroup: {what}: {e}") from None
    result = _wait_job(bus, job, what)
    if result != "done":
        raise PyruntimeError(f"--systemd-cgroup: {what}: the job ended {result!r} (see journalctl -u "
                             f"{sc.unit})")


def stop_unit(bus: Any, unit: str) -> None:
    """StopUnit and wait; a unit already gone (systemd stops an emptied scope
    by itself) is not an error."""
    from pyruntime.cgroups.dbus import DBusError

    try:
        _watch_jobs(bus)
        job = str(bus.call(DEST, PATH, IFACE, "StopUnit", "ss", [unit, "replace"])[0])
    except DBusError as e:
        if e.name == "org.freedesktop.systemd1.NoSuchUnit":
            return
        raise
    _wait_job(bus, job, f"stopping {unit}")
