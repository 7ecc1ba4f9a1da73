"""cgroups/hierarchy.parse_hierarchies on recorded and synthetic mountinfo."""

from __future__ import annotations

from pyruntime.cgroups.hierarchy import UNIFIED, parse_hierarchies
from tests.unit.conftest import DATA

PURE_V2 = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
99 22 0:26 /user.slice /mnt/bound rw shared:4 - cgroup2 cgroup2 rw,nsdelegate
"""

COMOUNTED = """\
25 24 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:5 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:6 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:7 - cgroup cgroup rw,xattr,name=systemd
31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
32 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,net_cls,net_prio
33 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,memory
34 25 0:29 /docker/abc /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
35 22 0:29 / /other/memory rw,nosuid - cgroup cgroup rw,memory
"""


def test_recorded_hybrid() -> None:
    h = parse_hierarchies((DATA / "proc_self_mountinfo.txt").read_text())
    base = "/sys/fs/cgroup"
    assert h == {
        "cpu": f"{base}/cpu", "cpuacct": f"{base}/cpuacct", "cpuset": f"{base}/cpuset",
        "memory": f"{base}/memory", "devices": f"{base}/devices", "freezer": f"{base}/freezer",
        "blkio": f"{base}/blkio", "pids": f"{base}/pids", "name=systemd": f"{base}/systemd",
        UNIFIED: f"{base}/unified",
    }


def test_pure_v2_ignores_bind_of_a_subtree() -> None:
    assert parse_hierarchies(PURE_V2) == {UNIFIED: "/sys/fs/cgroup"}


def test_comounted_controllers_share_a_mount() -> None:
    h = parse_hierarchies(COMOUNTED)
    assert h["cpu"] == h["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert h["net_cls"] == h["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"
    assert h["name=systemd"] == "/sys/fs/cgroup/systemd"
    assert h[UNIFIED] == "/sys/fs/cgroup/unified"
    # the first mount of a hierarchy wins; sub-cgroup binds are skipped
    assert h["memory"] == "/sys/fs/cgroup/memory"
    assert set(h) == {"cpu", "cpuacct", "net_cls", "net_prio", "name=systemd", UNIFIED, "memory"}


def test_no_cgroups_mounted() -> None:
    assert parse_hierarchies("22 1 259:2 / / rw - ext4 /dev/sda rw\n") == {}
    assert parse_hierarchies("") == {}


def test_unknown_options_are_not_controllers() -> None:
    text = "27 25 0:23 / /cg rw - cgroup cgroup rw,xattr,release_agent=/x,clone_children,name=other\n"
    assert parse_hierarchies(text) == {}
