"""The one error convention: every failure the user can cause is a
PyruntimeError carrying a message (and, where known, the file, JSON field or
path it concerns). The CLI turns it into one log line and exit status 1;
anything else is an internal error.

Errors raised in a forked child (intermediate or init) cross to the parent as
a dict (`to_wire`) over the sync socket and are re-raised there (`from_wire`).
"""

from __future__ import annotations

import errno as _errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class PyruntimeError(Exception):
    """A failure with a message meant for the user."""

    def __init__(self, msg: str, *, field: str | None = None, path: str | None = None,
                 errno: int | None = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.field = field
        self.path = path
        self.errno = errno

    def __str__(self) -> str:
        return self.msg

    def to_wire(self) -> dict[str, Any]:
        return {"cls": type(self).__name__, "msg": self.msg, "field": self.field,
                "path": self.path, "errno": self.errno}


class ContainerNotFound(PyruntimeError):
    def __init__(self, cid: str = "") -> None:
        # containerd's shim and Podman match on this exact text.
        super().__init__("container does not exist")


class ContainerExists(PyruntimeError):
    def __init__(self, cid: str) -> None:
        super().__init__(f"container with given ID already exists: {cid}")


class InvalidId(PyruntimeError):
    pass


class ConfigError(PyruntimeError):
    """config.json is missing, malformed or asks for something not possible."""


class StateError(PyruntimeError):
    """The container is in the wrong state for the operation."""


class UsageError(PyruntimeError):
    """Bad command line."""


_CLASSES: dict[str, type[PyruntimeError]] = {
    c.__name__: c for c in (PyruntimeError, ConfigError, StateError, UsageError, InvalidId)
}


def from_wire(d: dict[str, Any]) -> PyruntimeError:
    cls = _CLASSES.get(str(d.get("cls")), PyruntimeError)
    return cls(str(d.get("msg")), field=d.get("field"), path=d.get("path"), errno=d.get("errno"))


def from_oserror(e: OSError, doing: str, *, field: str | None = None) -> PyruntimeError:
    """Wrap an OSError from a syscall with what we were doing, naming the path."""
    path = e.filename if isinstance(e.filename, str) else None
    reason = os.strerror(e.errno) if e.errno else str(e)
    where = f" {path}" if path and path not in doing else ""
    return PyruntimeError(f"{doing}{where}: {reason}", field=field, path=path, errno=e.errno)


def is_enoent(e: OSError) -> bool:
    return e.errno == _errno.ENOENT


def internal_message(e: BaseException, process: str = "") -> str:
    """One line for an error that is not a PyruntimeError (a bug, or a fault
    injected by a test): its type and text, and where it was raised (the
    innermost frame in pyruntime's own code; the traceback is for --debug)."""
    where = ""
    tb = e.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        fn = code.co_filename
        i = fn.rfind("/pyruntime/")
        if i >= 0 and not fn.endswith("/faults.py"):
            where = f" at {fn[i + 1:]}:{tb.tb_lineno} in {code.co_name}()"
        tb = tb.tb_next
    return f"internal error{' in ' + process if process else ''}{where}: {type(e).__name__}: {e}"
