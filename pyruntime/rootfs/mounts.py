"""The config's `mounts`, in order, under the rootfs (before pivot_root).

Every destination is resolved inside the rootfs (secure_join: symlinks and
`..` never climb out of it), then opened O_PATH and checked through
/proc/self/fd (securejoin.with_procfd); the mount is made on that fd, so a
symlink swapped in after the check is refused rather than followed.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError
from pyruntime.rootfs import mountopts
from pyruntime.rootfs.cgroupfs import mount_cgroup_tree
from pyruntime.rootfs.pivot import ATIME_FLAGS, current_flags
from pyruntime.rootfs.securejoin import open_verified, secure_join, with_procfd
from pyruntime.state.procfs import unescape_mountinfo

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.rootfs.mountopts import ParsedOptions

# Bind mounts on these entries of /proc are allowed (lxcfs emulates them), as in runc.
VALID_PROC_MOUNTS = frozenset({
    "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
    "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev", "/proc/sys/kernel/ns_last_pid",
})

# Flags of a bind source that its bind keeps unless an option clears them
# (and that a user namespace locks: MNT_LOCK_*).
_KEPT = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOSYMFOLLOW | sc.MS_NODIRATIME
_LOCKABLE = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


class MountContext:
    """What mounting needs to know about the container being built."""

    def __init__(self, rootfs: str, bundle: str, cgroup_paths: dict[str, str],
                 cgroup_mounts: dict[str, str], new_ns: set[str]) -> None:
        self.rootfs = os.path.realpath(rootfs)
        self.bundle = bundle
        self.cgroup_paths = cgroup_paths
        self.cgroup_mounts = cgroup_mounts
        self.new_ns = new_ns
        # (path in the container, recursive?): tmpfs and /dev mounts asked to be
        # read-only, remounted so after pivot_root (pivot.remount_readonly).
        self.late_readonly: list[tuple[str, bool]] = []


# -- the root ----------------------------------------------------------------------

def _mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def parent_mount(path: str, mountinfo: str) -> tuple[str, str]:
    """(mount point, optional fields) of the mount that holds path: the
    longest mount point above it, the last one mounted there."""
    best, best_opt = "/", ""
    for line in mountinfo.splitlines():
        f = line.split()
        if len(f) < 7:
            continue
        point = unescape_mountinfo(f[4])
        if point == path or point == "/" or path.startswith(point + "/"):
            if len(point) >= len(best):
                opt = " ".join(f[6:f.index("-")]) if "-" in f else ""
                best, best_opt = point, opt
    return best, best_opt


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Stop our mounts from reaching the host (rslave unless rootfsPropagation
    says otherwise), make the mount that holds the rootfs private when it is
    shared (else the rootfs bind below would propagate to the host, and
    pivot_root refuses a new root whose parent is shared), then make the
    rootfs a mount point of its own (needed by pivot_root). A shared
    propagation is applied again to the container's / after pivot_root
    (pivot.apply_root_propagation), as runc does."""
    m = sc.sys()
    flags = mountopts.PROPAGATION.get(propagation or "rslave")
    if flags is None:
        raise PyruntimeError(f"linux.rootfsPropagation: unknown value {propagation!r}",
                             field="linux.rootfsPropagation")
    if flags & sc.MS_UNBINDABLE:
        # The rootfs could not be bound from an unbindable tree: private
        # until pivot_root, unbindable after (runc 1.1.5 fails with EINVAL).
        flags = sc.MS_PRIVATE | (flags & sc.MS_REC)
    m.mount(None, "/", None, flags)
    point, optional = parent_mount(os.path.realpath(rootfs), _mountinfo())
    if any(o.startswith("shared:") for o in optional.split()):
        m.mount(None, point, None, sc.MS_PRIVATE)
    m.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    if flags & sc.MS_SHARED:
        # pivot_root also refuses a shared new root and a shared current root.
        m.mount(None, rootfs, None, sc.MS_PRIVATE)
        if point != "/":
            m.mount(None, "/", None, sc.MS_PRIVATE)


# -- helpers -----------------------------------------------------------------------

def _make_mountpoint(target: str, source_is_file: bool) -> None:
    if source_is_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        except IsADirectoryError:
            pass  # the bind fails with ENOTDIR: reported with the mount
    else:
        os.makedirs(target, exist_ok=True)


def _inner(ctx: MountContext, target: str) -> str:
    """The container's name for a resolved target."""
    rel = os.path.relpath(target, ctx.rootfs)
    return "/" if rel == "." else "/" + rel


def _leaf_target(ctx: MountContext, dest: str, typ: str) -> str:
    """proc and sysfs go on an ordinary directory: a destination that is a
    symlink, or not a directory, is refused (runc: "must be mounted on
    ordinary directory"), never followed."""
    clean = posixpath.normpath("/" + dest.lstrip("/"))
    parent = secure_join(ctx.rootfs, posixpath.dirname(clean))
    target = os.path.join(parent, posixpath.basename(clean)) if clean != "/" else ctx.rootfs
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return target
    if stat.S_ISLNK(st.st_mode):
        raise PyruntimeError(f"mount through symlink: {typ} destination {dest} is a symbolic link", path=dest)
    if not stat.S_ISDIR(st.st_mode):
        raise PyruntimeError(f"filesystem {typ!r} must be mounted on ordinary directory: {dest}", path=dest)
    return target


