from __future__ import annotations

import os

from pyruntime.cli.common import CREATE_FLAGS, parse_with_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.create import CreateOptions, create

    p, cid = parse_with_id(argv, CREATE_FLAGS, "create <container-id>")
    create(CreateOptions(g.root, cid, p.get("bundle") or os.getcwd(), p.get("pid-file") or None,
                         p.get("console-socket") or None, bool(p.get("no-pivot")), int(p.get("preserve-fds")),
                         no_new_keyring=bool(p.get("no-new-keyring")), systemd_cgroup=g.systemd_cgroup,
                         pidfd_socket=p.get("pidfd-socket") or None))
    return 0
