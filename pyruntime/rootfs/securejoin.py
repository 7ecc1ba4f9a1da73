"""Resolve a path inside the rootfs the way the container will see it:
symlinks are followed relative to the rootfs (an absolute link target means
the rootfs's /) and `..` never climbs above it. So a config destination or a
planted symlink can never make us mount outside the rootfs.
"""

from __future__ import annotations

import os

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
