"""rootfs/mounts, rootfs/cgroupfs, rootfs/pivot and rootfs/devices against the
recording fake: the exact mount(2) calls, with a tmp rootfs."""

from __future__ import annotations

import copy
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyruntime import syscalls
from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError
from pyruntime.rootfs import devices, mounts, pivot
from pyruntime.rootfs.mounts import MountContext, mount_all, prepare_root
from tests.support.bundle import RUNC_SPEC
from tests.unit.fakes import RecordingSyscalls

NOSUID, NOEXEC, NODEV = sc.MS_NOSUID, sc.MS_NOEXEC, sc.MS_NODEV


class ProcfdSyscalls(RecordingSyscalls):
    """The recording fake, with mount targets given as /proc/self/fd/N (the
    checked fds of securejoin.with_procfd) recorded as the paths they name,
    and mount_setattr."""

    @staticmethod
    def _path(target: str) -> str:
        return os.readlink(target) if target.startswith("/proc/self/fd/") else target

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        super().mount(source, self._path(target), fstype, flags, data)

    def mount_setattr(self, path: str, attr_set: int, attr_clr: int, propagation: int = 0,
                      recursive: bool = True) -> None:
        p = self._path(path)
        self._record("mount_setattr", p, p, attr_set, attr_clr, propagation, recursive)


@pytest.fixture
def fake_sys(_no_real_syscalls: None) -> Iterator[ProcfdSyscalls]:
    fake = ProcfdSyscalls()
    syscalls.install(fake)
    try:
        yield fake
    finally:
        syscalls.install(None)


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
    # the bind keeps the flags of its source mount that no option turned off
    src = pivot.current_flags(str(bundle / "hostdir"))
    keep = src & (NODEV | NOEXEC | sc.MS_NOSYMFOLLOW | sc.MS_NODIRATIME) | src & pivot.ATIME_FLAGS
    assert fake_sys.mounts == [
        ("proc", f"{r}/proc", "proc", 0, None),
        ("tmpfs", f"{r}/dev", "tmpfs", NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k"),
        ("devpts", f"{r}/dev/pts", "devpts", NOSUID | NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("shm", f"{r}/dev/shm", "tmpfs", NOSUID | NOEXEC | NODEV, "mode=1777,size=65536k"),
        ("mqueue", f"{r}/dev/mqueue", "mqueue", NOSUID | NOEXEC | NODEV, None),
        ("sysfs", f"{r}/sys", "sysfs", NOSUID | NOEXEC | NODEV | sc.MS_RDONLY, None),
        (str(bundle / "hostdir"), f"{r}/data", None, sc.MS_BIND | sc.MS_REC, None),
        (None, f"{r}/data", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | NOSUID | keep, None),
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
        mount_all(ctx_for(bundle), [{"destination": "/x", "type": "tmpfs", "options": ["idmap"]}])
    assert e.value.field == "mounts[0].options"
    assert "'idmap' is not supported" in str(e.value)
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
        # the cgroup2 hierarchy the container is in is not shown, as runc 1.1.5
        (None, t, None, sc.MS_REMOUNT | CG_FLAGS | sc.MS_RDONLY, None),
    ]
    assert not os.path.exists(f"{t}/unified")
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
    devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/full", "major": 1,
                                                   "minor": 7}], userns=True)
    assert fake_sys.mounts == [("/dev/full", str(tmp_path / "dev" / "full"), None, sc.MS_BIND, None)]


