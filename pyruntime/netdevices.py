"""linux.netDevices (runtime-spec 1.3): host network interfaces moved into
the container's network namespace, renamed as the config says (a name
template like `eth%d` is resolved by the kernel), keeping their addresses,
and brought up.

Done by `create` (the parent) while the init waits before pivot_root: the
move from the host's namespace, then the rest from inside the container's,
entered with setns(2) and left again (the parent is single-threaded, and
root in the initial user namespace may enter any network namespace).
pyroute2 costs ~130-250 ms to import, so this module is imported only when a
config has netDevices.
"""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.spec.load import Config

IFA_F_PERMANENT = 0x80


def check(cfg: Config) -> dict[str, str]:
    """{host interface name: name in the container}."""
    devs = cfg.linux.get("netDevices") or {}
    if devs and not cfg.new_ns("network"):
        raise cfg.err("linux.netDevices", "moving interfaces needs a new network namespace")
    out: dict[str, str] = {}
    for host_name, d in devs.items():
        field = f"linux.netDevices.{host_name}"
        new = (d or {}).get("name") or host_name
        for n in (host_name, new):
            if not n or len(n) > 15 or "/" in n or ":" in n or n in (".", "..") or any(c.isspace() for c in n):
                raise cfg.err(field, f"invalid interface name {n!r}")
        # A new network namespace holds only `lo`: a clash would strand the
        # device inside the container, where it dies with the namespace.
        if new == "lo" or new in out.values():
            raise cfg.err(f"{field}.name", f"{new!r} is already taken in the container")
        out[host_name] = new
    return out


def _err(host_name: str, doing: str, e: Exception) -> ConfigError:
    return ConfigError(f"linux.netDevices.{host_name}: {doing}: {e}", field=f"linux.netDevices.{host_name}")


def move(devs: dict[str, str], pid: int) -> None:
    from pyroute2 import IPRoute

    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target_ns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    moved: list[tuple[str, str, list[dict[str, Any]]]] = []
    try:
        with IPRoute() as ipr:
            for host_name, new in devs.items():
                idx = ipr.link_lookup(ifname=host_name)
                if not idx:
                    raise ConfigError(f"linux.netDevices.{host_name}: no such network interface on the host",
                                      field=f"linux.netDevices.{host_name}")
                addrs = [{"address": a.get_attr("IFA_ADDRESS"), "prefixlen": a["prefixlen"]}
                         for a in ipr.get_addr(index=idx[0])
                         if (a.get_attr("IFA_FLAGS") or a["flags"]) & IFA_F_PERMANENT]
                try:
                    ipr.link("set", index=idx[0], net_ns_fd=target_ns)
                except Exception as e:  # pyroute2's NetlinkError: errno + message
                    raise _err(host_name, "moving into the container", e) from None
                moved.append((host_name, new, addrs))
        sc.sys().setns(target_ns, sc.CLONE_NEWNET)
        try:
            _configure_inside(moved, IPRoute, host_ns)
        finally:
            sc.sys().setns(host_ns, sc.CLONE_NEWNET)
    finally:
        os.close(host_ns)
        os.close(target_ns)


def _configure_inside(moved: list[tuple[str, str, list[dict[str, Any]]]], iproute: Any, host_ns: int) -> None:
    with iproute() as ipr:
        for host_name, new, addrs in moved:
            idx = ipr.link_lookup(ifname=host_name)[0]
            try:
                if new != host_name:
                    ipr.link("set", index=idx, ifname=new)
                for a in addrs:
                    ipr.addr("add", index=idx, **a)
                ipr.link("set", index=idx, state="up")
            except Exception as e:
                # Hand the interface back rather than let it die with the container.
                try:
                    ipr.link("set", index=idx, ifname=host_name, net_ns_fd=host_ns)
                except Exception:
                    pass
                raise _err(host_name, f"setting it up as {new}", e) from None
