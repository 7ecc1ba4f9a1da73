"""rootfs/mountopts.parse: mount(8) options → flags, propagation, data."""

from __future__ import annotations

import pytest

from pyruntime import syscalls as sc
from pyruntime.rootfs.mountopts import UNSUPPORTED, parse


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


@pytest.mark.parametrize("opt", ["rro", "idmap", "tmpcopyup", "rnosuid"])
def test_unsupported_options_refused_by_name(opt: str) -> None:
    assert opt in UNSUPPORTED
    with pytest.raises(ValueError) as e:
        parse(["ro", opt])
    assert str(e.value) == f"mount option {opt!r} is not supported by this version of pyruntime"
