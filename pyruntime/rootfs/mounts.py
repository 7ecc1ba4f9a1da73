"""The config's `mounts`, in order, under the rootfs (before pivot_root)."""

from __future__ import annotations

import errno
import os

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError
from pyruntime.rootfs import mountopts
from pyruntime.rootfs.cgroupfs import mount_cgroup_tree
from pyruntime.rootfs.securejoin import secure_join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class MountContext:
    """What mounting needs to know about the container being built."""

    def __init__(self, rootfs: str, bundle: str, cgroup_paths: dict[str, str],
                 cgroup_mounts: dict[str, str], new_ns: set[str]) -> None:
        self.rootfs = rootfs
        self.bundle = bundle
        self.cgroup_paths = cgroup_paths
        self.cgroup_mounts = cgroup_mounts
        self.new_ns = new_ns


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Stop our mounts from reaching the host (rslave unless rootfsPropagation
    says otherwise), then make the rootfs a mount point of its own (needed by
    pivot_root)."""
    m = sc.sys()
    flags = mountopts.PROPAGATION.get(propagation or "rslave")
    if flags is None:
        raise PyruntimeError(f"linux.rootfsPropagation: unknown value {propagation!r}",
                             field="linux.rootfsPropagation")
    m.mount(None, "/", None, flags)
    m.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)
    if flags & sc.MS_SHARED:
        # pivot_root refuses a new root whose parent mount is shared.
        m.mount(None, rootfs, None, sc.MS_PRIVATE)


def _make_mountpoint(target: str, source_is_file: bool) -> None:
    if source_is_file:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            with open(target, "a"):
                pass
    else:
        os.makedirs(target, exist_ok=True)


def mount_all(ctx: MountContext, mounts: list[dict[str, Any]]) -> bool:
    """Mount every entry; returns True when /dev needs its default nodes
    (it is not a bind of a host directory)."""
    setup_dev = True
    for i, m in enumerate(mounts):
        field = f"mounts[{i}]"
        try:
            if _mount_one(ctx, m) and m["destination"].rstrip("/") == "/dev":
                setup_dev = False
        except OSError as e:
            raise PyruntimeError(
                f"{field}: mounting {m.get('source', '')!r} on {m['destination']!r} "
                f"(type {m.get('type', 'bind')}): {os.strerror(e.errno or 0)}",
                field=field, path=m["destination"], errno=e.errno) from None
        except ValueError as e:
            raise PyruntimeError(f"{field}.options: {e}", field=f"{field}.options") from None
    return setup_dev


def _mount_one(ctx: MountContext, m: dict[str, Any]) -> bool:
    """Mount one entry; True if it was a bind mount."""
    sys_ = sc.sys()
    dest = m["destination"]
    if not dest.startswith("/"):
        dest = "/" + dest  # spec 1.2: relative destinations are relative to /
    typ = m.get("type") or ""
    source = m.get("source") or ""
    opts = mountopts.parse(m.get("options") or [])
    if typ == "bind":
        opts.flags |= sc.MS_BIND
    target = secure_join(ctx.rootfs, dest)
    if opts.is_bind:
        if not source.startswith("/"):
            source = os.path.join(ctx.bundle, source)
        if not os.path.exists(source):
            raise FileNotFoundError(errno.ENOENT, "bind source does not exist", source)
        _make_mountpoint(target, not os.path.isdir(source))
        sys_.mount(source, target, None, opts.flags & (sc.MS_BIND | sc.MS_REC))
        rest = opts.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if rest:
            # Bind mounts ignore other flags until remounted.
            sys_.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | rest)
    elif typ == "cgroup":
        _make_mountpoint(target, False)
        mount_cgroup_tree(target, opts.flags, ctx.cgroup_paths, ctx.cgroup_mounts, "cgroup" in ctx.new_ns)
    else:
        _make_mountpoint(target, False)
        try:
            sys_.mount(source or typ, target, typ, opts.flags, opts.data or None)
        except OSError as e:
            # sysfs needs a network namespace of our own, mqueue an ipc one;
            # without them runc binds the host's.
            host = {"sysfs": ("/sys", "network"), "mqueue": ("/dev/mqueue", "ipc")}.get(typ)
            if e.errno != errno.EPERM or host is None or host[1] in ctx.new_ns:
                raise
            sys_.mount(host[0], target, None, sc.MS_BIND | sc.MS_REC)
            sys_.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | opts.flags)
    for p in opts.propagation:
        sys_.mount(None, target, None, p)
    return opts.is_bind
