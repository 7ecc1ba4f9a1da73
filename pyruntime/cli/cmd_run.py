from __future__ import annotations

import os

from pyruntime.cli.common import CREATE_FLAGS, parse_with_id
from pyruntime.cli.flags import Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = CREATE_FLAGS + [
    Flag("detach", aliases=("d",), help="detach from the container's process"),
    Flag("keep", help="do not delete the container after it exits"),
    Flag("no-subreaper", help="(ignored) disable the use of the subreaper"),
]


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.create import CreateOptions
    from pyruntime.lifecycle.run import run

    p, cid = parse_with_id(argv, FLAGS, "run <container-id>")
    if p.get("detach") and p.get("keep"):
        from pyruntime.errors import UsageError

        raise UsageError("--detach and --keep cannot both be used")
    o = CreateOptions(g.root, cid, p.get("bundle") or os.getcwd(), p.get("pid-file") or None,
                      p.get("console-socket") or None, bool(p.get("no-pivot")), int(p.get("preserve-fds")),
                      no_new_keyring=bool(p.get("no-new-keyring")), systemd_cgroup=g.systemd_cgroup,
                      pidfd_socket=p.get("pidfd-socket") or None)
    return run(o, bool(p.get("detach")), bool(p.get("keep")))
