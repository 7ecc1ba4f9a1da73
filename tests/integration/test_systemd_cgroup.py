"""`pyruntime --systemd-cgroup` where systemd runs, against a FAKE systemd.

systemd cannot run on this test machine (it is not PID 1 here), so these
tests start a private `dbus-daemon` on a socket in a tmp dir and a small fake
systemd (FakeSystemd below, using pyruntime's own D-Bus client) that owns
org.freedesktop.systemd1 and answers StartTransientUnit by making the unit's
cgroup directories and moving its PIDs in, and StopUnit by killing what is
left and removing them, each with the JobRemoved signal systemd sends. It is
a stand-in for the peer, not a test of systemd itself. pyruntime is pointed
at it with DBUS_SYSTEM_BUS_ADDRESS and the test-only
PYRUNTIME_SYSTEMD_ASSUME_RUNNING=1. runc 1.1.5 talks to the same fake: it
runs in a mount namespace of its own with a tmpfs on /run/systemd holding an
empty system/ (runc's IsRunningSystemd test), and godbus takes the bus from
DBUS_SYSTEM_BUS_ADDRESS. Where systemd is PID 1, the parallel test runs
against it instead (and the fake ones skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyruntime.cgroups import dbus, systemd
from pyruntime.cgroups.hierarchy import hierarchies
from tests.integration.probes import run_nocapture, wait_for
from tests.support.cgfiles import remove_test_cgroups
from tests.support.isolation import describe

MakeBundle = Callable[..., Path]
# the v1 hierarchies systemd does not put units in (runc joins these itself)
NOT_SYSTEMD = {"freezer", "cpuset", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}


class FakeSystemd:
    def __init__(self, address: str) -> None:
        self.bus = dbus.Connection(address)
        assert self.bus.bus_call("RequestName", "su", [systemd.DEST, 4]) == [1]
        self.calls: list[tuple[str, list[Any]]] = []
        self.units: dict[str, list[str]] = {}
        self.made: list[str] = []
        self.jobs = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                m = self.bus.recv(0.2)
            except dbus.DBusError:
                continue
            if m.type != dbus.METHOD_CALL:
                continue
            self.calls.append((str(m.member), m.body))
            try:
                if m.member == "StartTransientUnit":
                    self._start(m)
                elif m.member == "StopUnit":
                    self._stop_unit(m)
                elif m.member in ("SetUnitProperties", "ResetFailedUnit"):
                    self.bus.reply(m)  # runc's Set: the limits as unit properties too (nothing to do here)
                elif m.member == "Get" and m.body[1:] == ["Version"]:
                    self.bus.reply(m, "v", [("s", "252")])  # runc asks the version (Debian 12's)
                else:
                    self.bus.error(m, "org.freedesktop.DBus.Error.UnknownMethod", str(m.member))
            except Exception as e:  # noqa: BLE001
                self.bus.error(m, "org.freedesktop.DBus.Error.Failed", repr(e))

    def _job(self, m: Message, unit: str) -> None:
        self.jobs += 1
        job = f"/org/freedesktop/systemd1/job/{self.jobs}"
        self.bus.reply(m, "o", [job])
        self.bus.signal(systemd.PATH, systemd.IFACE, "JobRemoved", "uoss", [self.jobs, job, unit, "done"])

    def _start(self, m: Message) -> None:
        name, _mode, props, _aux = m.body
        p = dict(props)
        if name in self.units:
            self.bus.error(m, "org.freedesktop.systemd1.UnitExists", f"Unit {name} already exists.")
            return
        rel = systemd.expand_slice(p["Slice"][1]) + "/" + name
        dirs = []
        for ctrl, mnt in hierarchies().items():
            if ctrl in NOT_SYSTEMD:
                continue
            d = mnt.rstrip("/") + rel
            parent = os.path.dirname(d)
            if not os.path.isdir(parent):
                os.makedirs(parent)
                self.made.append(parent)
            os.mkdir(d)
            dirs.append(d)
            for pid in p.get("PIDs", ("au", []))[1]:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
        self.units[name] = dirs
        self._job(m, name)

    def _stop_unit(self, m: Message) -> None:
        name = m.body[0]
        dirs = self.units.pop(name, None)
        if dirs is None:
            self.bus.error(m, "org.freedesktop.systemd1.NoSuchUnit", f"Unit {name} not loaded.")
            return
        for d in dirs:
            for pid in open(os.path.join(d, "cgroup.procs")).read().split():
                os.kill(int(pid), signal.SIGKILL)
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.01)
        self._job(m, name)

    def close(self) -> None:
        self.stop = True
        self.thread.join(5)
        self.bus.close()
        for d in reversed(self.made):
            try:
                os.rmdir(d)
            except OSError:
                pass


Message = dbus.Message


@pytest.fixture
def fake_systemd(tmp_path: Path) -> Iterator[tuple[str, FakeSystemd]]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("no dbus-daemon (Debian package dbus-daemon)")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs on this host: the fake would not be the one used")
    sock = tmp_path / "bus"
    p = subprocess.Popen([daemon, "--session", f"--address=unix:path={sock}", "--nofork", "--print-address"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert p.stdout is not None
        address = p.stdout.readline().strip()
        assert address.startswith("unix:"), address
        fake = FakeSystemd(address)
        try:
            yield address, fake
        finally:
            fake.close()
    finally:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def test_run_puts_init_in_the_unit(rt: Any, cid: str, make_bundle: MakeBundle,
                                   fake_systemd: tuple[str, FakeSystemd]) -> None:
    if "pyruntime" not in rt.name:
        pytest.skip("pyruntime's D-Bus driver")
    address, fake = fake_systemd
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, PYRUNTIME_SYSTEMD_ASSUME_RUNNING="1")
    limit = 64 << 20

    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = f"system.slice:pyrt:{cid}"
        c["linux"]["resources"] = {"memory": {"limit": limit}, "pids": {"limit": 50}}

    b = make_bundle(["sleep", "30"], mutate=mutate)
    unit = f"pyrt-{cid}.scope"
    base = [rt.path, "--root", str(rt.root), "--systemd-cgroup"]
    err = b.parent / "run.err"  # a file: the detached container keeps its stderr open
    with open(err, "w") as f:
        p = subprocess.run([*base, "run", "-d", "--bundle", str(b), cid], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=f, timeout=60)
    assert p.returncode == 0, err.read_text()
    try:
        start = [body for name, body in fake.calls if name == "StartTransientUnit"]
        assert len(start) == 1 and start[0][0] == unit and start[0][1] == "replace"
        props = dict(start[0][2])
        assert props["Slice"] == ("s", "system.slice")
        assert props["Delegate"] == ("b", True)
        assert props["DefaultDependencies"] == ("b", False)
        assert props["TasksMax"] == ("t", 50)
        mem_prop = "MemoryMax" if set(hierarchies()) == {"unified"} else "MemoryLimit"
        assert props[mem_prop] == ("t", limit)
        assert len(props["PIDs"][1]) == 1

        st = subprocess.run([*base, "state", cid], env=env, capture_output=True, text=True, timeout=30)
        assert st.returncode == 0, describe(st)
        import json

        pid = json.loads(st.stdout)["pid"]
        cg = Path(f"/proc/{pid}/cgroup").read_text()
        assert f"/system.slice/{unit}\n" in cg, cg
        dirs = fake.units[unit]
        for d in dirs:  # the init (and nothing else: the placeholder is gone) in each
            assert Path(d, "cgroup.procs").read_text().split() == [str(pid)], d
        mounts = hierarchies()
        if "memory" in mounts:
            mem = Path(mounts["memory"] + f"/system.slice/{unit}/memory.limit_in_bytes")
            assert int(mem.read_text()) == limit
            assert Path(mounts["pids"] + f"/system.slice/{unit}/pids.max").read_text().strip() == "50"
        else:
            assert int(Path(mounts["unified"] + f"/system.slice/{unit}/memory.max").read_text()) == limit
        dp = subprocess.run([*base, "delete", "--force", cid], env=env, capture_output=True, text=True,
                            timeout=60)
        assert dp.returncode == 0, describe(dp)
        assert ("StopUnit", [unit, "replace"]) in fake.calls
        assert unit not in fake.units
        for d in dirs:
            assert not os.path.exists(d)
        if "freezer" in mounts:  # made by pyruntime (systemd does not), removed by it
            assert not os.path.exists(mounts["freezer"] + f"/system.slice/{unit}")
    finally:
        subprocess.run([*base, "delete", "--force", cid], env=env, capture_output=True, timeout=60)


# -- 30 parallel lifecycles under one new slice (issue 16 item 6.1) ------------------
RUNC = "/usr/sbin/runc"
RUNC_WITH_SYSTEMD_DIR = """#!/bin/sh
# runc with /run/systemd/system present (its IsRunningSystemd test), in a
# private mount namespace: the host's /run/systemd is untouched
exec unshare -m --propagation private sh -c \\
  'mount -t tmpfs -o size=1m pyrt-sd /run/systemd && mkdir /run/systemd/system && exec "$0" "$@"' \\
  {runc} "$@"
