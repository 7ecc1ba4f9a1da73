"""config-linux.md "Default Filesystems", "Namespaces", "User namespace
mappings" (and timeOffsets through the time namespace): each checked from
inside the container and against the host's own namespaces."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.integration.test_namespaces import HOST_ID, ID_SIZE, _chown_tree, userns_dir  # noqa: F401
from tests.support.bundle import base_config, write_bundle
from tests.support.isolation import (
    describe,
    last_mount_at,
    ns_inode,
    parse_mountinfo,
    run_ok,
    set_namespace,
    start_detached,
)

MakeBundle = Callable[..., Path]
DAY = 86400
_RUNC_NO_TIMENS = "runc 1.1.5 does not know the time namespace type (runc 1.2 added it)"

PROC_NS = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
           "cgroup": "cgroup", "time": "time"}


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


# ---------------------------------------------------------------- default filesystems

@pytest.mark.spec("config-linux-filesystems-1")
def test_default_filesystems(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("stat -f -c %T /proc /sys /dev/pts /dev/shm; echo --; "
                                    "cat /proc/self/mountinfo")), cid)
    head, _, mountinfo = out.partition("--\n")
    assert head.split() == ["proc", "sysfs", "devpts", "tmpfs"], out
    mounts = parse_mountinfo(mountinfo)
    for point, fstype in {"/proc": "proc", "/sys": "sysfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs"}.items():
        m = last_mount_at(mounts, point)
        assert m is not None and m.fstype == fstype, f"{point}: {m}"


# ---------------------------------------------------------------- each namespace type, new

@pytest.fixture
def host_shm_segment() -> Iterator[int]:
    """A SysV shared memory segment in the host's IPC namespace (removed after)."""
    p = subprocess.run(["ipcmk", "-M", "4096"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"ipcmk cannot make a SysV segment: {p.stderr.strip()}")
    shmid = int(p.stdout.split()[-1])
    yield shmid
    subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True)


@pytest.mark.spec("config-linux-namespaces-type-pid", "config-linux-namespaces-new-1")
def test_new_pid_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/pid; echo $$; ls -d /proc/[0-9]* | wc -l")), cid)
    inner, pid, count = out.split()
    assert inner != ns_inode("self", "pid"), out
    assert pid == "1", out
    assert int(count) <= 3, f"the container sees processes other than its own: {out}"


@pytest.mark.spec("config-linux-namespaces-type-network", "config-linux-namespaces-new-1")
def test_new_network_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/net; ls /sys/class/net")), cid)
    inner, *links = out.split()
    assert inner != ns_inode("self", "net"), out
    assert links == ["lo"], f"the container sees interfaces other than its own lo: {out}"
    assert len(os.listdir("/sys/class/net")) >= 1


@pytest.mark.spec("config-linux-namespaces-type-mount", "config-linux-namespaces-new-1")
def test_new_mount_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(sh("readlink /proc/self/ns/mnt; cat /proc/self/mountinfo"))
    out = run_ok(rt, b, cid)
    inner, _, mountinfo = out.partition("\n")
    assert inner != ns_inode("self", "mnt"), out
    inside = parse_mountinfo(mountinfo)
    assert last_mount_at(inside, "/proc") is not None, mountinfo
    # the container's table is its own: its root is not one of the host's mount points ...
    assert last_mount_at(inside, "/") is not None
    host = Path("/proc/self/mountinfo").read_text()
    # ... and none of its mounts leaked into the host's table
    assert str(b.resolve()) not in host, "container mounts visible on the host"


