"""linux.netDevices (runtime-spec 1.3): host network interfaces moved into
the container's network namespace, renamed as the config says.

Done by `create` (the parent, in the host's namespaces) once the init
exists, with pyroute2 (netlink). pyroute2 costs ~130-250 ms to import, so
this module is imported only when a config has netDevices.
"""

from __future__ import annotations

from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config


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
            if not n or len(n) > 15 or "/" in n or n in (".", "..") or any(c.isspace() for c in n):
                raise cfg.err(field, f"invalid interface name {n!r}")
        out[host_name] = new
    return out


def move(devs: dict[str, str], pid: int) -> None:
    """Move each interface into the network namespace of pid and rename it."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for host_name, new in devs.items():
            idx = ipr.link_lookup(ifname=host_name)
            if not idx:
                raise ConfigError(f"linux.netDevices.{host_name}: no such network interface on the host",
                                  field=f"linux.netDevices.{host_name}")
            try:
                ipr.link("set", index=idx[0], net_ns_pid=pid, ifname=new)
            except Exception as e:  # pyroute2's NetlinkError carries errno + message
                raise ConfigError(f"linux.netDevices.{host_name}: moving into the container as {new}: {e}",
                                  field=f"linux.netDevices.{host_name}") from None
