from __future__ import annotations

import sys

from pyruntime import jsonfast
from pyruntime.cli.common import parse_with_id
from pyruntime.state.store import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals


def main(g: Globals, argv: list[str]) -> int:
    _, cid = parse_with_id(argv, [], "state <container-id>")
    c = Container.load(g.root, cid)
    if not c.data:
        from pyruntime.errors import ContainerNotFound

        raise ContainerNotFound(cid)
    sys.stdout.write(jsonfast.dumps(c.oci_state(), indent=2) + "\n")
    return 0
