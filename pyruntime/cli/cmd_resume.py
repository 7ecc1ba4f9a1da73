from __future__ import annotations

from pyruntime.cli.common import parse_with_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.pause import resume
    from pyruntime.state.store import Container

    _, cid = parse_with_id(argv, [], "resume <container-id>")
    resume(Container.load(g.root, cid, lock=True))
    return 0