def _is_procfs(path: str) -> bool:
    """Whether path is on a proc filesystem (runc's isProc, without statfs:
    the device number of a mount whose type is proc)."""
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return False
    want = f"{os.major(dev)}:{os.minor(dev)}"
    for line in _mountinfo().splitlines():
        f = line.split()
        if len(f) > 2 and f[2] == want and "-" in f:
            i = f.index("-")
            if i + 1 < len(f) and f[i + 1] == "proc":
                return True
    return False


def _check_proc(inner: str, typ: str, source: str, is_bind: bool) -> None:
    """runc's checkProcMount: /proc only gets a proc filesystem; below it
    only the few entries lxcfs emulates may be bind-mounted over (a tmpfs,
    which can hide but not reveal, is let through too)."""
    if inner != "/proc" and not inner.startswith("/proc/"):
        return
    if inner == "/proc":
        if (typ == "proc" and not is_bind) or (is_bind and _is_procfs(source)):
            return
        raise PyruntimeError(f"{inner!r} cannot be mounted because it is not of type proc", path=inner)
    if inner in VALID_PROC_MOUNTS or (typ == "tmpfs" and not is_bind):
        return
    raise PyruntimeError(f"{inner!r} cannot be mounted because it is inside /proc", path=inner)


# -- mount_all ---------------------------------------------------------------------

def mount_all(ctx: MountContext, mounts: list[dict[str, Any]]) -> bool:
    """Mount every entry; returns True when /dev needs its default nodes
    (it is not a bind of a host directory)."""
    setup_dev = True
    for i, m in enumerate(mounts):
        field = f"mounts[{i}]"
        try:
            if _mount_one(ctx, m):
                setup_dev = False
        except OSError as e:
            raise PyruntimeError(
                f"{field}: mounting {m.get('source', '')!r} on {m['destination']!r} "
                f"(type {m.get('type', 'bind')}): {os.strerror(e.errno or 0)}",
                field=field, path=m["destination"], errno=e.errno) from None
        except ValueError as e:
            raise PyruntimeError(f"{field}.options: {e}", field=f"{field}.options") from None
        except PyruntimeError as e:
            raise PyruntimeError(f"{field}: {e.msg}", field=field, path=m["destination"],
                                 errno=e.errno) from None
    return setup_dev


def _mount_one(ctx: MountContext, m: dict[str, Any]) -> bool:
    """Mount one entry; True if it was a bind mount of /dev."""
    sys_ = sc.sys()
    dest = m["destination"]
    if not dest.startswith("/"):
        dest = "/" + dest  # spec 1.2: relative destinations are relative to /
    typ = m.get("type") or ""
    source = m.get("source") or ""
    opts = mountopts.parse(m.get("options") or [])
    if typ == "bind":
        opts.flags |= sc.MS_BIND
    if opts.tmpcopyup and (typ != "tmpfs" or opts.is_bind):
        raise ValueError("tmpcopyup is only for tmpfs mounts")
    target = _leaf_target(ctx, dest, typ) if typ in ("proc", "sysfs") else secure_join(ctx.rootfs, dest)
    inner = _inner(ctx, target)
    if opts.is_bind and not source.startswith("/"):
        source = os.path.join(ctx.bundle, source)
    _check_proc(inner, typ, source, opts.is_bind)

    flags, rec_set = opts.flags, opts.rec_set
    if not opts.is_bind and (typ == "tmpfs" or inner == "/dev"):
        # Read-only later: the devices, the console and the mount points of
        # the following mounts are made in it first (runc's finalizeRootfs).
        ro, rro = flags & sc.MS_RDONLY, rec_set & sc.MOUNT_ATTR_RDONLY
        if ro or rro:
            ctx.late_readonly.append((inner, bool(rro)))
        flags &= ~sc.MS_RDONLY
        rec_set &= ~sc.MOUNT_ATTR_RDONLY

    if opts.is_bind:
        _bind(source, target, flags, opts)
    elif typ == "cgroup":
        _make_mountpoint(target, False)
        os.close(open_verified(target))
        mount_cgroup_tree(target, flags, ctx.cgroup_paths, ctx.cgroup_mounts, "cgroup" in ctx.new_ns)
    else:
        _make_mountpoint(target, False)
        if opts.tmpcopyup:
            _tmpfs_copyup(target, source or typ, flags, opts.data)
        else:
            _mount_fs(ctx, typ, source, target, flags, opts.data)
    if rec_set or opts.rec_clr:
        with_procfd(target, lambda p: sys_.mount_setattr(p, rec_set, opts.rec_clr, 0, True))
    for prop in opts.propagation:
        _propagate(target, prop)
    return opts.is_bind and inner == "/dev"


def _propagate(target: str, prop: int) -> None:
    with_procfd(target, lambda p: sc.sys().mount(None, p, None, prop))


