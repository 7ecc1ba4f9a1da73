"""`update [--resources FILE|-] [flags] ID` (runc update.go). With
--resources (containerd sends `--resources=-`, Podman a file) the
LinuxResources JSON is the whole request and the other resource flags are
ignored, as in runc; without it the flags build the request."""

from __future__ import annotations

import sys

from pyruntime.cli.common import parse_with_id
from pyruntime.cli.flags import Flag
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pyruntime.cli import Globals

FLAGS = [
    Flag("resources", "str", aliases=("r",), default="",
         help="path to the file containing the resources to update or '-' to read from the standard input"),
    Flag("blkio-weight", "int", default=0, help="Specifies per cgroup weight, range is from 10 to 1000"),
    Flag("cpu-period", "str", default="", help="CPU CFS period to be used for hardcapping (in usecs)"),
    Flag("cpu-quota", "str", default="", help="CPU CFS hardcap limit (in usecs)"),
    Flag("cpu-share", "str", default="", help="CPU shares (relative weight vs. other containers)"),
    Flag("cpu-rt-period", "str", default="", help="CPU realtime period (in usecs)"),
    Flag("cpu-rt-runtime", "str", default="", help="CPU realtime hardcap limit (in usecs)"),
    Flag("cpuset-cpus", "str", default="", help="CPU(s) to use"),
    Flag("cpuset-mems", "str", default="", help="Memory node(s) to use"),
    Flag("kernel-memory", "str", default="", help="(obsoleted; do not use)"),
    Flag("kernel-memory-tcp", "str", default="", help="(obsoleted; do not use)"),
    Flag("memory", "str", default="", help="Memory limit (in bytes)"),
    Flag("memory-reservation", "str", default="", help="Memory reservation or soft_limit (in bytes)"),
    Flag("memory-swap", "str", default="",
         help="Total memory usage (memory + swap); set '-1' to enable unlimited swap"),
    Flag("pids-limit", "int", default=0, help="Maximum number of pids allowed in the container"),
    Flag("l3-cache-schema", "str", default="", help="The string of Intel RDT/CAT L3 cache schema"),
    Flag("mem-bw-schema", "str", default="", help="The string of Intel RDT/MBA memory bandwidth schema"),
    Flag("cpu-burst", "str", default="", help="CPU CFS hardcap burst limit (in usecs)"),
    Flag("cpu-idle", "str", default="", help="set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE"),
]

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(s: str) -> int:
    """docker/go-units RAMInBytes: "64m", "1.5g", "1024", "2GiB" (binary units)."""
    import re

    m = re.fullmatch(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?", s)
    if not m:
        raise ValueError(f"invalid size: '{s}'")
    try:
        size = float(m.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{s}'") from None
    if m.group(2):
        size *= _UNITS[m.group(2).lower()]
    return int(size)


def _go_uint(opt: str, val: str) -> int:
    if val.isdigit():
        return int(val)
    raise PyruntimeError(f'invalid value for {opt}: strconv.ParseUint: parsing "{val}": invalid syntax')


def _go_int(opt: str, val: str) -> int:
    digits = val[1:] if val[:1] in "+-" else val
    if digits.isdigit():
        return int(val)
    raise PyruntimeError(f'invalid value for {opt}: strconv.ParseInt: parsing "{val}": invalid syntax')


def from_flags(p: Any) -> dict[str, Any]:
    """The LinuxResources object runc builds from the flags."""
    mem: dict[str, Any] = {}
    cpu: dict[str, Any] = {}
    if p.get("cpuset-cpus"):
        cpu["cpus"] = p.get("cpuset-cpus")
    if p.get("cpuset-mems"):
        cpu["mems"] = p.get("cpuset-mems")
    for opt, key in (("cpu-period", "period"), ("cpu-rt-period", "realtimePeriod"),
                     ("cpu-share", "shares"), ("cpu-burst", "burst")):
        if p.get(opt):
            cpu[key] = _go_uint(opt, p.get(opt))
    for opt, key in (("cpu-quota", "quota"), ("cpu-rt-runtime", "realtimeRuntime"),
                     ("cpu-idle", "idle")):
        if p.get(opt):
            cpu[key] = _go_int(opt, p.get(opt))
    for opt, key in (("memory", "limit"), ("memory-swap", "swap"), ("kernel-memory", "kernel"),
                     ("kernel-memory-tcp", "kernelTCP"), ("memory-reservation", "reservation")):
        val = p.get(opt)
        if val:
            if val == "-1":
                mem[key] = -1
                continue
            try:
                mem[key] = ram_in_bytes(val)
            except ValueError as e:
                raise PyruntimeError(f"invalid value for {opt}: {e}") from None
    out: dict[str, Any] = {"memory": mem, "cpu": cpu, "pids": {"limit": int(p.get("pids-limit") or 0)}}
    if p.get("blkio-weight"):
        w = int(p.get("blkio-weight"))
        if not 0 <= w <= 0xFFFF:
            raise PyruntimeError(f'invalid value "{w}" for flag -blkio-weight: value out of range')
        out["blockIO"] = {"weight": w}
    return out


def read_resources(src: str) -> dict[str, Any]:
    import json  # not jsonfast: update is not hot, and json's errors say where

    try:
        if src == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(src, "rb") as f:
                raw = f.read()
    except OSError as e:
        raise PyruntimeError(f"open {src}: {(e.strerror or str(e)).lower()}") from None
    try:
        res = json.loads(raw)
    except ValueError as e:
        raise PyruntimeError(f"decoding resources from {src}: {e}") from None
    if res is None:
        return {}
    if not isinstance(res, dict):
        raise PyruntimeError(f"decoding resources from {src}: not a JSON object")
    return res


def main(g: Globals, argv: list[str]) -> int:
    from pyruntime.lifecycle.update import update
    from pyruntime.state.store import Container

    p, cid = parse_with_id(argv, FLAGS, "update <container-id>")
    c = Container.load(g.root, cid, lock=True)
    res = read_resources(p.get("resources")) if p.get("resources") else from_flags(p)
    if p.get("l3-cache-schema"):
        raise PyruntimeError("Intel RDT/CAT: l3 cache schema is not enabled")
    if p.get("mem-bw-schema"):
        raise PyruntimeError("Intel RDT/MBA: memory bandwidth schema is not enabled")
    update(c, res)
    return 0