@pytest.mark.spec("config-linux-namespaces-type-ipc", "config-linux-namespaces-new-1")
def test_new_ipc_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle, host_shm_segment: int) -> None:
    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/ipc; tail -n +2 /proc/sysvipc/shm | wc -l")), cid)
    inner, count = out.split()
    assert inner != ns_inode("self", "ipc"), out
    host_ids = [ln.split()[1] for ln in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    assert str(host_shm_segment) in host_ids
    assert count == "0", f"the host's SysV segment is visible inside: {out}"


@pytest.mark.spec("config-linux-namespaces-type-uts", "config-linux-namespaces-new-1")
def test_new_uts_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    before = socket.gethostname()

    def mutate(c: dict[str, Any]) -> None:
        c["hostname"] = "pyrt-conf-uts"
        c["domainname"] = "pyrt-conf-domain"

    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/uts; hostname; cat /proc/sys/kernel/domainname"),
                                 mutate=mutate), cid)
    inner, host_name, domain = out.split()
    assert inner != ns_inode("self", "uts"), out
    assert host_name == "pyrt-conf-uts", out
    assert socket.gethostname() == before
    # domainname is a 1.2 field (runc 1.1.5 ignores it): the hostname is the check here
    assert domain in ("pyrt-conf-domain", "(none)"), out


@pytest.mark.spec("config-linux-namespaces-type-user", "config-linux-namespaces-new-1")
def test_new_user_namespace(rt: Runtime, cid: str, busybox_rootfs: Path, userns_dir: Path) -> None:  # noqa: F811
    cfg = base_config(sh("readlink /proc/self/ns/user; id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; "
                         "stat -c '%u %g' /bin/busybox"))
    set_namespace(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    bundle = write_bundle(userns_dir / "bundle", cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)
    lines = run_ok(rt, bundle, cid).strip().splitlines()
    assert lines[0] != ns_inode("self", "user"), lines
    assert lines[1:3] == ["0", "0"], lines
    assert lines[3].split() == ["0", str(HOST_ID), str(ID_SIZE)], lines
    assert lines[4].split() == ["0", str(HOST_ID), str(ID_SIZE)], lines
    # host uid HOST_ID (the rootfs owner) is uid 0 inside
    assert lines[5] == "0 0", lines


@pytest.mark.spec("config-linux-namespaces-type-cgroup", "config-linux-namespaces-new-1")
def test_new_cgroup_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/cgroup; cat /proc/self/cgroup"),
                                 mutate=lambda c: set_namespace(c, "cgroup")), cid)
    inner, *lines = out.split()
    assert inner != ns_inode("self", "cgroup"), out
    assert lines and all(ln.split(":", 2)[2] == "/" for ln in lines), f"not rooted at its own cgroup: {out}"


