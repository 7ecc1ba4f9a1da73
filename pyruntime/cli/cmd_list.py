from __future__ import annotations

import sys

from pyruntime import jsonfast
from pyruntime.cli.flags import Flag, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [Flag("format", "str", aliases=("f",), default="table", help="table or json"),
         Flag("quiet", aliases=("q",), help="display only container IDs")]


def table(rows: list[list[str]]) -> str:
    """Go's tabwriter as runc configures it: min width 12, padding 3."""
    widths = [max(12, *(len(r[i]) + 3 for r in rows)) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)] + [r[-1]]
        out.append("".join(cells))
    return "\n".join(out) + "\n"


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.errors import UsageError
    from pyruntime.state.store import Container, list_ids

    p = parse(argv, FLAGS)
    states = []
    for cid in list_ids(g.root):
        try:
            c = Container.load(g.root, cid)
        except Exception:
            continue
        if c.data:
            states.append(c.oci_state())
    if p.get("quiet"):
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif p.get("format") == "json":
        sys.stdout.write(jsonfast.dumps(states) + "\n")
    elif p.get("format") == "table":
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        rows += [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]] for s in states]
        sys.stdout.write(table(rows))
    else:
        raise UsageError(f"invalid format option: {p.get('format')}")
    return 0
