"""config-linux.md "Devices", "Default Devices" and (1.3) "Network Devices":
nodes checked from inside (type, numbers, mode, owner, behaviour), interfaces
checked inside the container and on the host."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.test_console import _run_on_console, _terminal, console_socket  # noqa: F401
from tests.integration.test_devices import with_devices
from tests.integration.test_netdevices import HostLink, host_link, ip, leftovers, on_host  # noqa: F401
from tests.support.config_fields import create_refused
from tests.support.isolation import describe, run_ok

MakeBundle = Callable[..., Path]
IFF_UP = 0x1
STAT = "stat -c '%n|%F|%t:%T|%a|%u|%g' "


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---------------------------------------------------------------- linux.devices

def _with_devices(*devs: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """with_devices, with the device-cgroup rule of a `u` device written as `c`
    (the cgroup knows no unbuffered type)."""
    def mutate(c: dict[str, Any]) -> None:
        with_devices(*devs)(c)
        for r in c["linux"]["resources"]["devices"]:
            if r.get("type") == "u":
                r["type"] = "c"
    return mutate


@pytest.mark.spec("config-linux-devices-1")
def test_devices_are_available(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    mutate = _with_devices(
        {"path": "/dev/conf-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1001},
        {"path": "/dev/conf-zero-u", "type": "u", "major": 1, "minor": 5, "fileMode": 0o666},
        {"path": "/dev/disks/conf-loop", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "gid": 6},
        {"path": "/dev/conf-fifo", "type": "p", "fileMode": 0o620},
    )
    paths = "/dev/conf-null /dev/conf-zero-u /dev/disks/conf-loop /dev/conf-fifo"
    script = (STAT + paths + "; head -c 3 /dev/conf-zero-u | od -An -tx1; "
              "echo x > /dev/conf-zero-u && echo zero-ok; { echo x > /dev/conf-null; } 2>&1; true")
    out = run_ok(rt, make_bundle(sh(script), mutate=mutate), cid)
    lines = out.strip().splitlines()
    assert lines[:4] == [
        "/dev/conf-null|character special file|1:3|640|1000|1001",
        "/dev/conf-zero-u|character special file|1:5|666|0|0",
        "/dev/disks/conf-loop|block special file|7:c8|600|0|6",
        "/dev/conf-fifo|fifo|0:0|620|0|0",
    ], out
    assert lines[4].split() == ["00", "00", "00"], out
    assert lines[5] == "zero-ok", out
    # mode 640, owner 1000: the container's root (no CAP_DAC_OVERRIDE) may not write it
    assert "Permission denied" in lines[6], out


@pytest.mark.spec("config-linux-devices-1")
def test_device_outside_dev_is_available(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """"The path MAY be anywhere in the container filesystem, notably outside of /dev"."""
    mutate = _with_devices({"path": "/outside-dev/conf-full", "type": "c", "major": 1, "minor": 7,
                            "fileMode": 0o666})
    out = run_ok(rt, make_bundle(sh(STAT + "/outside-dev/conf-full; { echo x > /outside-dev/conf-full; } 2>&1; true"),
                                 mutate=mutate), cid)
    lines = out.strip().splitlines()
    assert lines[0] == "/outside-dev/conf-full|character special file|1:7|666|0|0", out
    assert "No space left on device" in lines[1], out


@pytest.mark.spec("config-linux-devices-2")
def test_existing_regular_file_at_path_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["echo", "should-not-run"],
                    mutate=with_devices({"path": "/conf-dev", "type": "c", "major": 1, "minor": 3}))
    (b / "rootfs" / "conf-dev").write_text("not a device")
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout
    assert (b / "rootfs" / "conf-dev").read_text() == "not a device"


@pytest.mark.spec("config-linux-devices-2")
def test_existing_node_of_another_device_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["echo", "should-not-run"],
                    mutate=with_devices({"path": "/conf-dev", "type": "c", "major": 1, "minor": 5}))
    node = b / "rootfs" / "conf-dev"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers, not /dev/zero's
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout
    assert os.stat(node).st_rdev == os.makedev(1, 3)


# ---------------------------------------------------------------- default devices

DEFAULTS = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}


@pytest.mark.spec("config-linux-default-devices-1")
@pytest.mark.parametrize("configured", [False, True], ids=["no-devices", "with-configured-devices"])
def test_default_devices(rt: Runtime, cid: str, make_bundle: MakeBundle, configured: bool) -> None:
    """"In addition to any devices configured": also with linux.devices set
    (and its device-cgroup rules), the defaults are all there and work."""
    mutate = _with_devices({"path": "/dev/conf-extra", "type": "c", "major": 1, "minor": 7,
                            "fileMode": 0o666}) if configured else None
    script = ("for d in null zero full random urandom tty; do stat -c '%n|%F|%t|%T' /dev/$d; done; "
              "echo x > /dev/null && echo null-writes; wc -c < /dev/null; head -c 4 /dev/zero | od -An -tx1; "
              "{ echo x > /dev/full; } 2>&1; head -c 8 /dev/urandom | wc -c; head -c 8 /dev/random | wc -c")
    if configured:
        script += "; stat -c '%t:%T' /dev/conf-extra"
    out = run_ok(rt, make_bundle(sh(script), mutate=mutate), cid)
    lines = out.strip().splitlines()
    if configured:
        assert lines.pop() == "1:7", out
    for line, (name, (major, minor)) in zip(lines[:6], DEFAULTS.items(), strict=True):
        path, kind, ma, mi = line.split("|")
        assert (path, kind, int(ma, 16), int(mi, 16)) == (f"/dev/{name}", "character special file", major,
                                                          minor), out
    assert lines[6:8] == ["null-writes", "0"], out
    assert lines[8].split() == ["00", "00", "00", "00"], out
    assert "No space left on device" in lines[9], out
    assert lines[10:] == ["8", "8"], out


@pytest.mark.spec("config-linux-default-devices-2")
def test_dev_console_is_the_pty(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                console_socket: tuple[socket.socket, Path]) -> None:  # noqa: F811
    srv, path = console_socket
    script = ("stat -c 'console %F %t:%T' /dev/console; stat -L -c 'stdin %F %t:%T' /proc/self/fd/0; "
              "grep -c ' /dev/console ' /proc/self/mountinfo")
    out = _run_on_console(rt, cid, make_bundle(sh(script), mutate=_terminal()), srv, path)
    lines = [ln.strip() for ln in out.strip().splitlines()]
    console, stdin, mounts = lines[-3:]
    assert console.startswith("console character special file "), out
    assert console.split()[-1] == stdin.split()[-1], f"/dev/console is not the container's pty: {out}"
    assert int(stdin.split()[-1].split(":")[0], 16) == 136, f"stdin is not a /dev/pts pty: {out}"
    assert mounts == "1", f"/dev/console is not a bind mount: {out}"


@pytest.mark.spec("config-linux-default-devices-3")
def test_dev_ptmx_is_the_containers_pts_ptmx(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("stat -L -c '%d %i %t:%T' /dev/ptmx /dev/pts/ptmx; "
                                    "grep ' /dev/pts ' /proc/self/mountinfo | tail -n 1")), cid)
    ptmx, pts_ptmx, pts_mount = out.strip().splitlines()
    assert ptmx == pts_ptmx, f"/dev/ptmx is neither a symlink nor a bind mount of /dev/pts/ptmx: {out}"
    assert ptmx.split()[-1] == "5:2", out
    assert " - devpts " in pts_mount, out


# ---------------------------------------------------------------- netDevices (1.3)

def net_devices(devices: dict[str, dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["netDevices"] = devices
    return mutate


@pytest.mark.spec("config-linux-netdevices-1", "config-linux-netdevices-6")
def test_netdevice_moved_and_up(rt: Runtime, cid: str, make_bundle: MakeBundle, host_link: HostLink,  # noqa: F811
                                leftovers: None) -> None:  # noqa: F811
    script = "ls /sys/class/net; cat /sys/class/net/ctconf0/flags"
    out = run_ok(rt, make_bundle(sh(script), mutate=net_devices({host_link.name: {"name": "ctconf0"}})), cid)
    *names, flags = out.split()
    assert sorted(names) == ["ctconf0", "lo"], out
    assert int(flags, 16) & IFF_UP, f"ctconf0 is not up: {out}"


@pytest.mark.spec("config-linux-netdevices-5")
def test_netdevice_keeps_its_addresses_and_attributes(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                      host_link: HostLink, leftovers: None) -> None:  # noqa: F811
    name = host_link.name
    for args in (["addr", "add", "10.213.7.9/24", "dev", name], ["addr", "add", "fd00:213::9/64", "dev", name,
                                                                   "nodad"],
                 ["link", "set", name, "mtu", "1280"], ["link", "set", name, "address", "02:13:07:09:00:01"]):
        p = ip(*args)
        assert p.returncode == 0, p.stderr
    script = f"cat /sys/class/net/{name}/mtu /sys/class/net/{name}/address; ip -o addr show dev {name}"
    out = run_ok(rt, make_bundle(sh(script), mutate=net_devices({name: {}})), cid)
    lines = out.strip().splitlines()
    assert lines[:2] == ["1280", "02:13:07:09:00:01"], out
    assert "inet 10.213.7.9/24" in out, f"the permanent global IPv4 address was not kept: {out}"
    assert "inet6 fd00:213::9/64" in out, f"the permanent global IPv6 address was not kept: {out}"


@pytest.mark.spec("config-linux-netdevices-2")
def test_netdevice_missing_on_host_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                               leftovers: None) -> None:  # noqa: F811
    assert not on_host("pyrtnosuch0")
    create_refused(rt, make_bundle(["true"], mutate=net_devices({"pyrtnosuch0": {}})), cid)


@pytest.mark.spec("config-linux-netdevices-3")
def test_netdevice_name_taken_in_container_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                       host_link: HostLink, leftovers: None) -> None:  # noqa: F811
    # every new network namespace has `lo`
    create_refused(rt, make_bundle(["true"], mutate=net_devices({host_link.name: {"name": "lo"}})), cid)


@pytest.mark.spec("config-linux-netdevices-2")
def test_netdevice_refused_move_leaves_the_interface_on_the_host(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                                 host_link: HostLink,  # noqa: F811
                                                                 leftovers: None) -> None:  # noqa: F811
    """The check comes before the move: when the move is not possible (the
    name is taken inside), the host keeps its interface. Moved first and
    renamed after, it would die with the refused container's namespace."""
    create_refused(rt, make_bundle(["true"], mutate=net_devices({host_link.name: {"name": "lo"}})), cid)
    assert on_host(host_link.name), "the interface is gone from the host although the move was refused"


