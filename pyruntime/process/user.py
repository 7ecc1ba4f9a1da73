"""The process identity inside the container: user and groups, HOME, and
finding the executable on the container's PATH."""

from __future__ import annotations

import os

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def switch_user(user: dict[str, Any], default_umask: int | None = None) -> None:
    """setgroups/setresgid/setresuid, keeping capabilities across the uid
    change (PR_SET_KEEPCAPS) so that capset can set the final sets after;
    then the user's umask, else default_umask (None: keep the inherited one)."""
    uid = int(user.get("uid", 0))
    gid = int(user.get("gid", 0))
    sys_ = sc.sys()
    sys_.prctl(sc.PR_SET_KEEPCAPS, 1)
    try:
        os.setgroups([int(g) for g in user.get("additionalGids") or []])
    except PermissionError:
        # setgroups is denied in a user namespace whose setgroups file says "deny".
        if user.get("additionalGids"):
            raise
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sys_.prctl(sc.PR_SET_KEEPCAPS, 0)
    umask = user.get("umask")
    if umask is None:
        umask = default_umask
    if umask is not None:
        os.umask(int(umask))


def home_for(uid: int) -> str:
    """HOME from the container's /etc/passwd, else "/" (runc's rule)."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[5] or "/"
    except OSError:
        pass
    return "/"


def env_dict(env: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env:
        k, sep, v = item.partition("=")
        if sep:
            out[k] = v
    return out


def look_path(name: str, env: dict[str, str]) -> str:
    """Resolve args[0] as Go's exec.LookPath does, inside the container."""
    if "/" in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name
        reason = "permission denied" if os.path.exists(name) else "no such file or directory"
        raise PyruntimeError(f'exec: "{name}": {reason}', field="process.args")
    for d in env.get("PATH", "").split(":"):
        p = os.path.join(d or ".", name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise PyruntimeError(f'exec: "{name}": executable file not found in $PATH', field="process.args")