@pytest.mark.spec("config-linux-namespaces-type-time", "config-linux-namespaces-new-1")
def test_new_time_namespace(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces (CONFIG_TIME_NS)")

    def mutate(c: dict[str, Any]) -> None:
        set_namespace(c, "time")
        c["linux"]["timeOffsets"] = {"boottime": {"secs": DAY, "nanosecs": 0},
                                     "monotonic": {"secs": 2 * DAY, "nanosecs": 500}}

    before = float(Path("/proc/uptime").read_text().split()[0])
    out = run_ok(rt, make_bundle(sh("readlink /proc/self/ns/time; cat /proc/uptime; "
                                    "cat /proc/self/timens_offsets"), mutate=mutate), cid)
    lines = out.strip().splitlines()
    assert lines[0] != ns_inode("self", "time"), out
    uptime = float(lines[1].split()[0])
    assert before + DAY <= uptime < before + DAY + 120, out
    offsets = {f[0]: (int(f[1]), int(f[2])) for f in (ln.split() for ln in lines[2:])}
    assert offsets == {"monotonic": (2 * DAY, 500), "boottime": (DAY, 0)}, out


# ---------------------------------------------------------------- path: join

@pytest.fixture
def holder(rt: Runtime, cid: str, make_bundle: MakeBundle) -> Iterator[int]:
    """A running container with new pid, network, ipc and uts namespaces; its host pid."""
    pid = start_detached(rt, make_bundle(["sleep", "60"], name="holder"), cid + "h")
    yield pid
    rt("kill", cid + "h", "KILL")


@pytest.mark.spec("config-linux-namespaces-path-2")
def test_join_namespaces_by_path(rt: Runtime, cid: str, make_bundle: MakeBundle, holder: int) -> None:
    kinds = {"network": "net", "ipc": "ipc", "uts": "uts", "pid": "pid"}

    def mutate(c: dict[str, Any]) -> None:
        c.pop("hostname", None)  # the uts namespace is the holder's
        for t, k in kinds.items():
            set_namespace(c, t, f"/proc/{holder}/ns/{k}")

    script = "; ".join(f"readlink /proc/self/ns/{k}" for k in kinds.values()) + "; ps -o comm | grep -c sleep"
    out = run_ok(rt, make_bundle(sh(script), mutate=mutate, name="joiner"), cid)
    *inodes, sleepers = out.split()
    assert inodes == [ns_inode(holder, k) for k in kinds.values()], out
    assert all(i != ns_inode("self", k) for i, k in zip(inodes, kinds.values(), strict=True)), out
    assert sleepers == "1", f"the holder's sleep is not visible in the joined pid namespace: {out}"


@pytest.mark.spec("config-linux-namespaces-path-2")
def test_join_mount_and_cgroup_namespaces_by_path(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """The test above joins pid, network, ipc and uts; mount and cgroup by
    path too ("the namespace associated with that path", whatever the type).
    The holder is a process of the host in new mount and cgroup namespaces
    (a copy of the host's table, so the bundle's rootfs is found there, as
    runc and pyruntime look for it after joining) with a tmpfs mounted, in
    that namespace only, inside the rootfs: the container sees its file only
    if its rootfs was set up in the joined namespace."""
    script = "readlink /proc/self/ns/mnt; readlink /proc/self/ns/cgroup; cat /holder-mnt/f"
    b = make_bundle(sh(script), name="joiner")  # the rootfs first; config.json again below
    target = b / "rootfs" / "holder-mnt"
    target.mkdir()
    ready = b / "holder-ready"
    holder = subprocess.Popen(
        ["unshare", "--mount", "--cgroup", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs pyrt-holder {target} && echo holder-file > {target}/f && touch {ready} && "
         "exec sleep 60"], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), "the holder did not come up"
        want = [ns_inode(holder.pid, "mnt"), ns_inode(holder.pid, "cgroup")]
        assert want != [ns_inode("self", "mnt"), ns_inode("self", "cgroup")]
        assert not (target / "f").exists(), "the holder's tmpfs is visible on the host"

        def mutate(c: dict[str, Any]) -> None:
            set_namespace(c, "mount", f"/proc/{holder.pid}/ns/mnt")
            set_namespace(c, "cgroup", f"/proc/{holder.pid}/ns/cgroup")

        b = make_bundle(sh(script), mutate=mutate, name="joiner")
        out = run_ok(rt, b, cid)
        *inodes, marker = out.strip().splitlines()
        assert inodes == want, out
        assert marker == "holder-file", f"the rootfs was not set up in the joined mount namespace: {out}"
    finally:
        holder.kill()
        holder.wait()


def _userns_bundle(dirpath: Path, busybox_rootfs: Path, args: list[str], user_path: str | None) -> Path:
    cfg = base_config(args)
    set_namespace(cfg, "user", user_path)
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    bundle = write_bundle(dirpath, cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)
    return bundle


@pytest.mark.spec("config-linux-namespaces-path-2")
def test_join_user_namespace_by_path(rt: Runtime, cid: str, busybox_rootfs: Path,
                                     userns_dir: Path) -> None:  # noqa: F811
    """The user namespace by path: the holder is a container with a new user
    namespace (host ids 100000+ as 0+); the joiner names it by path, with the
    same mappings (the namespace's own, which runc requires to be given)."""
    hb = _userns_bundle(userns_dir / "holder", busybox_rootfs, ["sleep", "60"], None)
    hpid = start_detached(rt, hb, cid + "h")
    try:
        jb = _userns_bundle(userns_dir / "joiner", busybox_rootfs,
                            sh("readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map"),
                            f"/proc/{hpid}/ns/user")
        lines = run_ok(rt, jb, cid).strip().splitlines()
        assert lines[0] == ns_inode(hpid, "user") != ns_inode("self", "user"), lines
        assert lines[1] == "0", lines
        assert lines[2].split() == ["0", str(HOST_ID), str(ID_SIZE)], lines
    finally:
        rt("kill", cid + "h", "KILL")


@pytest.mark.spec("config-linux-namespaces-path-2")
def test_join_time_namespace_by_path(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                     make_bundle: MakeBundle) -> None:
    """The time namespace by path: the holder is a host process in a time
    namespace whose boottime is a day ahead; the container must have its
    clocks. runc 1.1.5 does not know the time type (runc 1.2 does): marked."""
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("this kernel has no time namespaces (CONFIG_TIME_NS)")
    known_gap(request, rt, _RUNC_NO_TIMENS, runtime="runc")
    holder = subprocess.Popen(["unshare", "--time", "--boottime", str(DAY), "sleep", "60"],
                              stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while ns_inode(holder.pid, "time") == ns_inode("self", "time") and time.monotonic() < deadline:
            time.sleep(0.02)
        want = ns_inode(holder.pid, "time")
        assert want != ns_inode("self", "time"), "the holder did not get its time namespace"
        before = float(Path("/proc/uptime").read_text().split()[0])
        b = make_bundle(sh("readlink /proc/self/ns/time; cat /proc/uptime"),
                        mutate=lambda c: set_namespace(c, "time", f"/proc/{holder.pid}/ns/time"))
        inode, uptime = run_ok(rt, b, cid).strip().splitlines()
        assert inode == want
        assert before + DAY <= float(uptime.split()[0]) < before + DAY + 120, uptime
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def named_netns() -> Iterator[Path]:
    """A network namespace bind-mounted at /run/netns/NAME by `ip netns add`."""
    name = f"pyrtc{uuid.uuid4().hex[:8]}"
    p = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"ip netns add: {p.stderr.strip()}")
    yield Path("/run/netns") / name
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.spec("config-linux-namespaces-path-2")
def test_join_bind_mounted_namespace_file(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                          named_netns: Path) -> None:
    b = make_bundle(["readlink", "/proc/self/ns/net"],
                    mutate=lambda c: set_namespace(c, "network", str(named_netns)))
    out = run_ok(rt, b, cid)
    assert out.strip() == f"net:[{os.stat(named_netns).st_ino}]", out


@pytest.mark.spec("config-linux-namespaces-path-3")
@pytest.mark.parametrize("ns_type,other", [("network", "uts"), ("mount", "net"), ("pid", "ipc"), ("uts", "pid"),
                                           ("ipc", "mnt"), ("cgroup", "net"), ("user", "uts")],
                         ids=lambda v: v)
def test_join_namespace_of_another_type_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    holder: int, ns_type: str, other: str) -> None:
    """Each type given a namespace file of another type (a runtime that
    calls setns(2) with nstype 0 joins whatever the file is)."""
    def mutate(c: dict[str, Any]) -> None:
        c.pop("hostname", None)
        set_namespace(c, ns_type, f"/proc/{holder}/ns/{other}")
        if ns_type == "user":
            c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
            c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]

    b = make_bundle(["echo", "should-not-run"], mutate=mutate)
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout, describe(p)