@pytest.mark.spec("config-linux-netdevices-4")
def test_netdevice_name_template_is_allowed(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                            host_link: HostLink, leftovers: None) -> None:  # noqa: F811
    out = run_ok(rt, make_bundle(["ls", "/sys/class/net"], mutate=net_devices({host_link.name: {"name": "ct%d"}})),
                 cid)
    assert sorted(out.split()) == ["ct0", "lo"], out
    assert not on_host(host_link.name)


@pytest.mark.spec("config-linux-netdevices-8")
def test_netdevice_is_not_moved_out_before_deletion(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    host_link: HostLink, leftovers: None) -> None:  # noqa: F811
    # a virtual device dies with its network namespace; one moved out by the
    # runtime would be back on the host (under either name)
    b = make_bundle(["ls", "/sys/class/net"], mutate=net_devices({host_link.name: {"name": "ctconf1"}}))
    out = run_ok(rt, b, cid)
    assert "ctconf1" in out.split(), out
    deadline = time.monotonic() + 10
    while (on_host(host_link.name) or on_host("ctconf1")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not on_host(host_link.name) and not on_host("ctconf1"), (
        "the interface came back to the host: the runtime moved it out of the container's namespace")
    assert subprocess.run(["ip", "link", "show", "ctconf1"], capture_output=True).returncode != 0
