"""rootfs/mounts, rootfs/cgroupfs, rootfs/pivot and rootfs/devices against the
recording fake: the exact mount(2) calls, with a tmp rootfs."""

from __future__ import annotations

import copy
import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError
from pyruntime.rootfs import devices, pivot
from pyruntime.rootfs.mounts import MountContext, mount_all, prepare_root
from tests.support.bundle import RUNC_SPEC
from tests.unit.fakes import RecordingSyscalls

NOSUID, NOEXEC, NODEV = sc.MS_NOSUID, sc.MS_NOEXEC, sc.MS_NODEV


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    b = tmp_path / "bundle"
    (b / "rootfs").mkdir(parents=True)
    (b / "hostdir").mkdir()
    (b / "hostfile").write_text("x")
    return b


def ctx_for(bundle: Path, new_ns: set[str] | None = None,
            cg_paths: dict[str, str] | None = None, cg_mounts: dict[str, str] | None = None) -> MountContext:
    ns = {"pid", "network", "ipc", "uts", "mount"} if new_ns is None else new_ns
    return MountContext(str(bundle / "rootfs"), str(bundle), cg_paths or {}, cg_mounts or {}, ns)


def spec_mounts_without_cgroup() -> list[dict[str, Any]]:
    ms: list[dict[str, Any]] = copy.deepcopy(RUNC_SPEC["mounts"])
    return [m for m in ms if m["type"] != "cgroup"]


# -- mount_all ----------------------------------------------------------------------

