"""rootfs/mountopts.parse: mount(8) options → flags, propagation, data."""

from __future__ import annotations

import pytest

from pyruntime import syscalls as sc
from pyruntime.rootfs.mountopts import ALL_OPTIONS, UNSUPPORTED, parse


def test_empty() -> None:
    p = parse([])
    assert (p.flags, p.propagation, p.data) == (0, [], "")
    assert not p.is_bind


def test_flags_combine() -> None:
    p = parse(["nosuid", "noexec", "nodev", "relatime", "ro"])
    assert p.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV | sc.MS_RELATIME | sc.MS_RDONLY
    assert p.data == ""


def test_clearing_flags_order_matters() -> None:
    assert parse(["ro", "rw"]).flags == 0
    assert parse(["rw", "ro"]).flags == sc.MS_RDONLY
    assert parse(["nosuid", "suid", "nodev"]).flags == sc.MS_NODEV
    assert parse(["noexec", "exec"]).flags == 0
    assert parse(["noatime", "atime", "strictatime", "nostrictatime"]).flags == 0
    assert parse(["defaults"]).flags == 0


def test_bind_and_rbind() -> None:
    assert parse(["bind"]).flags == sc.MS_BIND
    p = parse(["rbind", "ro"])
    assert p.flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY
    assert p.is_bind


def test_propagation_list_in_order() -> None:
    p = parse(["rprivate", "shared", "rslave", "unbindable", "runbindable", "private", "rshared", "slave"])
    assert p.propagation == [sc.MS_PRIVATE | sc.MS_REC, sc.MS_SHARED, sc.MS_SLAVE | sc.MS_REC,
                             sc.MS_UNBINDABLE, sc.MS_UNBINDABLE | sc.MS_REC, sc.MS_PRIVATE,
                             sc.MS_SHARED | sc.MS_REC, sc.MS_SLAVE]
    assert p.flags == 0


def test_data_string_keeps_unknown_options_in_order() -> None:
    p = parse(["nosuid", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", "noexec"])
    assert p.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert p.flags == sc.MS_NOSUID | sc.MS_NOEXEC


@pytest.mark.parametrize("opt", ["idmap", "ridmap"])
def test_idmapped_mounts_refused_by_name(opt: str) -> None:
    # idmap/ridmap (spec 1.2 idmapped mounts) are not implemented: refused by name
    assert opt in UNSUPPORTED
    with pytest.raises(ValueError) as e:
        parse(["ro", opt])
    assert str(e.value) == f"mount option {opt!r} is not supported by this version of pyruntime"


def test_every_known_option_is_listed() -> None:
    for o in ("rro", "rnosymfollow", "ratime", "tmpcopyup", "ro", "rshared"):
        assert o in ALL_OPTIONS
    assert not set(ALL_OPTIONS) & UNSUPPORTED


@pytest.mark.parametrize(("opt", "attr"), [
    ("rro", sc.MOUNT_ATTR_RDONLY), ("rnosuid", sc.MOUNT_ATTR_NOSUID), ("rnodev", sc.MOUNT_ATTR_NODEV),
    ("rnoexec", sc.MOUNT_ATTR_NOEXEC), ("rnodiratime", sc.MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", sc.MOUNT_ATTR_NOSYMFOLLOW),
])
def test_recursive_set(opt: str, attr: int) -> None:
    p = parse(["nosuid", opt])
    assert (p.rec_set, p.rec_clr) == (attr, 0)
    assert p.recursive
    assert p.flags == sc.MS_NOSUID and p.data == ""


@pytest.mark.parametrize(("opt", "attr"), [
    ("rrw", sc.MOUNT_ATTR_RDONLY), ("rsuid", sc.MOUNT_ATTR_NOSUID), ("rdev", sc.MOUNT_ATTR_NODEV),
    ("rexec", sc.MOUNT_ATTR_NOEXEC), ("rdiratime", sc.MOUNT_ATTR_NODIRATIME),
    ("rsymfollow", sc.MOUNT_ATTR_NOSYMFOLLOW),
])
def test_recursive_clear(opt: str, attr: int) -> None:
    p = parse([opt])
    assert (p.rec_set, p.rec_clr) == (0, attr)


def test_recursive_last_one_wins() -> None:
    p = parse(["rro", "rrw", "rnoexec"])
    assert (p.rec_set, p.rec_clr) == (sc.MOUNT_ATTR_NOEXEC, sc.MOUNT_ATTR_RDONLY)
    p = parse(["rrw", "rro"])
    assert (p.rec_set, p.rec_clr) == (sc.MOUNT_ATTR_RDONLY, 0)


@pytest.mark.parametrize(("opts", "value"), [
    (["rnoatime"], sc.MOUNT_ATTR_NOATIME),
    (["rstrictatime"], sc.MOUNT_ATTR_STRICTATIME),
    (["rrelatime"], sc.MOUNT_ATTR_RELATIME),
    (["ratime"], sc.MOUNT_ATTR_RELATIME),
    (["rnostrictatime"], sc.MOUNT_ATTR_RELATIME),
    (["rnorelatime"], sc.MOUNT_ATTR_STRICTATIME),
    (["rnoatime", "rstrictatime"], sc.MOUNT_ATTR_STRICTATIME),
])
def test_recursive_atime_is_one_value(opts: list[str], value: int) -> None:
    # the kernel wants all of MOUNT_ATTR__ATIME cleared whenever an atime value is set
    p = parse(opts)
    assert (p.rec_set, p.rec_clr) == (value, sc.MOUNT_ATTR__ATIME)
    assert p.recursive


def test_tmpcopyup_is_not_data() -> None:
    p = parse(["tmpcopyup", "mode=755"])
    assert p.tmpcopyup and p.data == "mode=755"
    assert not parse(["mode=755"]).tmpcopyup


def test_cleared_and_atime_given() -> None:
    p = parse(["nosuid", "rw", "dev", "suid"])
    assert p.cleared == sc.MS_RDONLY | sc.MS_NODEV | sc.MS_NOSUID
    assert p.flags == 0
    p = parse(["rw", "ro"])
    assert p.cleared == 0 and p.flags == sc.MS_RDONLY
    assert not parse(["ro", "nosuid"]).atime_given
    for o in ("noatime", "atime", "relatime", "norelatime", "strictatime", "nostrictatime"):
        assert parse([o]).atime_given
