"""Helpers shared by the command modules."""

from __future__ import annotations

from pyruntime.cli.flags import Flag, Parsed, parse
from pyruntime.errors import UsageError

CREATE_FLAGS = [
    Flag("bundle", "str", aliases=("b",), default="", help="path to the root of the bundle directory"),
    Flag("console-socket", "str", default="", help="AF_UNIX socket to receive the pty master"),
    Flag("pidfd-socket", "str", default="", help="AF_UNIX socket to receive a pidfd of the init"),
    Flag("pid-file", "str", default="", help="file to write the process id to"),
    Flag("no-pivot", help="do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", help="do not create a new session keyring for the container"),
    Flag("preserve-fds", "int", default=0, help="pass N additional file descriptors to the container"),
]


def parse_with_id(argv: list[str], flags: list[Flag], usage: str, nargs: int = 1) -> tuple[Parsed, str]:
    p = parse(argv, flags)
    if len(p.args) < 1:
        raise UsageError(f'"{usage}" requires a container id')
    if len(p.args) > nargs:
        raise UsageError(f'"{usage}" takes {nargs} argument(s), got {len(p.args)}')
    return p, p.args[0]
