"""Switching the container to its rootfs, then what must be done from inside
it: a read-only root, masked paths and read-only paths."""

from __future__ import annotations

import errno
import os
import stat

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

# statvfs f_flag bits → the mount flags that keep them on a remount
# (a remount that drops a locked flag fails with EPERM).
_ST_TO_MS = {1: sc.MS_RDONLY, 2: sc.MS_NOSUID, 4: sc.MS_NODEV, 8: sc.MS_NOEXEC,
             1024: sc.MS_NOATIME, 2048: sc.MS_NODIRATIME, 4096: sc.MS_RELATIME,
             0x2000: sc.MS_NOSYMFOLLOW}
ST_NOATIME, ST_RELATIME = 1024, 4096
ATIME_FLAGS = sc.MS_NOATIME | sc.MS_RELATIME | sc.MS_STRICTATIME


def flags_of(f_flag: int) -> int:
    """statvfs f_flag → MS_* flags. A mount with neither noatime nor relatime
    is strictatime, which a remount must say (the default is relatime)."""
    ms = sum(m for st, m in _ST_TO_MS.items() if f_flag & st)
    if not f_flag & (ST_NOATIME | ST_RELATIME):
        ms |= sc.MS_STRICTATIME
    return ms


def current_flags(path: str) -> int:
    """The per-mount flags of the mount at path, as a remount must repeat them."""
    return flags_of(os.statvfs(path).f_flag)


def pivot_root(rootfs: str) -> None:
    """pivot_root(".", ".") stacks the old root on top of the new one; we
    make it a slave (so the unmount does not propagate to the host) and
    detach it. No directory for the old root is needed inside the rootfs.
    The cwd goes back to the old root first (runc does the same): "." would
    otherwise still name the new root, and the rslave would land on the
    container's mounts, undoing their propagation flags."""
    m = sc.sys()
    old = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.chdir(rootfs)
        m.pivot_root(".", ".")
        os.fchdir(old)
        m.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        m.umount2(".", sc.MNT_DETACH)
    finally:
        os.close(old)
    os.chdir("/")


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs mount over / and chroot into it (for
    ramdisk roots, where pivot_root is impossible)."""
    m = sc.sys()
    os.chdir(rootfs)
    m.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def apply_root_propagation(propagation: str | None) -> None:
    """runc: after pivot_root, linux.rootfsPropagation is applied again to
    the container's / (prepare_root had to keep the mounts around the
    rootfs unshared for pivot_root). To / alone, without MS_REC: the mounts
    below already have their own propagation (a HostToContainer bind's
    rslave, a Bidirectional one's rshared, the rest private as on runc
    1.1.5), which a recursive change would overwrite."""
    from pyruntime.rootfs.mountopts import PROPAGATION

    if propagation:
        sc.sys().mount(None, "/", None, PROPAGATION[propagation] & ~sc.MS_REC)


def remount_readonly(path: str, rro: bool) -> None:
    """The late read-only remount of a tmpfs (or /dev) asked for with `ro`
    or `rro`: made after the devices, the console and the mount points
    inside it exist (runc's finalizeRootfs)."""
    m = sc.sys()
    if rro:
        m.mount_setattr(path, sc.MOUNT_ATTR_RDONLY, 0, 0, True)
    else:
        m.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | current_flags(path))


def readonly_root() -> None:
    sc.sys().mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | current_flags("/"))


def mask_path(path: str) -> None:
    """Hide a file (bind /dev/null over it) or a directory (read-only empty tmpfs)."""
    m = sc.sys()
    _check_dev_null()
    try:
        m.mount("/dev/null", path, None, sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno != errno.ENOTDIR:
            raise
        m.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)


def _check_dev_null() -> None:
    """/dev/null must be the null device, not a file or a link the rootfs
    planted (masking would then expose it instead of hiding the path)."""
    try:
        st = os.lstat("/dev/null")
    except FileNotFoundError:
        return  # the bind fails with ENOENT: nothing is masked, as before
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        raise PyruntimeError("linux.maskedPaths: /dev/null in the container is not the null device (1:3)",
                             field="linux.maskedPaths", path="/dev/null")


def readonly_path(path: str) -> None:
    m = sc.sys()
    try:
        m.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    m.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | current_flags(path))
