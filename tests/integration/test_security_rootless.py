"""Rootless mode: the runtime run by an unprivileged user (a user made for
the test, removed after), with a user namespace that maps root inside to
that user outside (`spec --rootless`), state under $XDG_RUNTIME_DIR,
cgroups left out (or used where delegated to the user), and what an
unprivileged user cannot do refused with a clear error and nothing left.

RUNTIME=/usr/sbin/runc runs the same tests against runc (`runc spec
--rootless` gives the same config as pyruntime's, test_spec_rootless_is_runcs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyruntime.rootless import to_rootless
from tests.conftest import Runtime
from tests.integration.probes import (
    CGROUP_ROOT,
    cgroup_dirs,
    remove_cgroups,
    run_nocapture,
    status_of,
    wait_status,
)
from tests.support.bundle import base_config, write_bundle
from tests.support.isolation import describe, v1_hierarchies
from tests.support.runc import is_runc
from tests.support.security import Observe, interpreter_for, unprivileged_launcher


class User:
    def __init__(self, name: str) -> None:
        self.name = name
        self.uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
        self.gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True, check=True).stdout)


@pytest.fixture
def user() -> Iterator[User]:
    """An unprivileged user of our own (useradd), removed afterwards."""
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd to make an unprivileged user")
    name = f"pyrtrl{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    name], check=True, capture_output=True)
    try:
        yield User(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


class UserRuntime:
    """The runtime run as `user` with a clean environment, XDG_RUNTIME_DIR
    set and no --root: the state goes to the rootless default."""

    def __init__(self, path: str, user: User, top: Path, name: str) -> None:
        self.path = path
        self.name = name
        self.user = user
        self.xdg = top / "xdg"
        self.root = self.xdg / ("runc" if name == "runc" else "pyruntime")

    def cmd(self, *args: str) -> list[str]:
        return ["setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--clear-groups",
                "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"XDG_RUNTIME_DIR={self.xdg}", "HOME=/",
                self.path, *args]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=timeout)

    def cleanup(self) -> None:
        if self.root.is_dir():
            for entry in self.root.iterdir():
                self("delete", "--force", entry.name)


@pytest.fixture
def top(user: User) -> Iterator[Path]:
    """A directory the user can reach: bundles, $XDG_RUNTIME_DIR (the user's, 0700)."""
    d = Path(tempfile.mkdtemp(prefix="pyrt-rootless-"))
    os.chmod(d, 0o755)
    (d / "xdg").mkdir(mode=0o700)
    os.chown(d / "xdg", user.uid, user.gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def urt(rt: Runtime, user: User, top: Path) -> Iterator[UserRuntime]:
    if rt.name == "pyruntime":
        interp = interpreter_for(user.uid, user.gid, rt.path)
        if interp is None:
            pytest.skip("no Python interpreter this unprivileged user may run with pyruntime's site-packages")
        path = unprivileged_launcher(rt.path, interp, top)
    else:
        path = rt.path
    r = UserRuntime(path, user, top, rt.name)
    yield r
    r.cleanup()


def rootless_bundle(top: Path, busybox_rootfs: Path, user: User, args: list[str],
                    mutate: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """runc's `spec --rootless` config (our to_rootless, checked against runc
    below), mapping root to the user; rootfs and bundle owned by the user."""
    cfg = to_rootless(base_config(args))
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1}]
    if mutate is not None:
        mutate(cfg)
    b = write_bundle(top / f"bundle-{uuid.uuid4().hex[:6]}", cfg, rootfs_src=busybox_rootfs)
    for dirpath, dirnames, filenames in os.walk(b):
        for n in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, n), user.uid, user.gid)
    os.chown(b, user.uid, user.gid)
    return b


