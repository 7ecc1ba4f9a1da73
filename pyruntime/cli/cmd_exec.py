from __future__ import annotations

from pyruntime.cli.flags import Flag, parse
from pyruntime.errors import PyruntimeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [
    Flag("console-socket", "str", default="", help="AF_UNIX socket to receive the pty master"),
    Flag("pidfd-socket", "str", default="", help="AF_UNIX socket to receive a pidfd of the process"),
    Flag("cwd", "str", default="", help="current working directory in the container"),
    Flag("env", "list", aliases=("e",), help="set environment variables"),
    Flag("tty", aliases=("t",), help="allocate a pseudo-TTY"),
    Flag("user", "str", aliases=("u",), default="", help="UID (format: <uid>[:<gid>])"),
    Flag("additional-gids", "list", aliases=("g",), help="additional gids"),
    Flag("process", "str", aliases=("p",), default="", help="path to the process.json"),
    Flag("detach", aliases=("d",), help="detach from the container's process"),
    Flag("pid-file", "str", default="", help="specify the file to write the process id to"),
    Flag("process-label", "str", default="", help="set the asm process label for the process"),
    Flag("apparmor", "str", default="", help="set the apparmor profile for the process"),
    Flag("no-new-privs", default=None, help="set the no new privileges value for the process"),
    Flag("cap", "list", aliases=("c",), help="add a capability to the bounding set for the process"),
    Flag("preserve-fds", "int", default=0, help="pass N additional file descriptors to the container"),
    Flag("cgroup", "list", help="run the process in an (existing) sub-cgroup(s)"),
    Flag("ignore-paused", help="allow exec in a paused container"),
]


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.exec import ExecOptions, exec_process

    p = parse(argv, FLAGS, stop_at_positional=True)
    if not p.args:
        raise UsageError('"exec" requires a minimum of 1 argument')
    o = ExecOptions(g.root, p.args[0], p.args[1:])
    o.process_file = p.get("process") or None
    o.detach = bool(p.get("detach"))
    o.pid_file = p.get("pid-file") or None
    o.console_socket = p.get("console-socket") or None
    o.pidfd_socket = p.get("pidfd-socket") or None
    o.tty = bool(p.get("tty"))
    o.cwd = p.get("cwd") or ""
    o.env = list(p.get("env"))
    o.user = p.get("user") or ""
    o.additional_gids = list(p.get("additional-gids"))
    o.caps = list(p.get("cap"))
    o.no_new_privs = p.get("no-new-privs")
    o.apparmor = p.get("apparmor") or ""
    o.process_label = p.get("process-label") or ""
    o.preserve_fds = int(p.get("preserve-fds"))
    o.ignore_paused = bool(p.get("ignore-paused"))
    o.cgroup = list(p.get("cgroup"))
    try:
        return exec_process(o)
    except PyruntimeError as e:
        # runc: every failure of the exec itself is "exec failed: ..." and status 255,
        # so that callers can tell it from the process's own status.
        from pyruntime.log import log

        log.error(f"exec failed: {e.msg}")
        return 255
