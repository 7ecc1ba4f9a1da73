"""Rootless mode: pyruntime run by an unprivileged user (euid != 0), as
runc does it.

- State: without --root, `$XDG_RUNTIME_DIR/pyruntime` (made 0700 + sticky,
  so the XDG cleaner keeps it), else /run/pyruntime (runc: .../runc).
- The config must have a user namespace with uid and gid mappings, and
  every `uid=`/`gid=` mount option must name a mapped id (runc's
  validate/rootless.go). An unprivileged process may map only its own uid
  and gid, after writing "deny" to /proc/<pid>/setgroups; wider mappings go
  through the setuid helpers newuidmap/newgidmap (namespaces.write_id_maps).
- cgroups ("rootless cgroups": the global --rootless flag, auto = euid != 0
  or running in a user namespace): a hierarchy whose cgroup we cannot make
  or join is left out (delegated ones, writable by us, are used), and a
  limit that would need a left-out controller is an error; device rules are
  not applied (runc ignores their errors too). The container's
  /sys/fs/cgroup still shows every v1 hierarchy: a left-out one at the
  cgroup the container stays in, the caller's (runc binds the init's own
  cgroup of each, from /proc/self/cgroup). Rootless Podman on a v1 or
  hybrid host runs us so: as root of its user namespace, no cgroupsPath,
  nothing writable.
- `spec --rootless` writes runc's rootless config (specconv.ToRootless).
"""

from __future__ import annotations

import os
import stat

from pyruntime.errors import ConfigError, PyruntimeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cgroups.manager import Manager
    from pyruntime.spec.load import Config

_flag = "auto"  # the global --rootless flag (cli.main sets it)
# {controller: cgroup dir} of the hierarchies prune_cgroups left out, where the
# container stays (the caller's own cgroup): set in `create` before the fork,
# read by the forked init for its cgroup mount (cgroup_mount_paths)
_left_out: dict[str, str] = {}
_caller_euid = os.geteuid()  # the command's euid, as the forked init still knows it


def configure(flag: str | None) -> None:
    """--rootless true|false|auto (runc's parseBoolOrAuto)."""
    global _flag, _caller_euid
    value = (flag or "auto").lower()
    if value not in ("true", "false", "auto", "1", "0", "t", "f"):
        raise UsageError(f"invalid value {flag!r} for flag --rootless (true, false or auto)")
    _flag = value
    _caller_euid = os.geteuid()


def caller_unprivileged() -> bool:
    """The command was run by an unprivileged user (true in its forks too,
    whatever uid they have taken inside a user namespace)."""
    return _caller_euid != 0


def running_in_userns() -> bool:
    """Not the initial user namespace: its uid_map is not the identity of all ids."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def euid_rootless() -> bool:
    return os.geteuid() != 0


def cgroups_rootless() -> bool:
    """runc's shouldUseRootlessCgroupManager for the cgroupfs driver."""
    if _flag in ("true", "1", "t"):
        return True
    if _flag in ("false", "0", "f"):
        return False
    return euid_rootless() or running_in_userns()


