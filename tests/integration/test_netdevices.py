"""`linux.netDevices` (runtime-spec 1.3 config-linux.md "Network Devices"):
a host interface is moved into the container's network namespace, renamed
when the entry gives a name, and set up; a missing interface, or a
container without a network namespace of its own, is refused.

Each test makes its own interface on the host (a dummy one; a veth pair
where the kernel has no dummy driver) named pyrt + 8 hex digits, and
deletes it afterwards if it is still on the host. runc 1.1.5 ignores
netDevices (runc 1.3 applies it): every test here skips on it.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import remove_cgroups, wait_for
from tests.support.config_fields import create_refused, skip_unless_supported
from tests.support.isolation import start_detached, stdio_log

MakeBundle = Callable[..., Path]

IFF_UP = 0x1
SYS_NET = Path("/sys/class/net")


def on_host(name: str) -> bool:
    """Whether our (the host's) network namespace has an interface `name`."""
    return (SYS_NET / name).exists()


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@dataclass
class HostLink:
    name: str
    peer: str | None  # the veth peer left on the host, when a veth pair was made


@pytest.fixture
def host_link() -> Iterator[HostLink]:
    """A fresh interface on the host; removed after the test if still there."""
    suffix = uuid.uuid4().hex[:8]
    name = f"pyrt{suffix}"
    link = HostLink(name, None)
    p = ip("link", "add", name, "type", "dummy")
    if p.returncode != 0:  # e.g. a kernel built without CONFIG_DUMMY
        link.peer = f"pyrq{suffix}"
        v = ip("link", "add", name, "type", "veth", "peer", "name", link.peer)
        if v.returncode != 0:
            pytest.skip(f"cannot make a dummy ({p.stderr.strip()}) or veth ({v.stderr.strip()}) interface")
    try:
        yield link
    finally:
        for n in (name, link.peer):
            if n is not None and on_host(n):
                ip("link", "del", n)


@pytest.fixture
def leftovers(cid: str) -> Iterator[None]:
    """After the test, remove cgroup dirs a faulty runtime left for this id."""
    yield
    remove_cgroups(cid)


def net_devices(devices: dict[str, dict[str, Any]], drop_netns: bool = False) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["netDevices"] = devices
        if drop_netns:
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
    return mutate


REPORT = ("ls /sys/class/net | tr '\\n' ' '; echo; "
          "for d in /sys/class/net/*; do echo \"${d##*/} $(cat $d/flags)\"; done; echo READY; sleep 30")


def run_and_report(rt: Any, bundle: Path, cid: str) -> tuple[list[str], dict[str, int]]:
    """Start the REPORT container detached; return (interfaces it sees,
    {interface: flags}) once it has printed them. It keeps running."""
    start_detached(rt, bundle, cid)
    wait_for(lambda: "READY" in stdio_log(bundle, cid), timeout=10, what="the container's report")
    lines = stdio_log(bundle, cid).split("READY")[0].strip().splitlines()
    names = lines[0].split()
    flags = {n: int(f, 16) for n, f in (ln.split() for ln in lines[1:])}
    return names, flags


def destroyed_or_back(link: HostLink) -> bool:
    """After the container: the kernel destroys a virtual device (a veth
    takes its peer along) with its network namespace; a runtime MAY instead
    move it back to the host (runtime-spec 1.3), under its host name."""
    destroyed = not on_host(link.name) and (link.peer is None or not on_host(link.peer))
    return destroyed or on_host(link.name)


def test_netdevice_moved_renamed_and_up(rt: Any, cid: str, make_bundle: MakeBundle,
                                        host_link: HostLink) -> None:
    skip_unless_supported(rt, "linux.netDevices")
    had_eth7 = on_host("eth7")
    bundle = make_bundle(["sh", "-c", REPORT], mutate=net_devices({host_link.name: {"name": "eth7"}}))
    names, flags = run_and_report(rt, bundle, cid)

    assert "eth7" in names and host_link.name not in names, names
    assert flags["eth7"] & IFF_UP, f"eth7 is not up: flags={flags['eth7']:#x}"
    assert not on_host(host_link.name), "the interface is still on the host while the container runs"
    assert on_host("eth7") == had_eth7, "eth7 appeared on the host"
    if host_link.peer is not None:
        assert on_host(host_link.peer), "the veth peer left the host"

    d = rt("delete", "--force", cid)
    assert d.returncode == 0, d.stderr
    wait_for(lambda: destroyed_or_back(host_link), timeout=10,
             what="the interface to be destroyed or moved back")
    assert on_host("eth7") == had_eth7, "eth7 was left on the host"


def test_netdevice_keeps_its_name_without_one(rt: Any, cid: str, make_bundle: MakeBundle,
                                              host_link: HostLink) -> None:
    skip_unless_supported(rt, "linux.netDevices")
    bundle = make_bundle(["sh", "-c", REPORT], mutate=net_devices({host_link.name: {}}))
    names, flags = run_and_report(rt, bundle, cid)

    assert host_link.name in names, names
    assert flags[host_link.name] & IFF_UP, f"not up: flags={flags[host_link.name]:#x}"
    assert not on_host(host_link.name), "the interface is still on the host while the container runs"


@pytest.mark.usefixtures("leftovers")
def test_netdevice_missing_on_host_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    skip_unless_supported(rt, "linux.netDevices")
    missing = f"pyrt{uuid.uuid4().hex[:8]}"
    assert not on_host(missing)
    msg = create_refused(rt, make_bundle(["true"], mutate=net_devices({missing: {"name": "eth7"}})), cid)
    assert missing in msg, msg
    assert re.search(r"net_?devices|network device", msg, re.I), msg


@pytest.mark.usefixtures("leftovers")
def test_netdevice_without_network_namespace_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                     host_link: HostLink) -> None:
    skip_unless_supported(rt, "linux.netDevices")
    mutate = net_devices({host_link.name: {"name": "eth7"}}, drop_netns=True)
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert re.search(r"net_?devices|network (device|namespace)", msg, re.I), msg
    assert on_host(host_link.name), "the refused container still took the host's interface"
