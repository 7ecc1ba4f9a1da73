from __future__ import annotations

from pyruntime.cli.common import parse_with_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.start import relay_ready, start
    from pyruntime.state.store import Container

    _, cid = parse_with_id(argv, [], "start <container-id>")
    c = Container.load(g.root, cid, lock=True)
    notify = start(c)
    if notify >= 0:  # NOTIFY_SOCKET: returns once the container said READY (or ended), as runc
        relay_ready(c, notify, c.pid)
    return 0
