"""Namespace isolation: pid, network, uts, ipc, mount, cgroup, user, time, and
joining an existing namespace by path (runtime-spec config-linux.md
"Namespaces", "User namespace mappings", "Offset for Time Namespace")."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundle import base_config, write_bundle
from tests.support.isolation import (
    describe,
    ns_inode,
    parse_mountinfo,
    run_ok,
    set_namespace,
    start_detached,
)
from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---------------------------------------------------------------- pid

def test_pid_namespace_init_is_pid1(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("echo pid=$$; cat /proc/self/stat | cut -d' ' -f4")), cid)
    lines = out.split()
    assert lines[0] == "pid=1"
    # `cat` was forked by PID 1, so its parent pid is 1 as well
    assert lines[1] == "1"


def test_pid_namespace_ps_shows_only_container(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("ps -o pid,comm; true")), cid)
    rows = [line.split() for line in out.strip().splitlines()[1:]]
    pids = {int(r[0]) for r in rows}
    comms = {r[1] for r in rows}
    assert 1 in pids, out
    assert len(rows) == 2, f"expected only sh and ps, got:\n{out}"
    assert comms == {"sh", "ps"}, out
    assert ns_inode("self", "pid") != _container_ns(rt, cid, make_bundle, "pid")


def _container_ns(rt: Any, cid: str, make_bundle: MakeBundle, kind: str,
                  mutate: Callable[[dict[str, Any]], None] | None = None) -> str:
    b = make_bundle(["readlink", f"/proc/self/ns/{kind}"], mutate=mutate, name=f"ns-{kind}")
    return run_ok(rt, b, cid + kind[:3]).strip()


# ---------------------------------------------------------------- network

def test_network_namespace_only_lo_and_up(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    script = "ls /sys/class/net; echo flags=$(cat /sys/class/net/lo/flags); ip link show lo"
    out = run_ok(rt, make_bundle(sh(script)), cid)
    lines = out.strip().splitlines()
    flags_at = next(i for i, line in enumerate(lines) if line.startswith("flags="))
    assert lines[:flags_at] == ["lo"], f"interfaces other than lo: {out}"
    flags = int(lines[flags_at].split("=", 1)[1], 16)
    assert flags & 0x1, f"lo is not IFF_UP: {out}"  # IFF_UP
    assert re.search(r"<[^>]*\bUP\b[^>]*>", out), out
    assert ns_inode("self", "net") != _container_ns(rt, cid, make_bundle, "net")


# ---------------------------------------------------------------- uts

def test_uts_namespace_hostname(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    host_before = socket.gethostname()

    def mutate(c: dict[str, Any]) -> None:
        c["hostname"] = "pyrt-uts-test"

    out = run_ok(rt, make_bundle(sh("hostname; cat /proc/sys/kernel/hostname"), mutate=mutate), cid)
    assert out.split() == ["pyrt-uts-test", "pyrt-uts-test"]
    assert socket.gethostname() == host_before
    assert ns_inode("self", "uts") != _container_ns(rt, cid, make_bundle, "uts")


# ---------------------------------------------------------------- ipc

def test_ipc_namespace_differs(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    inner = _container_ns(rt, cid, make_bundle, "ipc")
    assert inner.startswith("ipc:["), inner
    assert inner != ns_inode("self", "ipc")


def test_ipc_namespace_isolates_sysv_ipc(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # a fresh IPC namespace has no SysV objects: only the header lines
    out = run_ok(rt, make_bundle(sh("wc -l < /proc/sysvipc/shm; wc -l < /proc/sysvipc/msg")), cid)
    assert out.split() == ["1", "1"], out


# ---------------------------------------------------------------- mount

def test_mount_namespace_private(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["sleep", "60"])
    pid = start_detached(rt, b, cid)
    inner = ns_inode(pid, "mnt")
    assert inner != ns_inode("self", "mnt")
    inner_mounts = parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())
    assert any(m.mount_point == "/proc" and m.fstype == "proc" for m in inner_mounts)
    # none of the container's mounts leaked to the host
    host_points = {m.mount_point for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text())}
    rootfs = str((b / "rootfs").resolve())
    assert not any(p.startswith(rootfs) for p in host_points), host_points
    rt("kill", cid, "KILL")


# ---------------------------------------------------------------- cgroup

def test_cgroup_namespace_root(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(["cat", "/proc/self/cgroup"],
                                 mutate=lambda c: set_namespace(c, "cgroup")), cid)
    lines = out.strip().splitlines()
    assert lines, out
    for line in lines:
        assert line.split(":", 2)[2] == "/", f"cgroup path not / inside a cgroup namespace: {out}"
    inner = _container_ns(rt, cid, make_bundle, "cgroup", mutate=lambda c: set_namespace(c, "cgroup"))
    assert inner != ns_inode("self", "cgroup")


# ---------------------------------------------------------------- user

HOST_ID = 100000
ID_SIZE = 65536


@pytest.fixture
def userns_dir() -> Iterator[Path]:
    """A world-traversable directory for a bundle used with a user namespace:
    host root's 0700 pytest tmp dirs are not reachable by mapped root."""
    d = Path(tempfile.mkdtemp(prefix="pyrt-userns-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.lchown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def test_user_namespace_mappings(rt: Any, cid: str, busybox_rootfs: Path, userns_dir: Path) -> None:
    shared = userns_dir / "shared"
    shared.mkdir()
    os.chown(shared, HOST_ID, HOST_ID)
    cfg = base_config(sh("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                         "touch /data/made-inside && echo touched"))
    set_namespace(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(shared),
                          "options": ["rbind", "rw"]})
    bundle = write_bundle(userns_dir / "bundle", cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)

    out = run_ok(rt, bundle, cid)
    lines = out.strip().splitlines()
    assert lines[0] == "0" and lines[1] == "0", out
    uid_map = lines[2].split()
    gid_map = lines[3].split()
    assert uid_map == ["0", str(HOST_ID), str(ID_SIZE)], out
    assert gid_map == ["0", str(HOST_ID), str(ID_SIZE)], out
    assert lines[4] == "touched", out
    st = os.stat(shared / "made-inside")
    assert (st.st_uid, st.st_gid) == (HOST_ID, HOST_ID)


# ---------------------------------------------------------------- time

DAY = 86400


def _host_uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def test_time_namespace_offsets(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("kernel without time namespaces")

    def mutate(c: dict[str, Any]) -> None:
        set_namespace(c, "time")
        # /proc/uptime follows CLOCK_BOOTTIME; monotonic is checked via timens_offsets
        c["linux"]["timeOffsets"] = {"monotonic": {"secs": DAY, "nanosecs": 0},
                                     "boottime": {"secs": DAY, "nanosecs": 0}}

    before = _host_uptime()
    b = make_bundle(sh("cat /proc/uptime; cat /proc/self/timens_offsets"), mutate=mutate)
    if is_runc(rt):
        p = rt("run", "--bundle", str(b), cid, timeout=30)
        assert p.returncode != 0 and 'namespace {\\"time\\" \\"\\"} does not exist' in p.stderr, describe(p)
        pytest.xfail("runc 1.1.5 has no time namespace (CLONE_NEWTIME, kernel 5.6; runc supports it from 1.2)")
    out = run_ok(rt, b, cid)
    lines = out.strip().splitlines()
    inner_uptime = float(lines[0].split()[0])
    assert inner_uptime >= before + DAY, out
    assert inner_uptime < _host_uptime() + DAY + 60, out
    offsets = {f[0]: (int(f[1]), int(f[2])) for f in (line.split() for line in lines[1:])}
    assert offsets.get("monotonic") == (DAY, 0), out
    assert offsets.get("boottime") == (DAY, 0), out


# ---------------------------------------------------------------- join by path

def test_join_network_namespace_by_path(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    first = make_bundle(["sleep", "60"], name="holder")
    holder_id = cid + "h"
    pid = start_detached(rt, first, holder_id)
    target = f"/proc/{pid}/ns/net"
    expected = os.readlink(target)
    assert expected != ns_inode("self", "net")

    joiner = make_bundle(["readlink", "/proc/self/ns/net"], name="joiner",
                         mutate=lambda c: set_namespace(c, "network", target))
    out = run_ok(rt, joiner, cid)
    assert out.strip() == expected
    rt("kill", holder_id, "KILL")


def _run_with_wrong_type(rt: Any, cid: str, make_bundle: MakeBundle) -> tuple[str, Any]:
    first = make_bundle(["sleep", "60"], name="holder")
    holder_id = cid + "h"
    pid = start_detached(rt, first, holder_id)
    wrong = f"/proc/{pid}/ns/uts"  # a UTS namespace given as the network namespace
    b = make_bundle(["echo", "should-not-run"], name="wrong",
                    mutate=lambda c: set_namespace(c, "network", wrong))
    p = rt("run", "--bundle", str(b), cid)
    rt("kill", holder_id, "KILL")
    return wrong, p


def test_join_namespace_wrong_type_fails(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _wrong, p = _run_with_wrong_type(rt, cid, make_bundle)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout, describe(p)


def test_join_namespace_wrong_type_error_names_path(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    wrong, p = _run_with_wrong_type(rt, cid, make_bundle)
    assert p.returncode != 0, describe(p)
    if is_runc(rt):
        assert "failed to setns into net namespace: Invalid argument" in p.stderr, describe(p)
        pytest.xfail("runc 1.1.5's error for a namespace path of the wrong type names the namespace type, "
                     "not the path (nsexec: setns(2) EINVAL, 'failed to setns into net namespace')")
    assert wrong in p.stderr + p.stdout, f"the error does not name {wrong}: {describe(p)}"