@pytest.mark.spec("config-linux-namespaces-path-3")
def test_join_a_file_that_is_no_namespace_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                      tmp_path: Path) -> None:
    plain = tmp_path / "not-a-namespace"
    plain.write_text("")
    b = make_bundle(["echo", "should-not-run"], mutate=lambda c: set_namespace(c, "ipc", str(plain)))
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout, describe(p)


# ---------------------------------------------------------------- inherit, duplicates

@pytest.mark.spec("config-linux-namespaces-inherit-1")
def test_unlisted_namespaces_are_inherited(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    kinds = ["net", "ipc", "uts", "pid", "cgroup", "user"] + (["time"] if os.path.exists("/proc/self/ns/time")
                                                              else [])

    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"] = [{"type": "mount"}]
        c.pop("hostname", None)

    script = "; ".join(f"readlink /proc/self/ns/{k}" for k in kinds)
    out = run_ok(rt, make_bundle(sh(script), mutate=mutate), cid)
    assert out.split() == [ns_inode("self", k) for k in kinds], out


@pytest.mark.spec("config-linux-namespaces-dup-1")
@pytest.mark.parametrize("dup", [{"type": "network"}, {"type": "mount"}, {"type": "pid"}, {"type": "ipc"},
                                 {"type": "uts"}, {"type": "cgroup", "twice": True},
                                 {"type": "network", "path": "/proc/self/ns/net"}],
                         ids=["network", "mount", "pid", "ipc", "uts", "cgroup", "network-new-and-path"])
def test_duplicate_namespace_types_are_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                dup: dict[str, Any]) -> None:
    """Any type twice, not only network; also one entry new and one by path."""
    def mutate(c: dict[str, Any]) -> None:
        entry = {k: v for k, v in dup.items() if k != "twice"}
        if dup.get("twice"):  # a type the base config does not list: add it twice
            c["linux"]["namespaces"].append(dict(entry))
        c["linux"]["namespaces"].append(entry)

    p = rt("run", "--bundle", str(make_bundle(["echo", "should-not-run"], mutate=mutate)), cid)
    assert p.returncode != 0, describe(p)
    assert "should-not-run" not in p.stdout, describe(p)
    assert cid not in rt("list", "-q").stdout.split()


