#!/usr/bin/env python3
"""start → user execve: how long after `start` returns the container's own
program is running (issue 16, item 1). A signal sent in that window reaches
the runtime's code as the container's PID 1, and is dropped.

For each seccomp case — Docker's current profile, the same without
close_range (as profiles older than Linux 5.9 are), and a profile never seen
before (a seccomp-cache miss for pyruntime) — with and without
noNewPrivileges, paired and alternating: `create`, then `start`, then the
container's program (bench/execstamp.c, static) prints CLOCK_MONOTONIC as
its first act. The row is that stamp minus the time `start` returned, in ms
(negative: the program was running before `start` returned). Medians and
min/max per runtime, the difference pyruntime − runc (target: within 1 ms).

    .venv/bin/python bench/bench_exec_gap.py [--runs 20] [--json FILE]

As root, from the repository root. crun is not measured here: it refuses
this hybrid cgroup host outside a private mount namespace (issue 18's
bench_all.py view).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_run import (  # noqa: E402
    BenchError,
    Runtime,
    become_subreaper,
    clean_up,
    default_runtime,
    start_warm_server,
    wait_exit,
)
from tests.support.bundle import base_config, make_busybox_rootfs, write_bundle  # noqa: E402

DOCKER_PROFILE = REPO_ROOT / "tests" / "integration" / "data" / "seccomp" / "docker-default.json"
CASES = ["docker", "no-close_range", "unseen"]


def profile(kind: str, caps: list[str]) -> dict[str, Any]:
    from tests.integration.test_signal_delivery import _profile

    return _profile(kind, caps)


def make_bundle(scratch: Path, rootfs: Path, kind: str, nnp: bool, stamp: Path) -> Path:
    cfg = base_config(["/execstamp"])
    cfg["process"]["noNewPrivileges"] = nnp
    cfg["linux"]["seccomp"] = profile(kind, cfg["process"]["capabilities"]["bounding"])
    bundle = write_bundle(scratch / f"{kind}-{int(nnp)}-{uuid.uuid4().hex[:6]}", cfg, rootfs_src=rootfs)
    shutil.copy2(stamp, bundle / "rootfs" / "execstamp")
    return bundle


def one_gap(rt: Runtime, bundle: Path, scratch: Path) -> float:
    """create, start; ms from start's return to the program's first act."""
    cid = f"gap-{rt.role[:2]}-{uuid.uuid4().hex[:8]}"
    out = scratch / f"{cid}.out"
    pid_file = scratch / f"{cid}.pid"
    with open(out, "wb") as f:
        p = subprocess.run(rt.cmd("create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid),
                           stdin=subprocess.DEVNULL, stdout=f, stderr=f, env=rt.env, timeout=60)
    if p.returncode != 0:
        raise BenchError(f"{rt.role} create: {out.read_text(errors='replace')}")
    pid = int(pid_file.read_text())
    p = subprocess.run(rt.cmd("start", cid), stdin=subprocess.DEVNULL, capture_output=True, env=rt.env, timeout=60)
    returned = time.monotonic_ns()
    if p.returncode != 0:
        raise BenchError(f"{rt.role} start: {p.stderr.decode(errors='replace')}")
    wait_exit(pid)
    rt.call("delete", cid)
    return (int(out.read_text().split()[0]) - returned) / 1e6


def summarize(v: list[float]) -> dict[str, float]:
    return {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--runtime", default=default_runtime())
    ap.add_argument("--runc", default=shutil.which("runc") or "/usr/sbin/runc")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_exec_gap.py: run as root", file=sys.stderr)
        return 2
    tag = uuid.uuid4().hex[:6]
    scratch = Path(tempfile.mkdtemp(prefix="pyrt-gap-"))
    runtimes = [Runtime("pyruntime", args.runtime, tag), Runtime("runc", args.runc, tag)]
    try:
        start_warm_server(runtimes[0])  # adopted by init: not while we are a subreaper
        become_subreaper()  # the inits come to us when create exits, as to a shim
        stamp = scratch / "execstamp"
        subprocess.run(["gcc", "-static", "-O1", "-o", str(stamp), str(REPO_ROOT / "bench" / "execstamp.c")],
                       check=True)
        rootfs = make_busybox_rootfs(scratch / "rootfs")
        rows: dict[str, dict[str, Any]] = {}
        for kind in CASES:
            for nnp in (False, True):
                row = f"{kind}{', noNewPrivileges' if nnp else ''}"
                samples: dict[str, list[float]] = {rt.role: [] for rt in runtimes}
                for i in range(args.runs):
                    for rt in (runtimes if i % 2 == 0 else runtimes[::-1]):
                        # "unseen": a new profile for every create, so each is a cache miss
                        bundle = make_bundle(scratch, rootfs, kind, nnp, stamp)
                        samples[rt.role].append(one_gap(rt, bundle, scratch))
                        shutil.rmtree(bundle)
                rows[row] = {role: summarize(v) for role, v in samples.items()}
                rows[row]["diff_ms"] = rows[row]["pyruntime"]["median"] - rows[row]["runc"]["median"]
        print(f"start returned -> user execve, ms (median [min..max] of {args.runs}; negative: before start returned)")
        print(f"{'profile':<34} {'pyruntime':>24} {'runc':>24} {'pyruntime-runc':>15}")
        for row, r in rows.items():
            cells = [f"{r[k]['median']:7.2f} [{r[k]['min']:.2f}..{r[k]['max']:.2f}]" for k in ("pyruntime", "runc")]
            print(f"{row:<34} {cells[0]:>24} {cells[1]:>24} {r['diff_ms']:>+14.2f}")
        if args.json:
            args.json.write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=1))
        return 0
    finally:
        clean_up(runtimes, scratch)


if __name__ == "__main__":
    sys.exit(main())
