from __future__ import annotations

import json
import os

from pyruntime.cli.flags import Flag, parse
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [Flag("bundle", "str", aliases=("b",), default="", help="path to the root of the bundle directory"),
         Flag("rootless", help="generate a configuration for a rootless container")]


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.spec.default import default_spec

    p = parse(argv, FLAGS)
    spec = default_spec()
    if p.get("rootless"):
        from pyruntime.rootless import to_rootless

        spec = to_rootless(spec)
    path = os.path.join(p.get("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise PyruntimeError(f"File {path} exists. Remove it first")
    try:
        with open(path, "x") as f:
            f.write(json.dumps(spec, indent="\t"))
    except OSError as e:
        raise PyruntimeError(f"open {path}: {os.strerror(e.errno or 0)}", path=path) from None
    return 0
