"""Container id rules (runc's): letters, digits, `_ + - .`, not `.` or `..`,
and short enough to be a directory name."""

from __future__ import annotations

import re

from pyruntime.errors import InvalidId

_ID = re.compile(r"^[\w+\-.]+$", re.ASCII)
MAX_ID_LEN = 255  # NAME_MAX: the id is a directory name under --root


def check_id(cid: str) -> str:
    if not cid:
        raise InvalidId("container id cannot be empty")
    if len(cid) > MAX_ID_LEN:
        raise InvalidId(f"invalid container ID format: longer than {MAX_ID_LEN} characters")
    if cid in (".", "..") or not _ID.match(cid):
        raise InvalidId(f"invalid container ID format: {cid!r} (allowed: letters, digits, _ + - .)")
    return cid