def test_runc_spec_mounts_plus_binds(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    mounts = spec_mounts_without_cgroup() + [
        {"destination": "/data", "type": "bind", "source": "hostdir", "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/etc/hostname", "source": str(bundle / "hostfile"), "options": ["bind"]},
        {"destination": "shared", "type": "none", "source": "hostdir", "options": ["rbind", "rprivate"]},
    ]
    r = str(bundle / "rootfs")
    setup_dev = mount_all(ctx_for(bundle), mounts)
    assert setup_dev is True
    assert fake_sys.mounts == [
        ("proc", f"{r}/proc", "proc", 0, None),
        ("tmpfs", f"{r}/dev", "tmpfs", NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k"),
        ("devpts", f"{r}/dev/pts", "devpts", NOSUID | NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("shm", f"{r}/dev/shm", "tmpfs", NOSUID | NOEXEC | NODEV, "mode=1777,size=65536k"),
        ("mqueue", f"{r}/dev/mqueue", "mqueue", NOSUID | NOEXEC | NODEV, None),
        ("sysfs", f"{r}/sys", "sysfs", NOSUID | NOEXEC | NODEV | sc.MS_RDONLY, None),
        (str(bundle / "hostdir"), f"{r}/data", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{r}/data", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | NOSUID, None),
        (str(bundle / "hostfile"), f"{r}/etc/hostname", None, sc.MS_BIND, None),
        (str(bundle / "hostdir"), f"{r}/shared", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{r}/shared", None, sc.MS_PRIVATE | sc.MS_REC, None),
    ]
    assert [c.name for c in fake_sys.calls] == ["mount"] * 11
    # mount points were made in the rootfs: directories, and a file for a file bind
    for d in ("proc", "dev", "dev/pts", "dev/shm", "dev/mqueue", "sys", "data", "shared"):
        assert (bundle / "rootfs" / d).is_dir()
    assert (bundle / "rootfs" / "etc" / "hostname").is_file()


def test_bind_of_dev_means_no_default_devices(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    mounts = [{"destination": "/dev/", "type": "bind", "source": str(bundle / "hostdir"), "options": ["rbind"]}]
    assert mount_all(ctx_for(bundle), mounts) is False
    assert fake_sys.mounts == [(str(bundle / "hostdir"), str(bundle / "rootfs" / "dev"), None,
                                sc.MS_BIND | sc.MS_REC, None)]


def test_mount_target_through_planted_symlink_stays_in_rootfs(fake_sys: RecordingSyscalls,
                                                               bundle: Path) -> None:
    (bundle / "rootfs" / "evil").symlink_to("/etc")
    mount_all(ctx_for(bundle), [{"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"}])
    assert fake_sys.mounts == [("tmpfs", str(bundle / "rootfs" / "etc" / "x"), "tmpfs", 0, None)]


def test_missing_bind_source_names_the_mount(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    mounts = [{"destination": "/proc", "type": "proc", "source": "proc"},
              {"destination": "/x", "type": "bind", "source": "/nonexistent/src"}]
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), mounts)
    assert e.value.field == "mounts[1]"
    assert e.value.errno == errno.ENOENT
    assert str(e.value) == ("mounts[1]: mounting '/nonexistent/src' on '/x' (type bind): "
                            "No such file or directory")
    assert len(fake_sys.mounts) == 1


def test_unsupported_option_names_the_field(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/x", "type": "tmpfs", "options": ["rro"]}])
    assert e.value.field == "mounts[0].options"
    assert "'rro' is not supported" in str(e.value)
    assert fake_sys.mounts == []


def test_mount_failure_is_reported_with_errno(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    fake_sys.fail("mount", errno.ENODEV)
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/x", "type": "nosuchfs", "source": "s"}])
    assert e.value.errno == errno.ENODEV
    assert str(e.value) == "mounts[0]: mounting 's' on '/x' (type nosuchfs): No such device"


def test_sysfs_eperm_without_netns_binds_host_sys(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    r = str(bundle / "rootfs")
    fake_sys.fail("mount", errno.EPERM, target=f"{r}/sys")
    sysfs = [m for m in spec_mounts_without_cgroup() if m["type"] == "sysfs"]
    mount_all(ctx_for(bundle, new_ns={"mount", "pid"}), sysfs)
    ro = NOSUID | NOEXEC | NODEV | sc.MS_RDONLY
    assert fake_sys.mounts == [
        ("sysfs", f"{r}/sys", "sysfs", ro, None),
        ("/sys", f"{r}/sys", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{r}/sys", None, sc.MS_BIND | sc.MS_REMOUNT | ro, None),
    ]


def test_mqueue_eperm_with_ipc_ns_is_an_error(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    fake_sys.fail("mount", errno.EPERM)
    mq = [m for m in spec_mounts_without_cgroup() if m["type"] == "mqueue"]
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle, new_ns={"ipc", "mount"}), mq)
    assert e.value.errno == errno.EPERM
    assert e.value.field == "mounts[0]"
    assert len(fake_sys.mounts) == 1


# -- the cgroup mount ---------------------------------------------------------------

CG_FLAGS = NOSUID | NOEXEC | NODEV | sc.MS_RELATIME


def cgroup_mount() -> list[dict[str, Any]]:
    return [copy.deepcopy(m) for m in RUNC_SPEC["mounts"] if m["type"] == "cgroup"]


def test_cgroup_mount_hybrid_host(fake_sys: RecordingSyscalls, bundle: Path) -> None:
    mounts = {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
              "memory": "/sys/fs/cgroup/memory", "unified": "/sys/fs/cgroup/unified"}
    paths = {"cpu": "/sys/fs/cgroup/cpu,cpuacct/c1", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/c1",
             "memory": "/sys/fs/cgroup/memory/p/c1", "unified": "/sys/fs/cgroup/unified/c1"}
    t = str(bundle / "rootfs" / "sys" / "fs" / "cgroup")
    mount_all(ctx_for(bundle, cg_paths=paths, cg_mounts=mounts), cgroup_mount())
    remount = sc.MS_BIND | sc.MS_REMOUNT | CG_FLAGS | sc.MS_RDONLY
    assert fake_sys.mounts == [
        ("tmpfs", t, "tmpfs", CG_FLAGS, "mode=755"),
        ("/sys/fs/cgroup/cpu,cpuacct/c1", f"{t}/cpu,cpuacct", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{t}/cpu,cpuacct", None, remount, None),
        ("/sys/fs/cgroup/memory/p/c1", f"{t}/memory", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{t}/memory", None, remount, None),
        ("/sys/fs/cgroup/unified/c1", f"{t}/unified", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{t}/unified", None, remount, None),
        (None, t, None, sc.MS_REMOUNT | CG_FLAGS | sc.MS_RDONLY, None),
    ]
    assert os.readlink(f"{t}/cpu") == "cpu,cpuacct"
    assert os.readlink(f"{t}/cpuacct") == "cpu,cpuacct"


@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_mount_pure_v2(fake_sys: RecordingSyscalls, bundle: Path, cgroupns: bool) -> None:
    t = str(bundle / "rootfs" / "sys" / "fs" / "cgroup")
    ns = {"mount", "cgroup"} if cgroupns else {"mount"}
    ctx = ctx_for(bundle, new_ns=ns, cg_paths={"unified": "/sys/fs/cgroup/c1"},
                  cg_mounts={"unified": "/sys/fs/cgroup"})
    mount_all(ctx, cgroup_mount())
    if cgroupns:
        assert fake_sys.mounts == [("cgroup2", t, "cgroup2", CG_FLAGS | sc.MS_RDONLY, None)]
    else:
        assert fake_sys.mounts == [
            ("/sys/fs/cgroup/c1", t, None, sc.MS_BIND | sc.MS_REC, None),
            (None, t, None, sc.MS_BIND | sc.MS_REMOUNT | CG_FLAGS | sc.MS_RDONLY, None),
        ]


# -- prepare_root ---------------------------------------------------------------------

def test_prepare_root_default_rslave(fake_sys: RecordingSyscalls) -> None:
    prepare_root("/b/rootfs", None)
    assert fake_sys.mounts == [
        (None, "/", None, sc.MS_SLAVE | sc.MS_REC, None),
        ("/b/rootfs", "/b/rootfs", None, sc.MS_BIND | sc.MS_REC, None),
    ]


def test_prepare_root_shared_makes_rootfs_private(fake_sys: RecordingSyscalls) -> None:
    prepare_root("/b/rootfs", "rshared")
    assert fake_sys.mounts == [
        (None, "/", None, sc.MS_SHARED | sc.MS_REC, None),
        ("/b/rootfs", "/b/rootfs", None, sc.MS_BIND | sc.MS_REC, None),
        (None, "/b/rootfs", None, sc.MS_PRIVATE, None),
    ]


def test_prepare_root_private(fake_sys: RecordingSyscalls) -> None:
    prepare_root("/r", "private")
    assert fake_sys.mounts[0] == (None, "/", None, sc.MS_PRIVATE, None)
    assert len(fake_sys.mounts) == 2


def test_prepare_root_unknown_propagation(fake_sys: RecordingSyscalls) -> None:
    with pytest.raises(PyruntimeError) as e:
        prepare_root("/r", "sideways")
    assert e.value.field == "linux.rootfsPropagation"
    assert "'sideways'" in str(e.value)
    assert fake_sys.calls == []


# -- pivot ------------------------------------------------------------------------------

def test_pivot_root_sequence(fake_sys: RecordingSyscalls, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # restores the cwd that pivot_root changes
    seen: list[str] = []
    real_pivot = fake_sys.pivot_root

    def pivot_checking_cwd(new_root: str, put_old: str) -> None:
        seen.append(os.getcwd())
        real_pivot(new_root, put_old)

    monkeypatch.setattr(fake_sys, "pivot_root", pivot_checking_cwd)
    pivot.pivot_root(str(tmp_path))
    assert seen == [str(tmp_path)]
    assert fake_sys.calls == [
        ("pivot_root", ".", "."),
        ("mount", None, ".", None, sc.MS_SLAVE | sc.MS_REC, None),
        ("umount2", ".", sc.MNT_DETACH),
    ]
    assert os.getcwd() == "/"


def test_pivot_root_failure_propagates(fake_sys: RecordingSyscalls, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    fake_sys.fail("pivot_root", errno.EINVAL)
    with pytest.raises(OSError) as e:
        pivot.pivot_root(str(tmp_path))
    assert e.value.errno == errno.EINVAL
    assert [c.name for c in fake_sys.calls] == ["pivot_root"]


def test_move_root(fake_sys: RecordingSyscalls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    chroots: list[str] = []
    monkeypatch.setattr(os, "chroot", chroots.append)
    pivot.move_root(str(tmp_path))
    assert fake_sys.mounts == [(str(tmp_path), "/", None, sc.MS_MOVE, None)]
    assert chroots == ["."]


def test_current_flags_matches_statvfs(tmp_path: Path) -> None:
    f = os.statvfs(tmp_path).f_flag
    want = 0
    for st_bit, ms in ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
                       (1024, sc.MS_NOATIME), (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME)):
        if f & st_bit:
            want |= ms
    assert pivot.current_flags(str(tmp_path)) == want


def test_readonly_root(fake_sys: RecordingSyscalls) -> None:
    pivot.readonly_root()
    keep = pivot.current_flags("/")
    assert fake_sys.mounts == [(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | keep, None)]


def test_mask_path_file(fake_sys: RecordingSyscalls) -> None:
    pivot.mask_path("/proc/kcore")
    assert fake_sys.mounts == [("/dev/null", "/proc/kcore", None, sc.MS_BIND, None)]


def test_mask_path_directory_gets_readonly_tmpfs(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.ENOTDIR)
    pivot.mask_path("/proc/acpi")
    assert fake_sys.mounts == [
        ("/dev/null", "/proc/acpi", None, sc.MS_BIND, None),
        ("tmpfs", "/proc/acpi", "tmpfs", sc.MS_RDONLY, None),
    ]


def test_mask_path_missing_is_skipped(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.ENOENT)
    pivot.mask_path("/proc/nope")
    assert len(fake_sys.mounts) == 1


def test_mask_path_other_error_raises(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.EPERM)
    with pytest.raises(OSError) as e:
        pivot.mask_path("/proc/kcore")
    assert e.value.errno == errno.EPERM


def test_readonly_path(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    p = str(tmp_path)
    pivot.readonly_path(p)
    assert fake_sys.mounts == [
        (p, p, None, sc.MS_BIND | sc.MS_REC, None),
        (None, p, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | pivot.current_flags(p), None),
    ]


def test_readonly_path_missing_is_skipped(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.ENOENT)
    pivot.readonly_path("/proc/nope")
    assert fake_sys.mounts == [("/proc/nope", "/proc/nope", None, sc.MS_BIND | sc.MS_REC, None)]


def test_readonly_path_other_error_raises(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.EACCES)
    with pytest.raises(OSError):
        pivot.readonly_path("/proc/sys")
    assert len(fake_sys.mounts) == 1


def test_runc_spec_masked_and_readonly_paths(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.ENOENT, times=None)  # none exist here: all skipped quietly
    for p in RUNC_SPEC["linux"]["maskedPaths"]:
        pivot.mask_path(p)
    for p in RUNC_SPEC["linux"]["readonlyPaths"]:
        pivot.readonly_path(p)
    assert [m[1] for m in fake_sys.mounts] == (RUNC_SPEC["linux"]["maskedPaths"]
                                               + RUNC_SPEC["linux"]["readonlyPaths"])


# -- devices ------------------------------------------------------------------------------

def test_default_devices_in_userns_are_bind_mounted(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    devices.create_default_devices(str(tmp_path), userns=True)
    names = ["null", "zero", "full", "tty", "random", "urandom"]
    assert fake_sys.mounts == [(f"/dev/{n}", str(tmp_path / "dev" / n), None, sc.MS_BIND, None)
                               for n in names]
    for n in names:
        assert (tmp_path / "dev" / n).is_file()  # the empty bind target


def test_default_devices_refuse_a_planted_file(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "zero").write_text("not a device")
    with pytest.raises(PyruntimeError) as e:
        devices.create_default_devices(str(tmp_path), userns=True)
    assert str(e.value) == ("linux.devices(default): /dev/zero already exists in the rootfs "
                            "and is not device 1:5")
    assert [m[0] for m in fake_sys.mounts] == ["/dev/null"]


def test_default_devices_follow_symlinks_inside_rootfs(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    (tmp_path / "realdev").mkdir()
    (tmp_path / "dev").symlink_to("/realdev")
    devices.create_default_devices(str(tmp_path), userns=True)
    assert fake_sys.mounts[0] == ("/dev/null", str(tmp_path / "realdev" / "null"), None, sc.MS_BIND, None)


def test_config_fifo_device_is_made_with_mknod(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    devices.create_config_devices(str(tmp_path), [
        {"type": "p", "path": "/dev/myfifo", "fileMode": 0o640, "uid": os.getuid(), "gid": os.getgid()},
    ], userns=True)
    st = os.lstat(tmp_path / "dev" / "myfifo")
    assert stat.S_ISFIFO(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert fake_sys.calls == []
    # a second time: already there and of the right kind
    devices.create_config_devices(str(tmp_path), [{"type": "p", "path": "/dev/myfifo"}], userns=True)


def test_config_char_device_in_userns(fake_sys: RecordingSyscalls, tmp_path: Path) -> None:
    devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/fuse", "major": 10,
                                                   "minor": 229}], userns=True)
    assert fake_sys.mounts == [("/dev/fuse", str(tmp_path / "dev" / "fuse"), None, sc.MS_BIND, None)]


@pytest.mark.parametrize(("dev", "msg"), [
    ({"type": "x", "path": "/dev/a"}, "linux.devices[0].type: unknown device type 'x'"),
    ({"path": "/dev/a"}, "linux.devices[0].type: unknown device type None"),
    ({"type": "c", "path": "/etc/a"}, "linux.devices[0].path: '/etc/a' is not under /dev"),
])
def test_config_device_errors(fake_sys: RecordingSyscalls, tmp_path: Path, dev: dict[str, Any],
                              msg: str) -> None:
    with pytest.raises(PyruntimeError) as e:
        devices.create_config_devices(str(tmp_path), [dev], userns=True)
    assert str(e.value) == msg
    assert e.value.field == "linux.devices[0]"


def test_create_symlinks(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "ptmx").write_text("")
    devices.create_symlinks(str(tmp_path))
    d = tmp_path / "dev"
    assert os.readlink(d / "fd") == "/proc/self/fd"
    assert os.readlink(d / "stdin") == "/proc/self/fd/0"
    assert os.readlink(d / "stdout") == "/proc/self/fd/1"
    assert os.readlink(d / "stderr") == "/proc/self/fd/2"
    assert os.readlink(d / "ptmx") == "pts/ptmx"


def test_create_symlinks_replaces_a_planted_ptmx(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (tmp_path / "dev" / "ptmx").symlink_to("/etc/passwd")
    devices.create_symlinks(str(tmp_path))
    assert not (tmp_path / "etc" / "passwd").is_symlink()
    assert (tmp_path / "etc" / "passwd").read_text().startswith("root:")
    assert os.readlink(tmp_path / "dev" / "ptmx") == "pts/ptmx"


def test_create_symlinks_when_links_already_exist(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    devices.create_symlinks(str(tmp_path))
    devices.create_symlinks(str(tmp_path))
    assert os.readlink(tmp_path / "dev" / "fd") == "/proc/self/fd"
    assert os.readlink(tmp_path / "dev" / "ptmx") == "pts/ptmx"
