"""A `{"type": "cgroup"}` mount (`runc spec` has one at /sys/fs/cgroup).

On a v1 or hybrid host it is a tmpfs holding one directory per host v1
hierarchy (a hybrid host's cgroup2 one is left out, as runc), each a bind
mount of the container's own cgroup there, so the container sees its
cgroup as the root and nothing above it. On a pure v2 host
it is a cgroup2 mount (rooted at the container's cgroup namespace).
"""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.cgroups.hierarchy import UNIFIED


def mount_cgroup_tree(target: str, flags: int, paths: dict[str, str], mounts: dict[str, str],
                      new_cgroupns: bool) -> None:
    """paths: {controller: the container's cgroup dir}; mounts: {controller: mount point}."""
    ro = flags & sc.MS_RDONLY
    base = flags & ~(sc.MS_RDONLY | sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    m = sc.sys()
    if set(mounts) == {UNIFIED}:
        if new_cgroupns:
            m.mount("cgroup2", target, "cgroup2", base | ro)
        else:
            m.mount(paths[UNIFIED], target, None, sc.MS_BIND | sc.MS_REC)
            m.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | base | ro)
        return
    m.mount("tmpfs", target, "tmpfs", base, "mode=755")
    done: dict[str, str] = {}
    for ctrl, mnt in sorted(mounts.items()):
        name = os.path.basename(mnt)
        if mnt in done or ctrl not in paths:
            continue  # a hierarchy the container was not placed in
        if ctrl == UNIFIED:
            # A hybrid host's cgroup2 hierarchy holds the container too, but is
            # not shown in its tree: runc 1.1.5 mounts only the v1 hierarchies
            # there (its GetCgroupMounts reads "cgroup" mounts), cgroup
            # namespace or not, and the container's mounts match runc's.
            continue
        done[mnt] = name
        sub = os.path.join(target, name)
        os.makedirs(sub, exist_ok=True)
        m.mount(paths[ctrl], sub, None, sc.MS_BIND | sc.MS_REC)
        m.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | base | ro)
        # A co-mounted hierarchy "cpu,cpuacct" is reachable as "cpu" and "cpuacct".
        if "," in name:
            for alias in name.split(","):
                if not os.path.exists(os.path.join(target, alias)):
                    os.symlink(name, os.path.join(target, alias))
    if ro:
        m.mount(None, target, None, sc.MS_REMOUNT | base | ro)
