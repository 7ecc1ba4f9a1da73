"""Runtime log in runc's formats (logrus): text
    time="2024-10-22T10:00:00Z" level=error msg="..."
or json
    {"level":"error","msg":"...","time":"2024-10-22T10:00:00Z"}
containerd reads the last `level=error` line of the json log; Podman reads
the whole file as a single object, so a failure writes exactly one error line.

Deliberately not the logging module (~19 ms import on every command).
"""

from __future__ import annotations

import os
import sys
import time

LEVELS = {"debug": 0, "info": 1, "warning": 2, "error": 3}


def rfc3339(ns: int | None = None, *, nanos: bool = False) -> str:
    """UTC time in RFC 3339, optionally with nanoseconds (the state's `created`)."""
    if ns is None:
        ns = time.time_ns()
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{base}.{ns % 1_000_000_000:09d}Z" if nanos else base + "Z"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Logger:
    def __init__(self) -> None:
        self.path: str | None = None
        self.fmt = "text"
        self.min_level = LEVELS["info"]

    def configure(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path or None
        self.fmt = fmt
        self.min_level = LEVELS["debug" if debug else "info"]

    def check_path(self) -> None:
        """--log must be writable (runc opens it at start too): else one
        error on stderr instead of a failure while reporting another one."""
        if not self.path:
            return
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644))
        except OSError as e:
            from pyruntime.errors import PyruntimeError

            path, self.path = self.path, None
            raise PyruntimeError(f"open {path}: {os.strerror(e.errno or 0)}", path=path) from None

    def line(self, level: str, msg: str) -> str:
        if self.fmt == "json":
            from pyruntime import jsonfast

            return jsonfast.dumps({"level": level, "msg": msg, "time": rfc3339()})
        return f"time={_quote(rfc3339())} level={level} msg={_quote(msg)}"

    def log(self, level: str, msg: str) -> None:
        if LEVELS[level] < self.min_level:
            return
        text = self.line(level, msg) + "\n"
        if self.path:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        else:
            sys.stderr.write(text)
            sys.stderr.flush()

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def warning(self, msg: str) -> None:
        self.log("warning", msg)

    def error(self, msg: str) -> None:
        """An error for the user: logged, and also printed plainly on stderr when
        the log goes to a file (as runc does), so a person sees it."""
        self.log("error", msg)
        if self.path:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()


log = Logger()
