"""`ps [--format table|json] ID [ps args...]` (runc ps.go): json is the array
of host pids in the container's cgroup (containerd's shim parses it); table
runs the host's `ps` with the args (default -ef) and keeps its header and the
lines of the container's pids. Flags go before the id: what follows it is
for `ps`."""

from __future__ import annotations

import sys

from pyruntime.cli.flags import Flag, parse
from pyruntime.errors import PyruntimeError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyruntime.cli import Globals

FLAGS = [Flag("format", "str", aliases=("f",), default="table", help="select one of: table or json")]


def pid_index(header: str) -> int:
    for i, name in enumerate(header.split()):
        if name == "PID":
            return i
    raise PyruntimeError("couldn't find PID field in ps output")


def filter_table(output: str, pids: list[int]) -> list[str]:
    """The header of `ps` output and its lines whose PID column is one of pids."""
    lines = output.split("\n")
    idx = pid_index(lines[0])
    want = set(pids)
    out = [lines[0]]
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        try:
            pid = int(fields[idx])
        except (ValueError, IndexError):
            raise PyruntimeError(f"unable to parse pid: {line!r}") from None
        if pid in want:
            out.append(line)
    return out


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.pause import processes
    from pyruntime.state.store import Container

    p = parse(argv, FLAGS, stop_at_positional=True)
    if not p.args:
        raise UsageError('"ps <container-id> [ps options]" requires a container id')
    cid, ps_args = p.args[0], p.args[1:]
    pids = processes(Container.load(g.root, cid))
    fmt = p.get("format")
    if fmt == "json":
        # runc encodes a Go slice: `null` when there is none
        sys.stdout.write(("[" + ",".join(str(x) for x in pids) + "]" if pids else "null") + "\n")
        return 0
    if fmt != "table":
        raise PyruntimeError("invalid format option")
    import subprocess

    try:
        r = subprocess.run(["ps", *(ps_args or ["-ef"])], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        raise PyruntimeError(f"exec: \"ps\": {e.strerror}") from None
    output = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise PyruntimeError(f"exit status {r.returncode}: {output}")
    sys.stdout.write("".join(line + "\n" for line in filter_table(output, pids)))
    return 0
