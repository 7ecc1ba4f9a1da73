"""/dev inside the container: the default device nodes every container gets,
the config's `linux.devices`, and the standard symlinks.

Device nodes are made with mknod(2); in a user namespace mknod is not
allowed, so the host's node is bind-mounted onto an empty file instead
(what runc does too).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError
from pyruntime.rootfs.securejoin import secure_join, with_procfd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# path, major, minor, mode
DEFAULT_DEVICES: list[tuple[str, int, int, int]] = [
    ("/dev/null", 1, 3, 0o666),
    ("/dev/zero", 1, 5, 0o666),
    ("/dev/full", 1, 7, 0o666),
    ("/dev/tty", 5, 0, 0o666),
    ("/dev/random", 1, 8, 0o666),
    ("/dev/urandom", 1, 9, 0o666),
]

SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
]

TYPE_BITS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def _bind_host_node(path: str, target: str, kind: int, major: int, minor: int, field: str) -> None:
    """Bind the host's node onto an empty file at target. The host's path
    must be that very device: a config cannot bind an arbitrary host file."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise PyruntimeError(f"{field}: {path} does not exist on the host (a user namespace cannot "
                             f"mknod, the host's node is bind-mounted)", field=field, path=path,
                             errno=e.errno) from None
    if stat.S_IFMT(st.st_mode) != kind or st.st_rdev != os.makedev(major, minor):
        raise PyruntimeError(f"{field}: {path} on the host is not device {major}:{minor}",
                             field=field, path=path)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        pass
    with_procfd(target, lambda p: sc.sys().mount(path, p, None, sc.MS_BIND))


def _make_node(rootfs: str, path: str, kind: int, major: int, minor: int, mode: int,
               uid: int, gid: int, userns: bool, field: str) -> None:
    target = secure_join(rootfs, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_IFMT(st.st_mode) == kind and (kind == stat.S_IFIFO or st.st_rdev == os.makedev(major, minor)):
            return
        raise PyruntimeError(f"{field}: {path} already exists in the rootfs and is not "
                             f"device {major}:{minor}", field=field, path=path)
    if userns and kind != stat.S_IFIFO:
        _bind_host_node(path, target, kind, major, minor, field)
        return
    try:
        os.mknod(target, kind | (mode & 0o7777), os.makedev(major, minor))
    except PermissionError:
        if kind == stat.S_IFIFO:
            raise PyruntimeError(f"{field}: creating fifo {path}: permission denied",
                                 field=field, path=path, errno=errno.EPERM) from None
        # No CAP_MKNOD (a joined user namespace, a restricted bounding set): bind, as runc.
        _bind_host_node(path, target, kind, major, minor, field)
        return
    except OSError as e:
        raise PyruntimeError(f"{field}: creating device {path}: {os.strerror(e.errno or 0)}",
                             field=field, path=path, errno=e.errno) from None
    try:
        # mknod applied the umask; the node is new and ours: set exactly what the config asks
        os.lchown(target, uid, gid)
        os.chmod(target, mode & 0o7777)  # after chown, which may clear setuid/setgid bits
    except OSError as e:
        raise PyruntimeError(f"{field}: setting owner and mode of {path}: {os.strerror(e.errno or 0)}",
                             field=field, path=path, errno=e.errno) from None


def create_default_devices(rootfs: str, userns: bool) -> None:
    for path, major, minor, mode in DEFAULT_DEVICES:
        _make_node(rootfs, path, stat.S_IFCHR, major, minor, mode, 0, 0, userns, "linux.devices(default)")


def create_config_devices(rootfs: str, devices: list[dict[str, Any]], userns: bool) -> None:
    for i, d in enumerate(devices):
        field = f"linux.devices[{i}]"
        kind = TYPE_BITS.get(d.get("type", ""))
        if kind is None:
            raise PyruntimeError(f"{field}.type: unknown device type {d.get('type')!r}", field=field)
        path = d.get("path", "")
        # Anywhere in the container (the spec does not limit devices to /dev);
        # _make_node resolves the path inside the rootfs.
        if not isinstance(path, str) or not path.startswith("/") \
                or posixpath.normpath(path) != path.rstrip("/") or path == "/":
            raise PyruntimeError(f"{field}.path: {path!r} must be a normalised absolute path",
                                 field=field)
        if path == "/dev/ptmx":
            continue  # always the devpts instance's ptmx (create_symlinks), as in runc
        _make_node(rootfs, path, kind, int(d.get("major", 0)), int(d.get("minor", 0)),
                   int(d.get("fileMode", 0o666)), int(d.get("uid", 0)), int(d.get("gid", 0)),
                   userns, field)


def _in_dev(rootfs: str, name: str) -> str:
    """rootfs/dev/<name> with /dev resolved inside the rootfs but the last
    component not followed: an existing symlink there is itself the entry."""
    return os.path.join(secure_join(rootfs, "/dev"), name)


def create_symlinks(rootfs: str) -> None:
    links = list(SYMLINKS)
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "/dev/core"))
    for src, dst in links:
        try:
            os.symlink(src, _in_dev(rootfs, os.path.basename(dst)))
        except FileExistsError:
            pass
    # /dev/ptmx must be the one of the container's own devpts instance.
    ptmx = _in_dev(rootfs, "ptmx")
    try:
        os.unlink(ptmx)
    except FileNotFoundError:
        pass
    os.symlink("pts/ptmx", ptmx)
