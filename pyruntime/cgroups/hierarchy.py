"""Find the mounted cgroup hierarchies and this process's place in them."""

from __future__ import annotations

from pyruntime.state.procfs import parse_mountinfo_line, parse_proc_cgroup

# v1 controllers a container is placed under when the host mounts them.
V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc", "name=systemd")
UNIFIED = "unified"  # our key for the cgroup2 hierarchy


def parse_hierarchies(mountinfo: str) -> dict[str, str]:
    """{controller (or 'name=x', or 'unified' for cgroup2): mount point}.
    The first mount of each hierarchy wins (later ones are bind copies)."""
    out: dict[str, str] = {}
    for line in mountinfo.splitlines():
        if " - cgroup" not in line:
            continue
        root, mnt, fstype, opts = parse_mountinfo_line(line)
        if root != "/":
            continue  # a bind of a sub-cgroup, not the hierarchy root
        if fstype == "cgroup2":
            out.setdefault(UNIFIED, mnt)
        elif fstype == "cgroup":
            for o in opts.split(","):
                if o in V1_CONTROLLERS:
                    out.setdefault(o, mnt)
    return out


def hierarchies() -> dict[str, str]:
    with open("/proc/self/mountinfo") as f:
        return parse_hierarchies(f.read())


def own_cgroups() -> dict[str, str]:
    """{controller or 'unified': this process's cgroup path}."""
    with open("/proc/self/cgroup") as f:
        d = parse_proc_cgroup(f.read())
    if "" in d:
        d[UNIFIED] = d.pop("")
    return d