"""


def _lifecycles_under_one_slice(rt: Any, make_bundle: MakeBundle, cid: str, env: dict[str, str],
                                units_left: Callable[[list[str]], list[str]], n: int, rounds: int,
                                real_systemd: bool) -> None:
    """n create/start/wait/delete lifecycles at once, each with cgroupsPath
    "<slice>:pyrt:<id>" in one slice none of them finds made (containerd's
    systemd driver lays pods out so), `rounds` times: every command rc 0,
    then no unit (units_left), no scope directory in any hierarchy, no state
    dir. The slice stays, as both runtimes leave it (kubelet removes pods'
    slices); the test removes what is left of it."""
    slice_name = f"pyrtpod{cid[1:]}.slice"
    slice_path = systemd.expand_slice(slice_name)
    b = make_bundle(["true"])
    cfg_text = (b / "config.json").read_text()
    import json

    def life(i: str) -> str:
        cfg = json.loads(cfg_text)
        cfg["root"] = {"path": str(b / "rootfs"), "readonly": True}
        cfg["linux"]["cgroupsPath"] = f"{slice_name}:pyrt:{i}"
        bi = b.parent / f"b-{i}"
        bi.mkdir()
        (bi / "config.json").write_text(json.dumps(cfg))
        for args in (("create", "--bundle", str(bi), i), ("start", i)):
            p = run_nocapture(rt, "--systemd-cgroup", *args, env=env, timeout=60)
            if p.returncode:
                return f"{args[0]}: rc {p.returncode}: {p.stderr.strip()}"

        def stopped() -> bool:
            p = run_nocapture(rt, "--systemd-cgroup", "state", i, env=env)
            return p.returncode == 0 and json.loads(p.stdout)["status"] == "stopped"
        try:
            wait_for(stopped, timeout=30, what=f"{i} to stop")
        except BaseException as e:  # noqa: BLE001 - reported below
            return str(e)
        p = run_nocapture(rt, "--systemd-cgroup", "delete", i, env=env, timeout=60)
        return f"delete: rc {p.returncode}: {p.stderr.strip()}" if p.returncode else ""

    from concurrent.futures import ThreadPoolExecutor

    try:
        for r in range(rounds):
            ids = [f"{cid}-{r}-{i}" for i in range(n)]
            with ThreadPoolExecutor(max_workers=n) as pool:
                results = list(pool.map(life, ids))
            failures = {i: res for i, res in zip(ids, results, strict=True) if res}
            assert not failures, (r, failures)
            units = [f"pyrt-{i}.scope" for i in ids]
            assert units_left(units) == [], r
            for mnt in hierarchies().values():
                for u in units:
                    assert not os.path.exists(mnt.rstrip("/") + f"{slice_path}/{u}"), (mnt, u)
            for i in ids:
                assert not (rt.root / i).exists(), f"state dir of {i} left"
    finally:
        for d in b.parent.glob("b-*"):
            shutil.rmtree(d, ignore_errors=True)
        if real_systemd:
            subprocess.run(["systemctl", "stop", slice_name], capture_output=True, timeout=60)
        remove_test_cgroups(slice_path)


@pytest.fixture(params=["pyruntime", "runc"])
def sd_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """pyruntime, or runc 1.1.5 made to see /run/systemd/system (the wrapper
    above), both on the fake's bus."""
    r = request.getfixturevalue("rt" if request.param == "pyruntime" else "runc")
    if Path(r.path).name != "runc":  # (RUNTIME=/usr/sbin/runc: runc in both)
        return r
    if shutil.which("unshare") is None:
        pytest.skip("no unshare (util-linux) to give runc a /run/systemd/system")
    w = tmp_path / "runc"
    w.write_text(RUNC_WITH_SYSTEMD_DIR.format(runc=r.path))
    w.chmod(0o755)
    r.path = str(w)
    return r