@pytest.mark.parametrize(("dev", "msg"), [
    ({"type": "x", "path": "/dev/a"}, "linux.devices[0].type: unknown device type 'x'"),
    ({"path": "/dev/a"}, "linux.devices[0].type: unknown device type None"),
    ({"type": "c", "path": "etc/a"}, "linux.devices[0].path: 'etc/a' must be a normalised absolute path"),
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


# -- recursive options, late read-only, propagation --------------------------------------

def test_recursive_options_use_mount_setattr_after_the_mount(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    r = str(bundle / "rootfs")
    mount_all(ctx_for(bundle), [{"destination": "/data", "type": "bind", "source": "hostdir",
                                 "options": ["rbind", "rro", "rnosuid", "rnoatime", "rprivate"]}])
    assert fake_sys.calls == [
        ("mount", str(bundle / "hostdir"), f"{r}/data", None, sc.MS_BIND | sc.MS_REC, None),
        ("mount_setattr", f"{r}/data", sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NOATIME,
         sc.MOUNT_ATTR__ATIME, 0, True),
        ("mount", None, f"{r}/data", None, sc.MS_PRIVATE | sc.MS_REC, None),
    ]


def test_recursive_options_on_any_filesystem(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    r = str(bundle / "rootfs")
    mount_all(ctx_for(bundle), [{"destination": "/m", "type": "mqueue", "source": "mqueue",
                                 "options": ["rnoexec", "rdev"]}])
    assert fake_sys.calls == [
        ("mount", "mqueue", f"{r}/m", "mqueue", 0, None),
        ("mount_setattr", f"{r}/m", sc.MOUNT_ATTR_NOEXEC, sc.MOUNT_ATTR_NODEV, 0, True),
    ]


@pytest.mark.parametrize(("opts", "late"), [(["ro"], False), (["rro"], True), (["ro", "rro"], True)])
def test_readonly_tmpfs_is_made_readonly_late(fake_sys: ProcfdSyscalls, bundle: Path,
                                             opts: list[str], late: bool) -> None:
    ctx = ctx_for(bundle)
    r = str(bundle / "rootfs")
    mount_all(ctx, [{"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", *opts, "mode=755"]}])
    assert fake_sys.calls == [("mount", "tmpfs", f"{r}/dev", "tmpfs", NOSUID, "mode=755")]
    assert ctx.late_readonly == [("/dev", late)]


def test_readonly_dev_of_another_type_is_late_too(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    ctx = ctx_for(bundle)
    mount_all(ctx, [{"destination": "/dev", "type": "devtmpfs", "source": "devtmpfs", "options": ["ro"]}])
    assert fake_sys.mounts[0][3] == 0
    assert ctx.late_readonly == [("/dev", False)]


def test_relative_destination_is_under_root(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    mount_all(ctx_for(bundle), [{"destination": "a/b", "type": "tmpfs", "source": "tmpfs"}])
    assert fake_sys.mounts == [("tmpfs", str(bundle / "rootfs" / "a" / "b"), "tmpfs", 0, None)]


def test_dotdot_destination_is_contained(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    mount_all(ctx_for(bundle), [{"destination": "/../../../x", "type": "tmpfs", "source": "tmpfs"}])
    assert fake_sys.mounts == [("tmpfs", str(bundle / "rootfs" / "x"), "tmpfs", 0, None)]


def test_relative_escaping_symlink_is_contained(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    (bundle / "rootfs" / "up").symlink_to("../../../../../../tmp")
    mount_all(ctx_for(bundle), [{"destination": "/up/x", "type": "tmpfs", "source": "tmpfs"}])
    assert fake_sys.mounts == [("tmpfs", str(bundle / "rootfs" / "tmp" / "x"), "tmpfs", 0, None)]


def test_bind_over_a_symlinked_file_destination(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    (bundle / "rootfs" / "etc").mkdir()
    (bundle / "rootfs" / "etc" / "real").write_text("")
    (bundle / "rootfs" / "etc" / "link").symlink_to("real")
    mount_all(ctx_for(bundle), [{"destination": "/etc/link", "type": "bind", "source": "hostfile",
                                 "options": ["bind"]}])
    assert fake_sys.mounts == [(str(bundle / "hostfile"), str(bundle / "rootfs" / "etc" / "real"),
                                None, sc.MS_BIND, None)]


# -- proc, sysfs, /proc ---------------------------------------------------------------------

@pytest.mark.parametrize("typ", ["proc", "sysfs"])
def test_proc_on_a_symlink_is_refused(fake_sys: ProcfdSyscalls, bundle: Path, typ: str) -> None:
    (bundle / "rootfs" / "etc").mkdir()
    (bundle / "rootfs" / "target").symlink_to("/etc")
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/target", "type": typ, "source": typ}])
    assert "mount through symlink" in str(e.value)
    assert e.value.field == "mounts[0]"
    assert fake_sys.calls == []


def test_proc_on_a_file_is_refused(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    (bundle / "rootfs" / "proc").write_text("")
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/proc", "type": "proc", "source": "proc"}])
    assert "must be mounted on ordinary directory" in str(e.value)
    assert fake_sys.calls == []


def test_proc_below_a_symlinked_parent_stays_inside(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    (bundle / "rootfs" / "up").symlink_to("../../../..")
    mount_all(ctx_for(bundle), [{"destination": "/up/proc", "type": "proc", "source": "proc"}])
    assert fake_sys.mounts == [("proc", str(bundle / "rootfs" / "proc"), "proc", 0, None)]


def test_bind_onto_proc_needs_a_procfs_source(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/proc", "type": "bind", "source": "hostdir",
                                     "options": ["rbind"]}])
    assert "cannot be mounted because it is not of type proc" in str(e.value)
    mount_all(ctx_for(bundle), [{"destination": "/proc", "type": "bind", "source": "/proc",
                                 "options": ["rbind"]}])
    assert fake_sys.mounts == [("/proc", str(bundle / "rootfs" / "proc"), None, sc.MS_BIND | sc.MS_REC, None)]


@pytest.mark.parametrize(("dest", "typ", "ok"), [
    ("/proc/uptime", "bind", True),
    ("/proc/sys/kernel/ns_last_pid", "bind", True),
    ("/proc/sys/kernel/core_pattern", "bind", False),
    ("/proc/self/x", "bind", False),
    ("/proc/acpi", "tmpfs", True),
    ("/proc/sys/fs/binfmt_misc", "binfmt_misc", False),
    ("/proc/x", "proc", False),
    ("/proc", "tmpfs", False),
])
def test_mounts_inside_proc(fake_sys: ProcfdSyscalls, bundle: Path, dest: str, typ: str, ok: bool) -> None:
    m = {"destination": dest, "type": typ, "source": str(bundle / "hostfile") if typ == "bind" else typ}
    if ok:
        mount_all(ctx_for(bundle), [m])
        assert len(fake_sys.mounts) == 1
    else:
        with pytest.raises(PyruntimeError) as e:
            mount_all(ctx_for(bundle), [m])
        assert "cannot be mounted because it is" in str(e.value)
        assert fake_sys.calls == []


# -- bind remount: the source's flags ---------------------------------------------------------

def test_bind_remount_keeps_source_flags() -> None:
    from pyruntime.rootfs.mountopts import parse

    src = sc.MS_RDONLY | NOSUID | NODEV | NOEXEC | sc.MS_NOATIME
    base = sc.MS_BIND | sc.MS_REMOUNT
    # nothing turned off: all kept
    assert mounts.bind_remount_flags(src, sc.MS_BIND | NOSUID, parse(["nosuid"])) == base | src
    # rw, dev, exec, suid turn them off; an atime option replaces the source's
    opts = parse(["rw", "dev", "exec", "suid", "relatime", "nodev"])
    assert mounts.bind_remount_flags(src, sc.MS_BIND | opts.flags, opts) == base | sc.MS_RELATIME | NODEV
    # a strictatime source stays strictatime
    assert mounts.bind_remount_flags(sc.MS_STRICTATIME, sc.MS_BIND | NOEXEC, parse(["noexec"])) == (
        base | NOEXEC | sc.MS_STRICTATIME)


def test_bind_remount_eperm_retries_with_locked_flags(fake_sys: ProcfdSyscalls, bundle: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    src = sc.MS_RDONLY | NOSUID | NODEV | sc.MS_RELATIME
    monkeypatch.setattr(mounts, "current_flags", lambda p: src)
    calls = {"n": 0}  # the second mount (the first remount) fails as in a user namespace
    real = fake_sys.mount

    def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        real(source, target, fstype, flags, data)
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EPERM, "locked")

    monkeypatch.setattr(fake_sys, "mount", mount)
    mount_all(ctx_for(bundle), [{"destination": "/data", "type": "bind", "source": "hostdir",
                                 "options": ["rbind", "rw", "dev", "noatime", "noexec"]}])
    b = sc.MS_BIND | sc.MS_REMOUNT
    assert [c[3] for c in fake_sys.mounts] == [
        sc.MS_BIND | sc.MS_REC,
        b | NOEXEC | sc.MS_NOATIME | NOSUID,                       # rw and dev asked for
        b | NOEXEC | NOSUID | sc.MS_RDONLY | NODEV | sc.MS_RELATIME,  # locked: kept
    ]


def test_bind_without_options_is_not_remounted(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    mount_all(ctx_for(bundle), [{"destination": "/data", "type": "bind", "source": "hostdir",
                                 "options": ["rbind", "rprivate"]}])
    assert [c[3] for c in fake_sys.mounts] == [sc.MS_BIND | sc.MS_REC, sc.MS_PRIVATE | sc.MS_REC]


# -- tmpcopyup --------------------------------------------------------------------------------

def test_tmpcopyup_only_for_tmpfs(fake_sys: ProcfdSyscalls, bundle: Path) -> None:
    with pytest.raises(PyruntimeError) as e:
        mount_all(ctx_for(bundle), [{"destination": "/x", "type": "bind", "source": "hostdir",
                                     "options": ["rbind", "tmpcopyup"]}])
    assert e.value.field == "mounts[0].options"
    assert "tmpcopyup is only for tmpfs" in str(e.value)


def test_copy_tree(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "sub" / "deeper").mkdir(parents=True)
    dst.mkdir()
    (src / "file").write_text("content")
    os.chmod(src / "file", 0o640)
    (src / "sub" / "deeper" / "x").write_bytes(b"\0" * 3_000_000)
    (src / "link").symlink_to("/nowhere")
    os.mkfifo(src / "sub" / "fifo", 0o600)
    os.chmod(src / "sub", 0o711)
    os.utime(src / "file", ns=(1_000_000_000, 2_000_000_000))
    s = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    d = os.open(dst, os.O_RDONLY | os.O_DIRECTORY)
    try:
        mounts.copy_tree(s, d)
    finally:
        os.close(s)
        os.close(d)
    assert (dst / "file").read_text() == "content"
    assert stat.S_IMODE(os.stat(dst / "file").st_mode) == 0o640
    assert os.stat(dst / "file").st_mtime_ns == 2_000_000_000
    assert (dst / "sub" / "deeper" / "x").stat().st_size == 3_000_000
    assert os.readlink(dst / "link") == "/nowhere"
    assert stat.S_ISFIFO(os.lstat(dst / "sub" / "fifo").st_mode)
    assert stat.S_IMODE(os.stat(dst / "sub").st_mode) == 0o711


# -- prepare_root and rootfsPropagation --------------------------------------------------------

MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 22 0:25 / /srv rw,relatime shared:7 - tmpfs tmpfs rw\n"
    "31 22 0:26 / /srv2 rw,relatime master:3 - tmpfs tmpfs rw\n"
    "32 22 0:27 / /with\\040space rw - tmpfs tmpfs rw\n"
)


def test_parent_mount() -> None:
    assert mounts.parent_mount("/srv/b/rootfs", MOUNTINFO) == ("/srv", "shared:7")
    assert mounts.parent_mount("/srv", MOUNTINFO) == ("/srv", "shared:7")
    assert mounts.parent_mount("/srvx/rootfs", MOUNTINFO) == ("/", "shared:1")
    assert mounts.parent_mount("/srv2/r", MOUNTINFO) == ("/srv2", "master:3")
    assert mounts.parent_mount("/with space/r", MOUNTINFO) == ("/with space", "")


def test_prepare_root_makes_a_shared_parent_private(fake_sys: ProcfdSyscalls,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "_mountinfo", lambda: MOUNTINFO)
    prepare_root("/srv/b/rootfs", "private")
    assert fake_sys.mounts == [
        (None, "/", None, sc.MS_PRIVATE, None),
        (None, "/srv", None, sc.MS_PRIVATE, None),
        ("/srv/b/rootfs", "/srv/b/rootfs", None, sc.MS_BIND | sc.MS_REC, None),
    ]


def test_prepare_root_rshared_not_on_root(fake_sys: ProcfdSyscalls, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mounts, "_mountinfo", lambda: MOUNTINFO)
    prepare_root("/srv/b/rootfs", "rshared")
    assert fake_sys.mounts == [
        (None, "/", None, sc.MS_SHARED | sc.MS_REC, None),
        (None, "/srv", None, sc.MS_PRIVATE, None),
        ("/srv/b/rootfs", "/srv/b/rootfs", None, sc.MS_BIND | sc.MS_REC, None),
        (None, "/srv/b/rootfs", None, sc.MS_PRIVATE, None),
        (None, "/", None, sc.MS_PRIVATE, None),
    ]


def test_apply_root_propagation(fake_sys: ProcfdSyscalls) -> None:
    pivot.apply_root_propagation(None)
    pivot.apply_root_propagation("")
    assert fake_sys.calls == []
    pivot.apply_root_propagation("rshared")
    pivot.apply_root_propagation("slave")
    # to / alone: the mounts below keep their own propagation (a
    # HostToContainer bind's rslave), as on runc
    assert fake_sys.mounts == [(None, "/", None, sc.MS_SHARED, None),
                               (None, "/", None, sc.MS_SLAVE, None)]


def test_remount_readonly(fake_sys: ProcfdSyscalls, tmp_path: Path) -> None:
    p = str(tmp_path)
    pivot.remount_readonly(p, False)
    pivot.remount_readonly(p, True)
    assert fake_sys.calls == [
        ("mount", None, p, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | pivot.current_flags(p), None),
        ("mount_setattr", p, sc.MOUNT_ATTR_RDONLY, 0, 0, True),
    ]


def test_flags_of_statvfs() -> None:
    assert pivot.flags_of(0) == sc.MS_STRICTATIME
    assert pivot.flags_of(1 | 2 | 4096) == sc.MS_RDONLY | NOSUID | sc.MS_RELATIME
    assert pivot.flags_of(8 | 1024 | 2048 | 0x2000) == NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_NOSYMFOLLOW


def test_mask_path_refuses_a_fake_dev_null(fake_sys: ProcfdSyscalls, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    real_lstat = os.lstat
    monkeypatch.setattr(pivot.os, "lstat",
                        lambda p: real_lstat(tmp_path / "f") if p == "/dev/null" else real_lstat(p))
    with pytest.raises(PyruntimeError) as e:
        pivot.mask_path("/proc/kcore")
    assert "not the null device" in str(e.value)
    assert fake_sys.calls == []


# -- devices (more) ----------------------------------------------------------------------------

def test_mknod_eperm_falls_back_to_a_bind(fake_sys: ProcfdSyscalls, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def no_mknod(*a: Any, **k: Any) -> None:
        raise PermissionError(errno.EPERM, "no CAP_MKNOD")

    monkeypatch.setattr(devices.os, "mknod", no_mknod)
    devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/zero", "major": 1,
                                                   "minor": 5}], userns=False)
    assert fake_sys.mounts == [("/dev/zero", str(tmp_path / "dev" / "zero"), None, sc.MS_BIND, None)]


def test_userns_bind_needs_the_same_device_on_the_host(fake_sys: ProcfdSyscalls, tmp_path: Path) -> None:
    with pytest.raises(PyruntimeError) as e:
        devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/null", "major": 1,
                                                       "minor": 5}], userns=True)
    assert str(e.value) == "linux.devices[0]: /dev/null on the host is not device 1:5"
    with pytest.raises(PyruntimeError) as e:
        devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/pyrt-nope", "major": 1,
                                                       "minor": 5}], userns=True)
    assert "does not exist on the host" in str(e.value)
    assert fake_sys.calls == []


def test_config_device_path_must_be_normalised(fake_sys: ProcfdSyscalls, tmp_path: Path) -> None:
    """Devices may live outside /dev (runtime-spec), but `..` is refused outright."""
    for path in ("/dev/../etc/shadow", "/dev/a/../../x"):
        with pytest.raises(PyruntimeError) as e:
            devices.create_config_devices(str(tmp_path), [{"type": "c", "path": path, "major": 1,
                                                           "minor": 3}], userns=False)
        assert "must be a normalised absolute path" in str(e.value)


def test_config_ptmx_is_left_to_devpts(fake_sys: ProcfdSyscalls, tmp_path: Path) -> None:
    devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/ptmx", "major": 5,
                                                   "minor": 2}], userns=True)
    assert fake_sys.calls == []
    assert not (tmp_path / "dev" / "ptmx").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a char device needs root")