# ---------------------------------------------------------------- user namespace mappings

def _owners(top: Path) -> dict[str, tuple[int, int]]:
    out = {".": (os.lstat(top).st_uid, os.lstat(top).st_gid)}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out[os.path.relpath(p, top)] = (st.st_uid, st.st_gid)
    return out


@pytest.mark.spec("config-linux-userns-1")
def test_mapping_does_not_chown_filesystems(rt: Runtime, cid: str, busybox_rootfs: Path,
                                            userns_dir: Path) -> None:  # noqa: F811
    shared = userns_dir / "shared"
    shared.mkdir()
    (shared / "hostfile").write_text("x")
    os.chmod(shared, 0o755)
    cfg = base_config(sh("cat /proc/self/uid_map; stat -c '%u %g' /data /data/hostfile /bin/busybox"))
    set_namespace(cfg, "user")
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_ID, "size": ID_SIZE}]
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind"]})
    bundle = write_bundle(userns_dir / "bundle", cfg, rootfs_src=busybox_rootfs)
    os.chmod(bundle, 0o755)
    # a rootfs owned partly by the mapped range, partly by host root
    _chown_tree(bundle / "rootfs", HOST_ID, HOST_ID)
    os.lchown(bundle / "rootfs" / "etc" / "passwd", 0, 0)
    rootfs_before, shared_before = _owners(bundle / "rootfs"), _owners(shared)

    lines = run_ok(rt, bundle, cid).strip().splitlines()
    assert lines[0].split() == ["0", str(HOST_ID), str(ID_SIZE)], lines
    # host root is unmapped inside: the overflow id shows, nothing was chowned to make it 0
    assert lines[1:] == ["65534 65534", "65534 65534", "0 0"], lines
    after = _owners(bundle / "rootfs")  # (plus the mount point the runtime made)
    assert {k: after.get(k) for k in rootfs_before} == rootfs_before
    assert _owners(shared) == shared_before
