"""rootfs/securejoin.secure_join: symlinks and .. never leave the root."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pyruntime.rootfs.securejoin import secure_join


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "a" / "b").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (r / "etc_abs").symlink_to("/etc")
    (r / "a" / "b" / "up").symlink_to("../../../../..")
    (r / "a" / "rel").symlink_to("b")
    (r / "a" / "dotdot_abs").symlink_to("/../../etc")
    (r / "loop1").symlink_to("loop2")
    (r / "loop2").symlink_to("loop1")
    (r / "self").symlink_to("self")
    (r / "chain").symlink_to("a/b/up/etc_abs")
    return r


def inside(root: Path, p: str) -> bool:
    return p == str(root) or p.startswith(str(root) + "/")


@pytest.mark.parametrize(("unsafe", "want"), [
    ("/etc/passwd", "etc/passwd"),
    ("etc/passwd", "etc/passwd"),
    ("/etc_abs/passwd", "etc/passwd"),           # absolute link → the rootfs's /etc
    ("/a/b/up/etc", "etc"),                      # relative ../../.. link stops at the root
    ("/a/b/up/../../../x", "x"),
    ("/../../../etc", "etc"),                    # .. in the path
    ("/a/b/../../../..", ""),
    ("/a/./b/.", "a/b"),
    ("/a/rel", "a/b"),
    ("/a/rel/up", ""),
    ("/a/dotdot_abs/passwd", "etc/passwd"),
    ("/chain/passwd", "etc/passwd"),
    ("/does/not/exist", "does/not/exist"),
    ("/a/missing/../b", "a/b"),
    ("", ""),
    ("/", ""),
    ("//a//b//", "a/b"),
])
def test_resolves_inside_root(root: Path, unsafe: str, want: str) -> None:
    got = secure_join(str(root), unsafe)
    expected = os.path.join(str(root), want) if want else str(root)
    assert got == expected
    assert inside(root, got)


def test_relative_root_is_made_absolute(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root.parent)
    assert secure_join("rootfs", "/etc_abs") == str(root / "etc")


@pytest.mark.parametrize("unsafe", ["/loop1", "/loop2/x", "/self"])
def test_link_loops_are_an_error(root: Path, unsafe: str) -> None:
    with pytest.raises(OSError) as e:
        secure_join(str(root), unsafe)
    assert e.value.errno == errno.ELOOP


def test_dangling_absolute_link_resolves_inside(root: Path) -> None:
    (root / "dangling").symlink_to("/nowhere/at/all")
    assert secure_join(str(root), "/dangling/x") == str(root / "nowhere" / "at" / "all" / "x")


def test_link_to_host_file_is_never_followed_on_the_host(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(str(outside))
    got = secure_join(str(root), "/escape/secret")
    assert got == str(root) + str(outside) + "/secret"
    assert inside(root, got)


# -- open_verified / with_procfd ------------------------------------------------------------

def test_open_verified_accepts_the_resolved_path(root: Path) -> None:
    from pyruntime.rootfs.securejoin import open_verified, with_procfd

    p = secure_join(str(root), "/etc_abs/passwd")
    fd = open_verified(p)
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == p
    finally:
        os.close(fd)
    assert with_procfd(p, os.readlink) == p


def test_open_verified_refuses_a_final_symlink(root: Path) -> None:
    from pyruntime.errors import PyruntimeError
    from pyruntime.rootfs.securejoin import open_verified

    with pytest.raises(PyruntimeError) as e:
        open_verified(str(root / "etc_abs"))
    assert "mount through symlink" in str(e.value)


def test_open_verified_refuses_a_swapped_parent(root: Path) -> None:
    # secure_join resolved a/rel/x to a/b/x; a symlink swapped in later must not be followed
    from pyruntime.errors import PyruntimeError
    from pyruntime.rootfs.securejoin import open_verified

    (root / "etc" / "x").write_text("")
    unresolved = str(root / "a" / "rel")  # a symlink to b: resolves elsewhere
    (root / "a" / "b" / "x").write_text("")
    with pytest.raises(PyruntimeError) as e:
        open_verified(unresolved + "/x")
    assert "possibly malicious path" in str(e.value)
