"""Resolve a path inside the rootfs the way the container will see it:
symlinks are followed relative to the rootfs (an absolute link target means
the rootfs's /) and `..` never climbs above it. So a config destination or a
planted symlink can never make us mount outside the rootfs.
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")

MAX_SYMLINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []  # components below root, all existing non-symlinks so far
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            # Not a symlink (or does not exist yet): take it as is.
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise OSError(40, "too many levels of symbolic links", candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return os.path.join(root, *resolved)


def open_verified(path: str, flags: int = os.O_PATH) -> int:
    """Open path (already resolved with secure_join) without following a
    final symlink, and check through /proc/self/fd that the kernel reached
    exactly that path: a symlink swapped in after secure_join (by anything
    that can write to the rootfs) is refused, never followed out of it."""
    from pyruntime.errors import PyruntimeError

    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise PyruntimeError(f"mount through symlink: {path} is a symbolic link", path=path)
        real = os.readlink(f"/proc/self/fd/{fd}")
        if real != path:
            raise PyruntimeError(f"possibly malicious path detected -- refusing to operate on {path} "
                                 f"(it resolves to {real})", path=path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def with_procfd(path: str, fn: Callable[[str], T]) -> T:
    """fn("/proc/self/fd/N") with N an fd from open_verified(path): mount(2)
    on that name acts on the very inode that was checked."""
    fd = open_verified(path)
    try:
        return fn(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
