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
    from pyruntime.state.ids import check_id

    p, cid = parse_with_id(argv, FLAGS, "delete <container-id>")
    force = bool(p.get("force"))
    where = os.path.join(g.root, check_id(cid))
    if force and not os.path.lexists(where):
        # containerd's shim runs `delete --force` after every `delete`: nothing
        # to do, so answer before importing the lifecycle code (~4 ms).
        return 0
    from pyruntime.lifecycle.destroy import delete
    from pyruntime.state.store import Container

    try:
        # A directory without state.json (a create killed before writing it)
        # loads as an empty record, and delete() removes it under the lock.
        c = Container.load(g.root, cid, lock=True)
    except ContainerNotFound:
        if force:
            # Gone meanwhile. Nothing to remove: whatever is at the path now
            # is a new create's, which holds its lock (never rmtree it here).
            return 0
        raise
    delete(c, force)
    return 0
