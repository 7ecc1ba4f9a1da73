"""Switching the container to its rootfs, then what must be done from inside
it: a read-only root, masked paths and read-only paths."""

from __future__ import annotations

import errno
import os

from pyruntime import syscalls as sc

# statvfs f_flag bits → the mount flags that keep them on a remount
# (a remount that drops a locked flag fails with EPERM).
_ST_TO_MS = {1: sc.MS_RDONLY, 2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC,
             1024: sc.MS_NOATIME, 2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME}


def current_flags(path: str) -> int:
    f = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS.items() if f & st)


def pivot_root(rootfs: str) -> None:
    """pivot_root(".", ".") stacks the old root on top of the new one; we
    make it a slave (so the unmount does not propagate to the host) and
    detach it. No directory for the old root is needed inside the rootfs."""
    m = sc.sys()
    os.chdir(rootfs)
    m.pivot_root(".", ".")
    m.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
    m.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount over / and chroot into it (for
    ramdisk roots, where pivot_root is impossible)."""
    m = sc.sys()
    os.chdir(rootfs)
    m.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def readonly_root() -> None:
    sc.sys().mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | current_flags("/"))


def mask_path(path: str) -> None:
    """Hide a file (bind /dev/null over it) or a directory (read-only empty tmpfs)."""
    m = sc.sys()
    try:
        m.mount("/dev/null", path, None, sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno != errno.ENOTDIR:
            raise
        m.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)


def readonly_path(path: str) -> None:
    m = sc.sys()
    try:
        m.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    m.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | current_flags(path))
