from __future__ import annotations

import os

from pyruntime.cli.common import parse_with_id
from pyruntime.cli.flags import Flag
from pyruntime.errors import ContainerNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [Flag("force", aliases=("f",), help="forcibly delete the container if it is still running")]


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.destroy import delete
    from pyruntime.state.store import Container

    p, cid = parse_with_id(argv, FLAGS, "delete <container-id>")
    force = bool(p.get("force"))
    try:
        c = Container.load(g.root, cid, lock=True)
    except ContainerNotFound:
        if force:
            # A directory without state (an aborted create) is still removed.
            import shutil

            shutil.rmtree(os.path.join(g.root, cid), ignore_errors=True)
            return 0
        raise
    delete(c, force)
    return 0