def default_root() -> str:
    """runc's rule: $XDG_RUNTIME_DIR only for an unprivileged user (or root
    in a user namespace whose $USER is not root); the real root keeps /run."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and (euid_rootless() or (running_in_userns() and os.environ.get("USER") != "root")):
        return os.path.join(xdg, "pyruntime")
    return "/run/pyruntime"


def prepare_xdg_root(root: str) -> None:
    """The XDG base directory spec: files under $XDG_RUNTIME_DIR without the
    sticky bit may be pruned; runc makes its root 0700 + sticky."""
    os.makedirs(root, 0o700, exist_ok=True)
    os.chmod(root, 0o700 | stat.S_ISVTX)


# -- the config ---------------------------------------------------------------------------

def _mapped(mappings: list[dict[str, Any]], ident: int) -> bool:
    return any(int(m["containerID"]) <= ident < int(m["containerID"]) + int(m["size"]) for m in mappings)


def check_config(cfg: Config) -> None:
    """What an unprivileged user cannot do at all (runc: rootlessEUIDCheck)."""
    linux = cfg.linux
    if not any(ns.get("type") == "user" for ns in cfg.namespaces):
        raise ConfigError("rootless container requires user namespaces (linux.namespaces: add "
                          "{\"type\": \"user\"}; `pyruntime spec --rootless` writes such a config)",
                          field="linux.namespaces")
    for kind in ("uid", "gid"):
        if not linux.get(f"{kind}Mappings"):
            raise ConfigError(f"rootless containers requires at least one {kind.upper()} mapping",
                              field=f"linux.{kind}Mappings")
    for i, m in enumerate(cfg.data.get("mounts") or []):
        for opt in m.get("options") or []:
            key, sep, value = opt.partition("=")
            if sep and key in ("uid", "gid") and value.isdigit():
                if not _mapped(linux[f"{key}Mappings"], int(value)):
                    raise ConfigError(f"mounts[{i}]: cannot specify {key}= mount options for unmapped "
                                      f"{key} in rootless containers", field=f"mounts[{i}].options")


# -- cgroups ------------------------------------------------------------------------------

# linux.resources field -> the cgroup v1 controllers that apply it
RESOURCE_CONTROLLERS = {
    "memory": ("memory",), "cpu": ("cpu", "cpuset"), "pids": ("pids",), "blockIO": ("blkio",),
    "hugepageLimits": ("hugetlb",), "network": ("net_cls", "net_prio"), "rdma": ("rdma",),
}
UNIFIED = "unified"


def _can_use(path: str) -> bool:
    """We can make the cgroup (its nearest existing ancestor is writable) or
    join it (it exists and its tasks/cgroup.procs is writable)."""
    if os.path.isdir(path):
        return any(os.access(os.path.join(path, f), os.W_OK) for f in ("tasks", "cgroup.procs"))
    parent = os.path.dirname(path)
    while parent != "/" and not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return os.access(parent, os.W_OK | os.X_OK)


def prune_cgroups(mgr: Manager, resources: dict[str, Any] | None, cgroups_path: str | None) -> Manager:
    """The manager to use: `mgr` without the hierarchies we cannot use, or
    one with none (a cgroup2-only host whose cgroup is not delegated to us).
    A limit that needed a left-out controller is refused (runc: "cannot set
    X limit: container could not join or create cgroup"). An explicit
    linux.cgroupsPath must be usable in every hierarchy (runc ignores the
    permission errors only for the default path)."""
    from pyruntime.cgroups.manager import Manager

    dropped = [ctrl for ctrl, path in mgr.paths.items() if not _can_use(path)]
    if cgroups_path and dropped:
        raise PyruntimeError(f"linux.cgroupsPath: rootless container cannot create or join cgroup "
                             f"{mgr.paths[dropped[0]]}: not writable by uid {os.geteuid()} (delegate it, "
                             f"or leave cgroupsPath out to run without cgroups)",
                             field="linux.cgroupsPath", path=mgr.paths[dropped[0]])
    if euid_rootless() and "devices" in mgr.paths:
        # device rules: writing devices.allow/deny needs CAP_SYS_ADMIN on the host,
        # so they are not applied (runc ignores their errors rootless)
        dropped.append("devices")
    kept = {ctrl: path for ctrl, path in mgr.paths.items() if ctrl not in dropped}
    _left_out.clear()
    _left_out.update(_callers_cgroups(dropped))
    for field, value in (resources or {}).items():
        if not value or field == "devices":
            continue
        wanted = (*RESOURCE_CONTROLLERS.get(field, ()), UNIFIED)
        if any(c in dropped for c in wanted) and not any(c in kept for c in wanted):
            raise PyruntimeError(f"linux.resources.{field}: cannot set {field} limit: rootless container "
                                 f"could not join or create cgroup (not writable by uid {os.geteuid()})",
                                 field=f"linux.resources.{field}")
    if type(mgr) is not Manager:  # cgroup2 (one tree): all or nothing
        return mgr if not dropped else Manager({})
    mgr.paths = kept
    return mgr


def _callers_cgroups(controllers: list[str]) -> dict[str, str]:
    """{controller: this process's own cgroup dir} for the given v1 controllers
    (the container is not moved in those: it stays where its caller is)."""
    from pyruntime.cgroups.hierarchy import hierarchies, own_cgroups

    mounts, own = hierarchies(), own_cgroups()
    return {ctrl: os.path.normpath(mounts[ctrl] + own[ctrl]) for ctrl in controllers
            if ctrl != UNIFIED and ctrl in mounts and ctrl in own}


def cgroup_mount_paths(paths: dict[str, str]) -> dict[str, str]:
    """The cgroup dirs a `{"type": "cgroup"}` mount shows on a v1 host: the
    container's own (`paths`) and, rootless, the caller's cgroup of each
    hierarchy left out, where the container is too. runc 1.1.5 binds every
    v1 hierarchy at the init's cgroup in it (getCgroupMounts reads
    /proc/self/cgroup), so a JVM or systemd finds memory.limit_in_bytes, pids.max...
    An empty /sys/fs/cgroup otherwise (the rootless Podman case: nothing kept)."""
    return {**_left_out, **paths} if _left_out else paths


# -- spec --rootless ----------------------------------------------------------------------

def to_rootless(spec: dict[str, Any]) -> dict[str, Any]:
    """runc's specconv.ToRootless: no network namespace (nothing could set it
    up), a user namespace mapping root to the caller's uid and gid, /sys as
    a read-only bind of the host's (sysfs needs a network namespace of its
    own), no uid=/gid= mount options (unmapped ids), no resources."""
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = [ns for ns in linux.get("namespaces") or []
                           if ns.get("type") not in ("network", "user")] + [{"type": "user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    mounts = []
    for m in spec.get("mounts") or []:
        if os.path.normpath(m.get("destination", "")) == "/sys":
            mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
            continue
        m = dict(m)
        if "options" in m:
            m["options"] = [o for o in m["options"] if not o.startswith(("uid=", "gid="))]
        mounts.append(m)
    spec["mounts"] = mounts
    linux.pop("resources", None)
    return spec
