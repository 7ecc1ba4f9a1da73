"""`domainname` (runtime-spec config.md "Domainname") and `linux.sysctl`
(config-linux.md "Sysctl"): set in the container's own namespaces, never on
the host; sysctls that no namespace of the container isolates are refused
the way runc 1.1.5 refuses them.

runc 1.1.5 ignores `domainname` (runc 1.2 applies it): those tests skip on
it; setting kernel.domainname through linux.sysctl is the control that
proves the reading side on any runtime.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import remove_cgroups
from tests.support.config_fields import create_refused, skip_unless_supported
from tests.support.isolation import run_ok

MakeBundle = Callable[..., Path]
Mutate = Callable[[dict[str, Any]], None]

PROC_SYS = Path("/proc/sys")


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def sysctl_path(key: str) -> Path:
    return PROC_SYS / key.replace(".", "/")


@pytest.fixture
def leftovers(cid: str) -> Iterator[None]:
    """After the test, remove cgroup dirs a faulty runtime left for this id."""
    yield
    remove_cgroups(cid)


@pytest.fixture
def host_sysctls() -> Iterator[Callable[..., dict[str, str]]]:
    """snap(*keys) -> the host's current values of those keys. After the
    test, any snapped key whose host value changed is put back (a faulty
    runtime may write the host's sysctl) and the test fails."""
    snapped: dict[str, str] = {}

    def snap(*keys: str) -> dict[str, str]:
        vals = {k: sysctl_path(k).read_text() for k in keys}
        for k, v in vals.items():
            snapped.setdefault(k, v)
        return vals

    yield snap
    changed = {k: (v, sysctl_path(k).read_text()) for k, v in snapped.items()
               if sysctl_path(k).read_text() != v}
    for k, (v, _now) in changed.items():
        sysctl_path(k).write_text(v)
    assert not changed, f"host sysctls changed by the container (restored): {changed}"


def with_sysctl(sysctl: dict[str, str], drop_ns: str | None = None) -> Mutate:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["sysctl"] = dict(sysctl)
        if drop_ns is not None:
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != drop_ns]
    return mutate


# ---------------------------------------------------------------- domainname

def test_domainname(rt: Any, cid: str, make_bundle: MakeBundle,
                    host_sysctls: Callable[..., dict[str, str]]) -> None:
    skip_unless_supported(rt, "domainname")
    host_sysctls("kernel.domainname", "kernel.hostname")

    def mutate(c: dict[str, Any]) -> None:
        c["domainname"] = "pyrt.example"

    out = run_ok(rt, make_bundle(sh("cat /proc/sys/kernel/domainname /proc/sys/kernel/hostname"),
                                 mutate=mutate), cid)
    assert out.split() == ["pyrt.example", "runc"], out


def test_domainname_unset_is_none(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # a fresh UTS namespace starts with the domainname "(none)"
    out = run_ok(rt, make_bundle(["cat", "/proc/sys/kernel/domainname"]), cid)
    assert out.strip() == "(none)", out


@pytest.mark.usefixtures("leftovers")
def test_domainname_without_uts_namespace_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                  host_sysctls: Callable[..., dict[str, str]]) -> None:
    # as runc refuses a hostname there: "unable to set hostname without a
    # private UTS namespace"
    skip_unless_supported(rt, "domainname")
    host_sysctls("kernel.domainname")

    def mutate(c: dict[str, Any]) -> None:
        c.pop("hostname", None)
        c["domainname"] = "pyrt.example"
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]

    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert re.search(r"domainname", msg, re.I) and re.search(r"uts", msg, re.I), msg


# ---------------------------------------------------------------- sysctl applied

def test_sysctl_in_container_namespaces(rt: Any, cid: str, make_bundle: MakeBundle,
                                        host_sysctls: Callable[..., dict[str, str]]) -> None:
    sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "123456789", "kernel.domainname": "pyrt.sysctl"}
    host = host_sysctls(*sysctl)
    assert host["net.ipv4.ip_forward"].strip() != "1" or host["kernel.shmmax"].strip() != "123456789", \
        "the host already has the values: the test would prove nothing"
    read = " ".join(str(sysctl_path(k)) for k in sysctl)
    out = run_ok(rt, make_bundle(sh(f"cat {read}"), mutate=with_sysctl(sysctl)), cid)
    assert out.split() == list(sysctl.values()), out
    # (the host_sysctls fixture checks the host's values are unchanged)


def test_sysctl_slash_separated_key(rt: Any, cid: str, make_bundle: MakeBundle,
                                    host_sysctls: Callable[..., dict[str, str]]) -> None:
    # runc accepts the /proc/sys path form too
    host_sysctls("net.ipv4.ip_forward")
    out = run_ok(rt, make_bundle(["cat", "/proc/sys/net/ipv4/ip_forward"],
                                 mutate=with_sysctl({"net/ipv4/ip_forward": "1"})), cid)
    assert out.strip() == "1", out


# ---------------------------------------------------------------- sysctl refused

@pytest.mark.usefixtures("leftovers")
@pytest.mark.parametrize("key,value", [("kernel.panic", "5"), ("vm.swappiness", "13"),
                                       ("kernel.pyrt_no_such_key", "1")])
def test_sysctl_not_namespaced_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                       host_sysctls: Callable[..., dict[str, str]],
                                       key: str, value: str) -> None:
    # runc 1.1.5: 'sysctl "kernel.panic" is not in a separate kernel namespace'
    if sysctl_path(key).exists():
        host_sysctls(key)
    msg = create_refused(rt, make_bundle(["true"], mutate=with_sysctl({key: value})), cid)
    assert key in msg, msg
    assert "is not in a separate kernel namespace" in msg, msg


@pytest.mark.usefixtures("leftovers")
def test_sysctl_net_without_network_namespace_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                      host_sysctls: Callable[..., dict[str, str]]) -> None:
    # runc 1.1.5: 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'
    host_sysctls("net.ipv4.ip_forward")
    mutate = with_sysctl({"net.ipv4.ip_forward": "1"}, drop_ns="network")
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert "net.ipv4.ip_forward" in msg, msg
    assert re.search(r"host network namespace", msg, re.I), msg


@pytest.mark.usefixtures("leftovers")
def test_sysctl_ipc_without_ipc_namespace_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                  host_sysctls: Callable[..., dict[str, str]]) -> None:
    # runc 1.1.5: 'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'
    host_sysctls("kernel.shmmax")
    mutate = with_sysctl({"kernel.shmmax": "123456789"}, drop_ns="ipc")
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert "kernel.shmmax" in msg, msg
    assert re.search(r"ipc namespace", msg, re.I), msg


@pytest.mark.usefixtures("leftovers")
def test_sysctl_nonexistent_net_key_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # passes the namespace check (net.*), then cannot be opened; runc 1.1.5:
    # "open /proc/sys/net/ipv4/pyrt_no_such_key: no such file or directory"
    mutate = with_sysctl({"net.ipv4.pyrt_no_such_key": "1"})
    msg = create_refused(rt, make_bundle(["true"], mutate=mutate), cid)
    assert "pyrt_no_such_key" in msg, msg


@pytest.mark.usefixtures("leftovers")
def test_sysctl_invalid_value_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                      host_sysctls: Callable[..., dict[str, str]]) -> None:
    # runc 1.1.5: "write /proc/sys/net/ipv4/ip_forward: invalid argument"
    host_sysctls("net.ipv4.ip_forward")
    msg = create_refused(rt, make_bundle(["true"], mutate=with_sysctl({"net.ipv4.ip_forward": "banana"})),
                         cid)
    assert "ip_forward" in msg, msg
