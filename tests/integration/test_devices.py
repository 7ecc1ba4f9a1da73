"""`linux.devices` (runtime-spec config-linux.md "Devices"): each node made
with mknod at its path with fileMode, uid and gid (bind-mounted from the
host in a user namespace); an existing file that is not the requested device
is an error; no node is made in a /dev bound from the host.

RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, run_ok
from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]

STAT = "stat -c '%n %F %t:%T %a %u %g' "


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def with_devices(*devs: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["devices"] = list(devs)
        # the device cgroup lets the container use them (runc does not add rules by itself)
        rules = c["linux"]["resources"]["devices"]
        for d in devs:
            if d["type"] != "p":
                rules.append({"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"],
                              "access": "rwm"})
    return mutate


def test_char_device_mode_owner(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mutate = with_devices({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                           "fileMode": 0o604, "uid": 1000, "gid": 1001})
    out = run_ok(rt, make_bundle(sh(STAT + "/dev/mynull; head -c 1 /dev/mynull && echo usable"),
                                 mutate=mutate), cid)
    assert out == "/dev/mynull character special file 1:3 604 1000 1001\nusable\n", out


def test_block_device_and_subdirectory(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mutate = with_devices({"path": "/dev/disks/myloop", "type": "b", "major": 7, "minor": 200,
                           "fileMode": 0o600, "uid": 0, "gid": 6})
    out = run_ok(rt, make_bundle(sh(STAT + "/dev/disks/myloop"), mutate=mutate), cid)
    assert out == "/dev/disks/myloop block special file 7:c8 600 0 6\n", out


def test_fifo_and_default_mode(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mutate = with_devices({"path": "/dev/myfifo", "type": "p", "fileMode": 0o620},
                          {"path": "/dev/myzero", "type": "c", "major": 1, "minor": 5})
    out = run_ok(rt, make_bundle(sh(STAT + "/dev/myfifo /dev/myzero"), mutate=mutate), cid)
    assert out.splitlines() == ["/dev/myfifo fifo 0:0 620 0 0",
                                "/dev/myzero character special file 1:5 666 0 0"], out


def test_mode_is_exact_despite_the_umask(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    mutate = with_devices({"path": "/dev/mine", "type": "c", "major": 1, "minor": 3, "fileMode": 0o777})
    out = run_ok(rt, make_bundle(sh("stat -c %a /dev/mine"), mutate=mutate), cid)
    assert out == "777\n", out


def test_file_mode_with_file_type_bits(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    """Podman sends fileMode with the file type in it (S_IFCHR|0600 = 8576):
    the permission bits are the mode, as runc takes them."""
    mutate = with_devices({"path": "/dev/podmanstyle", "type": "c", "major": 1, "minor": 3,
                           "fileMode": stat.S_IFCHR | 0o600})
    out = run_ok(rt, make_bundle(sh(STAT + "/dev/podmanstyle"), mutate=mutate), cid)
    assert out == "/dev/podmanstyle character special file 1:3 600 0 0\n", out


def test_existing_node_of_another_device_is_an_error(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # the same path twice with different numbers: the second finds the first
    mutate = with_devices({"path": "/dev/twice", "type": "c", "major": 1, "minor": 3},
                          {"path": "/dev/twice", "type": "c", "major": 1, "minor": 5})
    p = rt("run", "--bundle", str(make_bundle(["true"], mutate=mutate)), cid)
    if is_runc(rt):
        assert p.returncode == 0, describe(p)
        pytest.xfail("runc 1.1.5 accepts an existing /dev entry that is another device: its mknod's EEXIST "
                     "is taken as success without a look at what is there (the container gets 1:3 as /dev/twice)")
    assert p.returncode != 0, describe(p)
    if rt.name == "pyruntime":
        assert "/dev/twice already exists in the rootfs and is not device 1:5" in p.stderr, describe(p)


def test_existing_file_in_rootfs_dev_is_an_error(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/dev"]
        with_devices({"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3})(c)

    b = make_bundle(["true"], mutate=mutate)
    (b / "rootfs" / "dev" / "mydev").write_text("not a device")
    p = rt("run", "--bundle", str(b), cid)
    if is_runc(rt):
        assert p.returncode == 0, describe(p)
        assert (b / "rootfs" / "dev" / "mydev").read_text() == "not a device"
        pytest.xfail("runc 1.1.5 accepts a regular file where a device is configured: its mknod's EEXIST is "
                     "taken as success, and the container's /dev/mydev is no device")
    assert p.returncode != 0, describe(p)
    assert (b / "rootfs" / "dev" / "mydev").read_text() == "not a device"


def test_existing_matching_node_is_kept(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/dev"]
        with_devices({"path": "/dev/zero", "type": "c", "major": 1, "minor": 5})(c)

    out = run_ok(rt, make_bundle(sh("head -c 2 /dev/zero | od -An -tx1"), mutate=mutate), cid)
    assert out.split() == ["00", "00"], out


def test_no_nodes_in_a_dev_bound_from_the_host(rt: Any, cid: str, make_bundle: MakeBundle,
                                               tmp_path: Path) -> None:
    hostdev = tmp_path / "hostdev"
    hostdev.mkdir()
    os.mknod(hostdev / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))  # runc opens /dev/null

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if not m["destination"].startswith("/dev")]
        c["mounts"].append({"destination": "/dev", "type": "bind", "source": str(hostdev), "options": ["rbind"]})
        with_devices({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3})(c)

    run_ok(rt, make_bundle(["true"], mutate=mutate), cid)
    assert [p.name for p in hostdev.iterdir()] == ["null"]


def test_devices_in_a_user_namespace_are_bound_from_the_host(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        c["mounts"] = [m for m in c["mounts"] if m["type"] not in ("sysfs", "cgroup", "mqueue")]
        # the host's node at the same path is bound (mknod is not allowed in a user namespace)
        with_devices({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11})(c)

    out = run_ok(rt, make_bundle(sh("stat -c '%n %t:%T' /dev/kmsg /dev/zero; "
                                    "grep -c ' /dev/kmsg ' /proc/self/mountinfo"), mutate=mutate), cid)
    assert out.splitlines() == ["/dev/kmsg 1:b", "/dev/zero 1:5", "1"], out


def test_user_namespace_device_missing_on_host_is_an_error(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        c["mounts"] = [m for m in c["mounts"] if m["type"] not in ("sysfs", "cgroup", "mqueue")]
        with_devices({"path": "/dev/pyrt-no-such-node", "type": "c", "major": 1, "minor": 3})(c)

    p = rt("run", "--bundle", str(make_bundle(["true"], mutate=mutate)), cid)
    assert p.returncode != 0, describe(p)