def test_rootless_run_maps_root_inside_to_the_user_outside(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User,
        record_property: Observe) -> None:
    """rootless run: root inside is the unprivileged user outside; host root's files stay out of reach"""
    data = top / "data"
    data.mkdir()
    os.chown(data, user.uid, user.gid)
    (data / "hostroot").write_text("root's\n")  # owned by the host's root, 0644

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/data", "type": "bind", "source": str(data), "options": ["rbind"]})

    script = ("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; "
              "touch /data/made && echo touched; stat -c %u:%g /data/hostroot; "
              "{ echo x >> /data/hostroot || echo denied; } 2>&1 | tail -1")
    b = rootless_bundle(top, busybox_rootfs, user, ["sh", "-c", script], mutate)
    p = urt("run", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    lines = [ln.split() for ln in p.stdout.strip().splitlines()]
    assert lines[0] == ["0"] and lines[1] == ["0"], p.stdout
    assert lines[2] == ["0", str(user.uid), "1"] and lines[3] == ["0", str(user.gid), "1"], p.stdout
    assert lines[4] == ["deny"], p.stdout  # an unprivileged gid map needs setgroups denied
    assert lines[5] == ["touched"] and lines[6] == ["65534:65534"], p.stdout
    assert "denied" in p.stdout.splitlines()[-1] or "Permission denied" in p.stdout, p.stdout
    st = os.stat(data / "made")
    assert (st.st_uid, st.st_gid) == (user.uid, user.gid)
    assert (data / "hostroot").read_text() == "root's\n"
    # state under $XDG_RUNTIME_DIR, 0700 + sticky (runc: the XDG cleaner skips sticky files)
    mode = os.stat(urt.root)
    assert (mode.st_mode & 0o7777, mode.st_uid) == (0o1700, user.uid), oct(mode.st_mode)
    assert cgroup_dirs(cid) == []
    record_property("observed", f"uid 0 inside = uid {user.uid} outside (map '0 {user.uid} 1', setgroups deny); "
                                "host root's file is 65534 inside, write denied; state in $XDG_RUNTIME_DIR "
                                "(0700+t); no cgroup made")


def test_rootless_lifecycle_create_exec_start_delete(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User,
        record_property: Observe) -> None:
    """rootless create, state, exec, start, kill, delete: all work unprivileged and leave nothing"""
    b = rootless_bundle(top, busybox_rootfs, user, ["sleep", "30"])
    p = run_nocapture(urt, "create", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    try:
        st = json.loads(urt("state", cid).stdout)
        assert st["status"] == "created" and st["pid"] > 0, st
        assert os.stat(f"/proc/{st['pid']}").st_uid == user.uid
        ex = urt("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert ex.returncode == 0, describe(ex)
        assert ex.stdout.split() == ["0", "0", str(user.uid), "1"], ex.stdout
        assert urt("start", cid).returncode == 0
        wait_status(urt, cid, "running")
        assert urt("kill", cid, "KILL").returncode == 0
        wait_status(urt, cid, "stopped")
    finally:
        d = urt("delete", "--force", cid)
    assert d.returncode == 0, describe(d)
    assert list(urt.root.iterdir()) == []
    assert cgroup_dirs(cid) == []
    record_property("observed", "create/state/exec/start/kill/delete as the user; nothing left")


def _no_userns(c: dict[str, Any]) -> None:
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "user"]
    del c["linux"]["uidMappings"], c["linux"]["gidMappings"]


def test_rootless_kill_all_without_cgroups_stops_the_container(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User,
        record_property: Observe) -> None:
    """rootless kill --all KILL with no cgroup to list the processes: the container must still stop"""
    b = rootless_bundle(top, busybox_rootfs, user, ["sh", "-c", "sleep 30 & sleep 30"])
    p = run_nocapture(urt, "run", "--detach", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    try:
        k = urt("kill", "--all", cid, "KILL")
        if is_runc(urt):
            assert k.returncode != 0 and "lstat : no such file or directory" in k.stderr, describe(k)
            assert status_of(urt, cid) == "running"
            pytest.xfail("runc 1.1.5 kill --all lists the processes from the container's cgroup only: "
                         "rootless with no cgroup path it lstat()s an empty path, fails and signals nothing")
        assert k.returncode == 0, describe(k)
        wait_status(urt, cid, "stopped")
    finally:
        urt("delete", "--force", cid)
    record_property("observed", "the init is signalled (its pid namespace ends with it): stopped")


def test_rootless_cgroup_mount_shows_the_v1_hierarchies(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User,
        record_property: Observe) -> None:
    """rootless, no cgroup of its own: the cgroup mount still shows every v1 hierarchy, at the cgroup the container stays in (runc binds the init's own)"""
    hierarchies = sorted({mnt.name for mnt in v1_hierarchies().values()})
    if not hierarchies:
        pytest.skip("no cgroup v1 hierarchy on this host")
    # pyruntime showed an empty tmpfs (its mount listed only the cgroups it made)
    b = rootless_bundle(top, busybox_rootfs, user, ["sh", "-c", "ls /sys/fs/cgroup; cat /proc/self/cgroup"])
    p = urt("run", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    out = p.stdout.splitlines()
    assert out[:len(hierarchies)] == hierarchies, p.stdout
    assert Path("/proc/self/cgroup").read_text().splitlines() == out[len(hierarchies):], p.stdout
    assert cgroup_dirs(cid) == []
    record_property("observed", f"/sys/fs/cgroup: {' '.join(hierarchies)}; in the caller's cgroups")


REFUSALS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "no-userns": (_no_userns, "requires user namespaces"),
    "map-host-root": (lambda c: c["linux"].update(uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}]),
                      "uid"),
    "memory-limit": (lambda c: c["linux"].update(resources={"memory": {"limit": 64 << 20}}),
                     "cannot set memory limit"),
    "uid-mount-option": (lambda c: c["mounts"].append({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
                                                        "options": ["uid=1000"]}),
                         "uid"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_rootless_refuses_what_the_user_cannot_do(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User, case: str,
        record_property: Observe) -> None:
    """rootless create of what an unprivileged user may not do (no userns, mapping host root, a memory limit, unmapped uid=): refused, nothing left"""
    mutate, words = REFUSALS[case]
    b = rootless_bundle(top, busybox_rootfs, user, ["true"], mutate)
    p = run_nocapture(urt, "create", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "Traceback" not in p.stderr, describe(p)
    if urt.name == "pyruntime":
        assert words in p.stderr, describe(p)
    assert not (urt.root / cid).exists()
    assert cgroup_dirs(cid) == []
    msg = p.stderr.strip().splitlines()[-1].split('msg="', 1)[-1].rstrip('"')
    record_property("observed", f"refused: {msg[:130]}")


@pytest.fixture
def delegated(user: User) -> Iterator[str]:
    """A cgroup delegated to the user in every v1 hierarchy (and cgroup2 if
    mounted): the directory and its tasks/cgroup.procs are the user's."""
    name = f"pyrt-deleg-{uuid.uuid4().hex[:8]}"
    made: list[Path] = []
    try:
        for mnt in sorted(set(v1_hierarchies().values())):
            d = mnt / name
            d.mkdir()
            made.append(d)
            if (mnt / "cpuset.cpus").exists():
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((mnt / f).read_text())
            for f in (d, d / "tasks", d / "cgroup.procs"):
                if f.exists():
                    os.chown(f, user.uid, user.gid)
        yield name
    finally:
        for d in made:
            for sub in sorted((p for p in d.iterdir() if p.is_dir()), reverse=True):
                remove_cgroups(sub.name)
            try:
                d.rmdir()
            except OSError:
                pass


def test_rootless_uses_a_delegated_cgroup(
        urt: UserRuntime, cid: str, top: Path, busybox_rootfs: Path, user: User, delegated: str,
        record_property: Observe) -> None:
    """rootless create with cgroupsPath in a cgroup delegated to the user: the container is placed there and its pids limit applies"""
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = f"/{delegated}/{cid}"
        c["linux"]["resources"] = {"pids": {"limit": 42}}

    b = rootless_bundle(top, busybox_rootfs, user, ["sh", "-c", "cat /proc/self/cgroup"], mutate)
    p = run_nocapture(urt, "create", "--bundle", str(b), cid)
    assert p.returncode == 0, describe(p)
    try:
        pid = json.loads(urt("state", cid).stdout)["pid"]
        pids_line = [ln for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if ":pids:" in ln]
        assert pids_line and pids_line[0].endswith(f"/{delegated}/{cid}"), pids_line
        assert (CGROUP_ROOT / "pids" / delegated / cid / "pids.max").read_text().strip() == "42"
    finally:
        d = urt("delete", "--force", cid)
    assert d.returncode == 0, describe(d)
    assert not (CGROUP_ROOT / "pids" / delegated / cid).exists()
    record_property("observed", "placed in the delegated cgroup, pids.max=42 applied, removed by delete")


def _spec(path: str, d: Path, *flags: str) -> dict[str, Any]:
    d.mkdir()
    p = subprocess.run([path, "spec", *flags], cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, describe(p)
    out: dict[str, Any] = json.loads((d / "config.json").read_text())
    return out


def test_spec_rootless_is_runcs(rt: Runtime, runc: Runtime, tmp_path: Path) -> None:
    """`spec --rootless` makes of a config what `runc spec --rootless` makes of runc's (namespaces, mappings, /sys, mount options, no resources)"""
    if rt.name != "pyruntime":
        pytest.skip("compares pyruntime's spec --rootless with runc's")
    plain, rootless = _spec(runc.path, tmp_path / "runc"), _spec(runc.path, tmp_path / "runc-rl", "--rootless")
    assert to_rootless(plain) == rootless
    ours = _spec(rt.path, tmp_path / "pyrt-rl", "--rootless")
    assert to_rootless(_spec(rt.path, tmp_path / "pyrt")) == ours
    assert {"type": "user"} in ours["linux"]["namespaces"]
