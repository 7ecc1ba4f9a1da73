"""The RecordingSyscalls fake and the install() hook it relies on."""

from __future__ import annotations

import errno

import pytest

from pyruntime import syscalls as sc
from tests.unit.fakes import Call, ForbiddenSyscalls, RecordingSyscalls


def test_fake_is_what_feature_modules_get(fake_sys: RecordingSyscalls) -> None:
    assert sc.sys() is fake_sys


def test_default_is_forbidden() -> None:
    assert isinstance(sc.sys(), ForbiddenSyscalls)
    with pytest.raises(AssertionError, match="without the fake_sys fixture"):
        sc.sys().mount(None, "/", None, 0)


def test_records_every_kind_of_call(fake_sys: RecordingSyscalls) -> None:
    fake_sys.mount("a", "/b", "tmpfs", sc.MS_NOSUID, "mode=755")
    fake_sys.umount2("/b", sc.MNT_DETACH)
    fake_sys.pivot_root(".", ".")
    fake_sys.unshare(sc.CLONE_NEWNS | sc.CLONE_NEWUTS)
    fake_sys.setns(7, sc.CLONE_NEWNET)
    fake_sys.prctl_results[sc.PR_CAPBSET_READ] = 1
    assert fake_sys.prctl(sc.PR_CAPBSET_READ, 21) == 1
    assert fake_sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1) == 0
    fake_sys.capset(1, 2, 3)
    assert fake_sys.capget() == (1, 2, 3)
    fake_sys.setdomainname("example")
    assert fake_sys.calls == [
        ("mount", "a", "/b", "tmpfs", sc.MS_NOSUID, "mode=755"),
        ("umount2", "/b", sc.MNT_DETACH),
        ("pivot_root", ".", "."),
        ("unshare", sc.CLONE_NEWNS | sc.CLONE_NEWUTS),
        ("setns", 7, sc.CLONE_NEWNET),
        ("prctl", sc.PR_CAPBSET_READ, 21, 0, 0, 0),
        ("prctl", sc.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        ("capset", 1, 2, 3),
        ("capget", 0),
        ("setdomainname", "example"),
    ]
    assert fake_sys.named("setns") == [(7, sc.CLONE_NEWNET)]
    assert Call("x", (1,)) == Call("x", (1,))
    assert Call("x", (1,)) != Call("x", (2,))


def test_fail_once_by_default(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("unshare", errno.EPERM)
    with pytest.raises(OSError) as e:
        fake_sys.unshare(sc.CLONE_NEWUSER)
    assert e.value.errno == errno.EPERM
    fake_sys.unshare(sc.CLONE_NEWUSER)  # the second one succeeds
    assert len(fake_sys.named("unshare")) == 2


def test_fail_by_target_and_always(fake_sys: RecordingSyscalls) -> None:
    fake_sys.fail("mount", errno.EBUSY, target="/x", times=None)
    fake_sys.mount(None, "/y", None, 0)
    for _ in range(3):
        with pytest.raises(OSError) as e:
            fake_sys.mount(None, "/x", None, 0)
        assert e.value.errno == errno.EBUSY
        assert e.value.filename == "/x"


def test_install_none_restores_native() -> None:
    fake = RecordingSyscalls()
    sc.install(fake)
    assert sc.sys() is fake
    sc.install(None)
    assert isinstance(sc.sys(), sc.NativeSyscalls)
    sc.install(ForbiddenSyscalls())  # leave the guard for the rest of this test
