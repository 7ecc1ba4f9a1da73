"""`events [--stats] [--interval DUR] ID` (runc events.go)."""

from __future__ import annotations

import sys

from pyruntime.cli.common import parse_with_id
from pyruntime.cli.flags import Flag
from pyruntime.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cli import Globals

FLAGS = [
    Flag("interval", "str", default="5s", help="set the stats collection interval (default: 5s)"),
    Flag("stats", help="display the container's stats then exit"),
]


def _emit(event: dict[str, Any]) -> None:
    import json

    # Go's json.Encoder: compact, one object per line
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.cli.goduration import parse as parse_duration
    from pyruntime.lifecycle.events import events
    from pyruntime.state.store import Container

    p, cid = parse_with_id(argv, FLAGS, "events <container-id>")
    try:
        interval = parse_duration(p.get("interval"))
    except ValueError:
        raise UsageError(f'invalid value "{p.get("interval")}" for flag -interval: parse error') from None
    try:
        events(Container.load(g.root, cid), interval, bool(p.get("stats")), _emit)
    except BrokenPipeError:
        import os

        # the reader went away: nothing more to say, not even at exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
