"""Linux namespaces: which flag each config type means, joining one by path
(checked to be of the right type), and the per-namespace setup that must
happen from outside (id maps) or right after creation (time offsets, lo up).
"""

from __future__ import annotations

import errno
import os

from pyruntime import syscalls as sc
from pyruntime.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLAGS = {
    "user": sc.CLONE_NEWUSER,
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
NS_GET_NSTYPE = 0xB703  # ioctl(2) on a namespace fd: its CLONE_NEW* type


def open_ns_path(ns_type: str, path: str, index: int) -> int:
    """Open a namespace file and check that it is a namespace of ns_type."""
    field = f"linux.namespaces[{index}].path"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(f"{field}: cannot open {ns_type} namespace {path}: {os.strerror(e.errno or 0)}",
                          field=field, path=path) from None
    try:
        actual = sc.ioctl(fd, NS_GET_NSTYPE)
    except OSError as e:
        os.close(fd)
        reason = "not a namespace file" if e.errno in (errno.ENOTTY, errno.EINVAL) else os.strerror(e.errno or 0)
        raise ConfigError(f"{field}: {path} is {reason}, expected a {ns_type} namespace",
                          field=field, path=path) from None
    if actual != FLAGS[ns_type]:
        os.close(fd)
        got = next((k for k, v in FLAGS.items() if v == actual), hex(actual))
        raise ConfigError(f"{field}: {path} is a {got} namespace, expected a {ns_type} namespace",
                          field=field, path=path)
    return fd


def id_map_text(mappings: list[dict[str, Any]]) -> str:
    """uidMappings/gidMappings → the /proc/<pid>/uid_map format."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    """Written by the parent: a process cannot map ids for itself beyond its own.

    Unprivileged (rootless.py), the kernel lets us map only our own euid and
    egid, one id each, and the gid map only after "deny" is written to
    /proc/<pid>/setgroups (else the container could drop a group that
    denies it access). Wider mappings: newuidmap/newgidmap (setuid helpers
    that check /etc/subuid and /etc/subgid), as runc does."""
    unprivileged = os.geteuid() != 0
    for kind in ("uid", "gid"):
        maps = linux.get(f"{kind}Mappings") or []
        text = id_map_text(maps)
        if unprivileged and kind == "gid" and _own_id_only(maps, os.getegid()):
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        try:
            with open(f"/proc/{pid}/{kind}_map", "w") as f:
                f.write(text)
                f.flush()
        except OSError as e:
            if unprivileged and e.errno == errno.EPERM and maps:
                _map_with_helper(pid, kind, maps)
                continue
            raise ConfigError(f"linux.{kind}Mappings: writing {text.strip()!r}: "
                              f"{os.strerror(e.errno or 0)}", field=f"linux.{kind}Mappings") from None


def _own_id_only(maps: list[dict[str, Any]], own: int) -> bool:
    return len(maps) == 1 and int(maps[0]["hostID"]) == own and int(maps[0]["size"]) == 1


def _map_with_helper(pid: int, kind: str, maps: list[dict[str, Any]]) -> None:
    """newuidmap/newgidmap PID CONTAINER-ID HOST-ID SIZE ..."""
    import shutil
    import subprocess

    field = f"linux.{kind}Mappings"
    helper = shutil.which(f"new{kind}map")
    if helper is None:
        raise ConfigError(f"{field}: an unprivileged user can map only its own {kind}; new{kind}map "
                          f"(package uidmap) is needed for {id_map_text(maps).strip()!r}", field=field)
    args = [str(v) for m in maps for v in (m["containerID"], m["hostID"], m["size"])]
    p = subprocess.run([helper, str(pid), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise ConfigError(f"{field}: new{kind}map {' '.join(args)}: {p.stderr.strip() or p.returncode}",
                          field=field)


CLOCKS = {"monotonic": 1, "boottime": 7}  # CLOCK_MONOTONIC, CLOCK_BOOTTIME


def write_time_offsets(offsets: dict[str, Any]) -> None:
    """After unshare(CLONE_NEWTIME), before the first process enters it."""
    lines = []
    for clock, off in offsets.items():
        if clock not in CLOCKS:
            raise ConfigError(f"linux.timeOffsets.{clock}: unknown clock (monotonic or boottime)",
                              field=f"linux.timeOffsets.{clock}")
        lines.append(f"{clock} {int(off.get('secs', 0))} {int(off.get('nanosecs', 0))}\n")
    with open("/proc/self/timens_offsets", "w") as f:
        f.write("".join(lines))


def link_up(name: str) -> None:
    """Set IFF_UP on an interface of our network namespace (SIOCSIFFLAGS:
    no netlink library needed; in _kernel.c, not the socket, fcntl and
    struct modules, which create would load for this alone)."""
    sc.link_up(name)


def loopback_up() -> None:
    """A new network namespace has `lo` down; runc brings it up."""
    link_up("lo")
