"""linux.sysctl: kernel parameters of the container's own namespaces.

Only parameters that belong to a namespace the container has its own copy
of may be set (runc's list): ipc (kernel.msg*, kernel.sem, kernel.shm*,
fs.mqueue.*), network (net.*), uts (kernel.domainname; kernel.hostname is
the config's `hostname` field). Anything else would change the host.
They are written inside the container, through its /proc, after pivot_root
and before readonlyPaths make /proc/sys read-only.
"""

from __future__ import annotations

import os

from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.spec.load import Config

IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def _namespace_of(key: str) -> str | None:
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in ("kernel.domainname", "kernel.hostname"):
        return "uts"
    return None


def check(cfg: Config) -> dict[str, str]:
    sysctl: dict[str, str] = {}
    for raw_key, value in (cfg.linux.get("sysctl") or {}).items():
        field = f"linux.sysctl.{raw_key}"
        key = raw_key.replace("/", ".")  # runc also takes the /proc/sys path form
        sysctl[key] = value
        if not isinstance(value, str):
            raise cfg.err(field, "value must be a string")
        if ".." in key or not key or key.startswith(".") or key.endswith("."):
            raise cfg.err(field, f"invalid sysctl name {raw_key!r}")
        ns = _namespace_of(key)
        if key == "kernel.hostname":
            raise cfg.err(field, "sysctl kernel.hostname conflicts with the config's hostname field")
        # A namespace joined by path counts too (it is not the host's, or the
        # config would not name it). runc's messages:
        if ns == "network" and not cfg.has_ns("network"):
            raise cfg.err(field, f'sysctl "{key}" not allowed in host network namespace')
        if ns == "ipc" and not cfg.has_ns("ipc"):
            raise cfg.err(field, f'sysctl "{key}" is not allowed in the hosts ipc namespace')
        if ns is None or not cfg.has_ns(ns):
            raise cfg.err(field, f'sysctl "{key}" is not in a separate kernel namespace')
    return sysctl


def apply(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ConfigError(f"linux.sysctl.{key}: no such sysctl ({path})", field=f"linux.sysctl.{key}") from None
        try:
            os.write(fd, value.encode())
        except OSError as e:
            raise ConfigError(f"linux.sysctl.{key}: writing {value!r}: {e.strerror}",
                              field=f"linux.sysctl.{key}") from None
        finally:
            os.close(fd)
