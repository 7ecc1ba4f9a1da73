"""A container's cgroup files by their v1 names, found on either a v1 /
hybrid host (the controller's hierarchy) or a pure cgroup v2 host (the one
directory under /sys/fs/cgroup, with the v2 file name)."""

from __future__ import annotations

from pathlib import Path

from tests.support.isolation import cgroup_dir, parse_mountinfo, v1_hierarchies

V2_ROOT = Path("/sys/fs/cgroup")
U64_MAX = (1 << 64) - 1
# v1 file -> v2 file (same meaning; values may differ in form: "max" for unlimited)
V2_NAMES = {
    "memory.limit_in_bytes": "memory.max",
    "memory.soft_limit_in_bytes": "memory.low",
    "memory.usage_in_bytes": "memory.current",
    "cpu.shares": "cpu.weight",
    "freezer.state": "cgroup.freeze",
}


def pure_v2() -> bool:
    """No v1 hierarchy and /sys/fs/cgroup is cgroup2 (the qemu guest lane)."""
    mounts = parse_mountinfo(Path("/proc/self/mountinfo").read_text())
    return not any(m.fstype == "cgroup" for m in mounts) and any(
        m.fstype == "cgroup2" and m.mount_point == str(V2_ROOT) for m in mounts)


def cg_dir(ctrl: str, cgpath: str) -> Path:
    if pure_v2():
        return V2_ROOT / cgpath.lstrip("/")
    return cgroup_dir(v1_hierarchies()[ctrl], cgpath)


def cg_file(ctrl: str, cgpath: str, v1_name: str) -> Path:
    name = V2_NAMES.get(v1_name, v1_name) if pure_v2() else v1_name
    return cg_dir(ctrl, cgpath) / name


def cg_int(ctrl: str, cgpath: str, v1_name: str) -> int:
    """An integer file; "max" (v2's unlimited) reads as the largest uint64."""
    text = cg_file(ctrl, cgpath, v1_name).read_text().strip()
    return U64_MAX if text == "max" else int(text)


def oom_kills(cgpath: str) -> int:
    """OOM kills in the cgroup: v1 memory.oom_control / v2 memory.events."""
    f = "memory.events" if pure_v2() else "memory.oom_control"
    lines = (cg_dir("memory", cgpath) / f).read_text().splitlines()
    return int(dict(ln.split() for ln in lines).get("oom_kill", "0"))


def has_memsw() -> bool:
    """Swap accounting: v1 memory.memsw.*, v2 memory.swap.*"""
    if pure_v2():
        return (V2_ROOT / "cgroup.controllers").exists() and any(
            (d / "memory.swap.max").exists() for d in V2_ROOT.iterdir() if d.is_dir())
    mem = v1_hierarchies().get("memory")
    return mem is not None and (mem / "memory.memsw.limit_in_bytes").exists()


def cgroup_mounts() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 and cgroup2), first mount of each."""
    out: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        pre, _, post = line.partition(" - ")
        f, fstype = pre.split(), post.split()[0]
        if fstype in ("cgroup", "cgroup2") and f[3] == "/":
            out.setdefault(f[2], Path(f[4]))
    return list(out.values())


def remove_test_cgroups(cgpath: str) -> None:
    """Whatever is left of cgpath in any hierarchy (v1, hybrid cgroup2, pure v2)."""
    from tests.support.isolation import remove_cgroup_tree

    for mount in cgroup_mounts():
        remove_cgroup_tree(cgroup_dir(mount, cgpath))
