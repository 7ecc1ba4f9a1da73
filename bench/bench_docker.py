#!/usr/bin/env python3
"""Time `docker run --rm IMG true` through dockerd with pyruntime and with runc.

It starts the same private containerd + dockerd the client tests use
(tests/clients/lab.py: own directories, own network namespace, own cgroup
parent; all removed at the end), imports a busybox image built here, and runs
`docker run --rm --runtime R IMG true` in pairs, alternating the runtimes
after a few warm-up pairs, so drift of the host hits both alike. Reports
min/median/max per runtime and the pyruntime/runc ratio of the medians.

Usage, as root, from the repository root (after scripts/setup.sh):

    .venv/bin/python bench/bench_docker.py [--runs 20] [--warmup 3] [--json] [--shim-server]

--shim-server: after the warm-up, start pyruntime's warm server for the
--root containerd's shim passes (PYRUNTIME_WARM_IDLE=0, from this process,
which is no subreaper: README "A warm server for a shim's --root"); the
shim's own commands never start one.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.clients import images  # noqa: E402
from tests.clients.lab import Lab  # noqa: E402
from tests.conftest import find_runtime  # noqa: E402

IMAGE = "localhost/pyrt-bench-busybox:latest"


def timed_run(lab: Lab, runtime: str) -> float:
    t0 = time.perf_counter()
    p = lab.docker("run", "--rm", "--runtime", runtime, "--network", "none", IMAGE, "true")
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"docker run with {runtime} failed: {p.stderr.strip()}")
    return dt


def summarize(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"min_ms": min(ms), "median_ms": statistics.median(ms), "max_ms": max(ms), "n": len(ms)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=20, help="measured pairs (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up pairs (default 3)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--shim-server", action="store_true", help="a warm server for the shim's --root (see above)")
    args = ap.parse_args(argv)

    lab = Lab(find_runtime())
    samples: dict[str, list[float]] = {"pyruntime": [], "runc": []}
    try:
        lab.start()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            tar = images.rootfs_tar(images.busybox_rootfs(work / "rootfs", work), work / "busybox.tar")
            p = lab.docker("import", "-c", 'CMD ["/bin/sh"]', str(tar), IMAGE)
            if p.returncode != 0:
                raise RuntimeError(f"docker import failed: {p.stderr}")
        for i in range(args.warmup + args.runs):
            if i == args.warmup and args.shim_server:
                print(f"warm server for the shim's --root: pid {lab.start_shim_server()}", file=sys.stderr)
            order = ("pyruntime", "runc") if i % 2 == 0 else ("runc", "pyruntime")
            for rt in order:
                dt = timed_run(lab, rt)
                if i >= args.warmup:
                    samples[rt].append(dt)
    finally:
        lab.close()

    results: dict[str, Any] = {rt: summarize(s) for rt, s in samples.items()}
    results["ratio_median"] = results["pyruntime"]["median_ms"] / results["runc"]["median_ms"]
    results["machine"] = f"{platform.node()} {platform.machine()} {platform.release()}, python {platform.python_version()}"
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"docker run --rm IMG true, {args.runs} pairs ({results['machine']})")
        print(f"{'runtime':<10} {'min ms':>8} {'median ms':>10} {'max ms':>8}")
        for rt in ("pyruntime", "runc"):
            r = results[rt]
            print(f"{rt:<10} {r['min_ms']:8.1f} {r['median_ms']:10.1f} {r['max_ms']:8.1f}")
        print(f"pyruntime/runc (medians): {results['ratio_median']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