def _mount_fs(ctx: MountContext, typ: str, source: str, target: str, flags: int, data: str) -> None:
    sys_ = sc.sys()
    try:
        with_procfd(target, lambda p: sys_.mount(source or typ, p, typ, flags, data or None))
    except OSError as e:
        # sysfs needs a network namespace of our own, mqueue an ipc one;
        # without them runc binds the host's.
        host = {"sysfs": ("/sys", "network"), "mqueue": ("/dev/mqueue", "ipc")}.get(typ)
        if e.errno != errno.EPERM or host is None or host[1] in ctx.new_ns:
            raise
        with_procfd(target, lambda p: sys_.mount(host[0], p, None, sc.MS_BIND | sc.MS_REC))
        # a new open: the remount acts on the mount just made, not the one below
        with_procfd(target, lambda p: sys_.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | flags))


# -- bind mounts -------------------------------------------------------------------

def _bind(source: str, target: str, flags: int, opts: ParsedOptions) -> None:
    sys_ = sc.sys()
    if not os.path.exists(source):
        raise FileNotFoundError(errno.ENOENT, "bind source does not exist", source)
    _make_mountpoint(target, not os.path.isdir(source))
    with_procfd(target, lambda p: sys_.mount(source, p, None, flags & (sc.MS_BIND | sc.MS_REC)))
    if flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT):
        # A bind ignores other flags until remounted; only then (as runc).
        with_procfd(target, lambda p: _remount_bind(source, p, flags, opts))


def bind_remount_flags(src: int, flags: int, opts: ParsedOptions) -> int:
    """The flags of a bind's remount: the options', plus the flags of the
    source mount (statvfs, runc's getMountFlags) that no option turned off:
    ro, nosuid, nodev, noexec, nosymfollow, nodiratime and, unless an option
    chose one, its access-time mode. A remount that dropped them would make
    a nosuid or read-only host mount suid or writable in the container."""
    want = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    keep = src & _KEPT & ~opts.cleared
    if not opts.atime_given:
        keep |= src & ATIME_FLAGS
    return sc.MS_BIND | sc.MS_REMOUNT | want | keep


def _remount_bind(source: str, at: str, flags: int, opts: ParsedOptions) -> None:
    sys_ = sc.sys()
    src = current_flags(source)
    first = bind_remount_flags(src, flags, opts)
    try:
        sys_.mount(None, at, None, first)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        # In a user namespace the source's flags are locked (MNT_LOCK_*):
        # an option may not turn them off. Keep them, as runc does.
        locked = (first & ~ATIME_FLAGS) | (src & _LOCKABLE) | (src & ATIME_FLAGS)
        if locked == first:
            raise
        sys_.mount(None, at, None, locked)


# -- tmpcopyup ---------------------------------------------------------------------

def _data_keys(data: str) -> set[str]:
    return {o.split("=", 1)[0] for o in data.split(",") if o}


def _tmpfs_copyup(target: str, source: str, flags: int, data: str) -> None:
    """A tmpfs over a directory that starts with a copy of what the
    directory held (runc and crun: `tmpcopyup`). The directory is opened
    before the mount: its fd still reaches the covered files. (flags never
    hold ro here: a read-only tmpfs is made so late, see _mount_one.)"""
    sys_ = sc.sys()
    old = open_verified(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(old)
        sys_.mount(source, f"/proc/self/fd/{old}", "tmpfs", flags, data or None)
        new = open_verified(target, os.O_RDONLY | os.O_DIRECTORY)
        try:
            copy_tree(old, new)
            keys = _data_keys(data)
            if "mode" not in keys:
                os.chmod(new, stat.S_IMODE(st.st_mode))
            if not keys & {"uid", "gid"}:
                os.chown(new, st.st_uid, st.st_gid)
        finally:
            os.close(new)
    finally:
        os.close(old)


def copy_tree(src: int, dst: int) -> None:
    """Copy the entries of directory fd src into directory fd dst: files,
    directories, symlinks (not followed), device nodes, fifos; with mode,
    owner and times. Hard links become separate files."""
    for name in os.listdir(src):
        st = os.lstat(name, dir_fd=src)
        kind = stat.S_IFMT(st.st_mode)
        mode = stat.S_IMODE(st.st_mode)
        if kind == stat.S_IFDIR:
            os.mkdir(name, 0o700, dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
                try:
                    copy_tree(s, d)
                finally:
                    os.close(d)
            finally:
                os.close(s)
        elif kind == stat.S_IFREG:
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            try:
                d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                            0o600, dir_fd=dst)
                try:
                    while os.sendfile(d, s, None, 1 << 20) > 0:
                        pass
                finally:
                    os.close(d)
            finally:
                os.close(s)
        elif kind == stat.S_IFLNK:
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        else:  # char, block, fifo, socket
            os.mknod(name, kind | 0o600, st.st_rdev, dir_fd=dst)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
        if kind != stat.S_IFLNK:
            os.chmod(name, mode, dir_fd=dst)  # after chown, which clears setuid bits
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