def test_parallel_lifecycles_under_one_new_slice_fake_systemd(
        sd_runtime: Any, cid: str, make_bundle: MakeBundle, fake_systemd: tuple[str, FakeSystemd]) -> None:
    """30 lifecycles at once under one new slice, 10 rounds (300 units), on
    pyruntime and runc 1.1.5 (which gets there with StartTransientUnit,
    SetUnitProperties, StopUnit):
    all rc 0, every unit stopped (the fake holds none), no scope directory
    left on any hierarchy (systemd's and the ones the runtime makes itself:
    freezer, cpuset)."""
    address, fake = fake_systemd
    env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=address, PYRUNTIME_SYSTEMD_ASSUME_RUNNING="1",
               PYRUNTIME_WARM="0")

    def units_left(units: list[str]) -> list[str]:
        return [u for u in units if u in fake.units]

    _lifecycles_under_one_slice(sd_runtime, make_bundle, cid, env, units_left, n=30, rounds=10,
                                real_systemd=False)
    started = [b[0] for name, b in fake.calls if name == "StartTransientUnit"]
    stopped = [b[0] for name, b in fake.calls if name == "StopUnit"]
    assert len(started) == 300 and set(stopped) == set(started), (len(started), len(set(stopped)))


def _systemd_pid1() -> str:
    """Why the real-systemd test cannot run here, or ""."""
    if not Path("/run/systemd/system").is_dir():
        return (f"systemd is not PID 1 on this host (PID 1 is {Path('/proc/1/comm').read_text().strip()!r}, "
                "no /run/systemd/system): the fake-systemd test covers the driver")
    if not Path("/run/dbus/system_bus_socket").exists():
        return "no D-Bus system bus (/run/dbus/system_bus_socket)"
    if shutil.which("systemctl") is None:
        return "no systemctl"
    return ""


def test_parallel_lifecycles_under_one_new_slice_systemd(runtime_any: Any, cid: str,
                                                         make_bundle: MakeBundle) -> None:
    """The same against the host's systemd (PID 1), on pyruntime and runc:
    30 lifecycles at once, 10 rounds, then `systemctl list-units --all` shows
    none of the scopes and no scope directory is left; the slice is stopped
    by the test (as kubelet removes a pod's)."""
    why = _systemd_pid1()
    if why:
        pytest.skip(why)
    env = dict(os.environ, PYRUNTIME_WARM="0")

    def units_left(units: list[str]) -> list[str]:
        p = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", *units],
                           capture_output=True, text=True, timeout=60)
        return [ln.split()[0] for ln in p.stdout.splitlines() if ln.strip()]

    _lifecycles_under_one_slice(runtime_any, make_bundle, cid, env, units_left, n=30, rounds=10,
                                real_systemd=True)


@pytest.fixture(params=["pyruntime", "runc"])
def runtime_any(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("rt" if request.param == "pyruntime" else "runc")