def test_config_device_mode_and_owner_exact(fake_sys: ProcfdSyscalls, tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/sub/mynull", "major": 1,
                                                       "minor": 3, "fileMode": 0o606, "uid": 12,
                                                       "gid": 34}], userns=False)
    finally:
        os.umask(old)
    st = os.lstat(tmp_path / "dev" / "sub" / "mynull")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o606, 12, 34)
    # again: already there and the same device → fine; another device → an error
    devices.create_config_devices(str(tmp_path), [{"type": "c", "path": "/dev/sub/mynull", "major": 1,
                                                   "minor": 3}], userns=False)
    with pytest.raises(PyruntimeError) as e:
        devices.create_config_devices(str(tmp_path), [{"type": "b", "path": "/dev/sub/mynull", "major": 1,
                                                       "minor": 3}], userns=False)
    assert "already exists in the rootfs and is not device 1:3" in str(e.value)


@pytest.mark.parametrize(("prop", "first"), [("unbindable", sc.MS_PRIVATE),
                                             ("runbindable", sc.MS_PRIVATE | sc.MS_REC)])
def test_prepare_root_unbindable_is_private_until_pivot(fake_sys: ProcfdSyscalls, monkeypatch: pytest.MonkeyPatch,
                                                        prop: str, first: int) -> None:
    monkeypatch.setattr(mounts, "_mountinfo", lambda: MOUNTINFO.replace("shared:", "x:"))
    prepare_root("/srv/b/rootfs", prop)
    assert fake_sys.mounts == [(None, "/", None, first, None),
                               ("/srv/b/rootfs", "/srv/b/rootfs", None, sc.MS_BIND | sc.MS_REC, None)]
