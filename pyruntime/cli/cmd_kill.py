from __future__ import annotations

from pyruntime.cli.common import parse_with_id
from pyruntime.cli.flags import Flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [Flag("all", aliases=("a",), help="send the signal to all processes in the container")]


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.destroy import kill, parse_signal
    from pyruntime.state.store import Container

    p, cid = parse_with_id(argv, FLAGS, "kill <container-id> [signal]", nargs=2)
    sig = parse_signal(p.args[1] if len(p.args) > 1 else "SIGTERM")
    kill(Container.load(g.root, cid, lock=True), sig, bool(p.get("all")))
    return 0
