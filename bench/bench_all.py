#!/usr/bin/env python3
"""The whole benchmark of issue 9: pyruntime against runc (and crun where it
runs) in one run, on the same busybox bundle, paired and alternating.

Measures (medians, min/max kept so noise is visible):
  run.cold        `run` of `true` right after dropping the page cache
  run.warm        `run` back-to-back
  cycle           create + start + wait + delete, this script as the subreaper (create is local)
  state / kill / delete   each alone, on a running `sleep` container
  exec            `exec ID true` into a running container
  docker          `docker run --rm IMG true` through a private dockerd (tests/clients/lab.py)
  docker.shim     the same with a warm server for the shim's --root (README; the shim's
                  own commands never start one: it is a subreaper)
  rss.<command>   peak RSS of the runtime process itself (wait4 ru_maxrss)
  memlimit        the smallest linux.resources.memory.limit (MiB) under which `run true` still succeeds

pyruntime is measured twice: as installed ("pyruntime": state, start, kill,
delete and foreground run and exec are handed to its warm server, pyruntime/launch/server.py,
started before this script becomes a subreaper so that init adopts it),
and with PYRUNTIME_WARM=0 ("pyruntime-nowarm": every command starts its own
interpreter). For served commands the rss rows are the client's (_warm); the
server's own RSS, shared by its forked workers, is given in a note.

Writes the table on stdout, JSON with every sample (--json FILE), a PNG chart
(--png FILE, needs matplotlib: pip install '.[bench]') and docs/PERFORMANCE.md
(--write-docs). As root, from the repository root:

    .venv/bin/python bench/bench_all.py [--runs 30] [--docker-runs 30] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.bench_run import (  # noqa: E402
    BenchError,
    Runtime,
    _on_alarm,
    become_subreaper,
    bench_cycle,
    clean_up,
    default_runtime,
    reap_strays,
    run_timed,
    start_warm_server,
    wait_exit,
)
from tests.support.bundle import base_config, write_bundle  # noqa: E402

Samples = dict[str, dict[str, list[float]]]  # row -> role -> values


def bench_config(args: list[str]) -> dict[str, Any]:
    """`runc spec` with args; ociVersion 1.0.2-dev as runc 1.1.5 writes it
    (crun 1.8 refuses 1.2.x as "unknown version")."""
    cfg = base_config(args)
    cfg["ociVersion"] = "1.0.2-dev"
    return cfg


PEAKRSS: list[str] = []  # [path of the compiled bench/peakrss.c, its output file]


def timed(argv: list[str], rss: bool = False, env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Run argv; (wall ms, exit code, peak RSS in MiB or nan). With rss, the
    command runs under bench/peakrss (one more fork+exec, so its times are
    not used as timings)."""
    if rss:
        argv = [PEAKRSS[0], PEAKRSS[1], *argv]
    ms, code, err = run_timed(argv, env)
    peak = float("nan")
    if rss and code == 0:
        kib, code = (int(x) for x in Path(PEAKRSS[1]).read_text().split())
        peak = kib / 1024
    if code != 0:
        raise BenchError(f"{' '.join(argv)} exited {code}: {err}")
    return ms, code, peak


def build_peakrss(scratch: Path) -> None:
    exe = scratch / "peakrss"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(REPO_ROOT / "bench" / "peakrss.c")], check=True)
    PEAKRSS[:] = [str(exe), str(scratch / "peakrss.out")]


def drop_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def cid_for(tag: str, what: str, rt: Runtime, i: int) -> str:
    return f"b{tag}-{what}-{rt.role[:2]}-{i}-{uuid.uuid4().hex[:4]}"


def add(samples: Samples, row: str, role: str, value: float) -> None:
    samples.setdefault(row, {}).setdefault(role, []).append(value)


def bench_runtime_commands(runtimes: list[Runtime], bundles: dict[str, Path], scratch: Path, runs: int,
                           warmup: int, cold_runs: int, tag: str, samples: Samples) -> None:
    def each(n: int, body: Callable[[Runtime, int, bool], None]) -> None:
        for i in range(warmup + n):
            order = runtimes if i % 2 == 0 else list(reversed(runtimes))
            for rt in order:
                body(rt, i, i >= warmup)
                reap_strays()

    def run_warm(rt: Runtime, i: int, keep: bool) -> None:
        ms, _, _ = timed(rt.cmd("run", "--bundle", str(bundles["true"]), cid_for(tag, "run", rt, i)), env=rt.env)
        if keep:
            add(samples, "run.warm", rt.role, ms)

    def run_cold(rt: Runtime, i: int, keep: bool) -> None:
        drop_caches()
        ms, _, _ = timed(rt.cmd("run", "--bundle", str(bundles["true"]), cid_for(tag, "cold", rt, i)), env=rt.env)
        if keep:
            add(samples, "run.cold", rt.role, ms)

    def cycle(rt: Runtime, i: int, keep: bool) -> None:
        phases = bench_cycle(rt, bundles["true"], cid_for(tag, "cyc", rt, i), scratch)
        if keep:
            add(samples, "cycle", rt.role, phases["total"])

    def singles(rt: Runtime, i: int, keep: bool, rss: bool = False) -> None:
        cid = cid_for(tag, "one", rt, i)
        pid_file = scratch / f"{cid}.pid"
        times: dict[str, float] = {}
        peaks: dict[str, float] = {}
        for what, argv in (("create", ["create", "--bundle", str(bundles["sleep"]), "--pid-file", str(pid_file), cid]),
                           ("start", ["start", cid]), ("state", ["state", cid]), ("exec", ["exec", cid, "true"]),
                           ("kill", ["kill", cid, "KILL"]), ("delete", ["delete", cid])):
            if what == "delete":
                wait_exit(int(pid_file.read_text()))
            times[what], _, peaks[what] = timed(rt.cmd(*argv), rss=rss, env=rt.env)
        pid_file.unlink(missing_ok=True)
        if keep and rss:
            for row, peak in peaks.items():
                add(samples, f"rss.{row}", rt.role, peak)
        elif keep:
            for row in ("state", "exec", "kill", "delete"):
                add(samples, row, rt.role, times[row])

    def run_rss(rt: Runtime, i: int, keep: bool) -> None:
        _, _, peak = timed(rt.cmd("run", "--bundle", str(bundles["true"]), cid_for(tag, "rrs", rt, i)), rss=True,
                           env=rt.env)
        singles(rt, i, keep, rss=True)
        if keep:
            add(samples, "rss.run", rt.role, peak)

    each(cold_runs, run_cold)
    each(runs, run_warm)
    each(runs, cycle)
    each(runs, singles)
    each(3, run_rss)


def smallest_memory_limit(rt: Runtime, scratch: Path, tag: str) -> float:
    """Binary search, in 0.25 MiB steps from 0.5 to 64 MiB, for the smallest
    linux.resources.memory.limit (swap limited alike) under which `run true`
    exits 0. Whatever the runtime runs in the container's cgroup before the
    exec (runc's `runc init`, pyruntime's forked init) is charged to it."""
    lo, hi = 2, 256  # in quarter MiB
    n = 0

    def works(q: int) -> bool:
        nonlocal n
        n += 1
        limit = q * 256 * 1024
        cfg = bench_config(["true"])
        cfg["linux"]["resources"]["memory"] = {"limit": limit, "swap": limit}
        bundle = write_bundle(scratch / f"mem-{rt.role}-{n}", cfg, rootfs_src=scratch / "bundle-true" / "rootfs")
        try:
            timed(rt.cmd("run", "--bundle", str(bundle), cid_for(tag, "mem", rt, n)), env=rt.env)
            return True
        except BenchError:
            return False
        finally:
            reap_strays()
            shutil.rmtree(bundle, ignore_errors=True)

    if not works(hi):
        return float("nan")
    while lo < hi:
        mid = (lo + hi) // 2
        if works(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi / 4


def bench_docker(runs: int, warmup: int, runtime: str, samples: Samples) -> str | None:
    """docker run --rm, paired: as installed ("docker"), then with a warm
    server for the shim's --root started as README says ("docker.shim")."""
    from bench.bench_docker import IMAGE, timed_run
    from tests.clients import images
    from tests.clients.lab import Lab, missing_tools

    missing = missing_tools()
    if missing:
        return "docker skipped: " + ", ".join(missing)
    lab = Lab(runtime)
    try:
        lab.start()
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            tar = images.rootfs_tar(images.busybox_rootfs(work / "rootfs", work), work / "busybox.tar")
            if lab.docker("import", "-c", 'CMD ["/bin/sh"]', str(tar), IMAGE).returncode != 0:
                return "docker skipped: import failed"
        for row in ("docker", "docker.shim"):
            if row == "docker.shim":
                lab.start_shim_server()
            for i in range(warmup + runs):
                order = ("pyruntime", "runc") if i % 2 == 0 else ("runc", "pyruntime")
                for role in order:
                    ms = timed_run(lab, role) * 1000
                    if i >= warmup:
                        add(samples, row, role, ms)
    finally:
        lab.close()
    return None


def crun_note(path: str | None, scratch: Path, tag: str) -> tuple[Runtime | None, str]:
    if path is None or not os.access(path, os.X_OK):
        return None, "crun: not installed"
    rt = Runtime("crun", path, tag)
    try:
        timed(rt.cmd("run", "--bundle", str(scratch / "bundle-true"), f"b{tag}-crun-probe"))
        return rt, "crun: measured"
    except BenchError as err:
        rt.cleanup()
        return None, f"crun: cannot run here ({str(err).splitlines()[-1][:160]})"


def summarize(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


ROW_TEXT = {
    "run.cold": "run (cold cache)", "run.warm": "run (back-to-back)", "cycle": "create+start+wait+delete",
    "state": "state", "kill": "kill", "delete": "delete", "exec": "exec", "docker": "docker run --rm",
    "docker.shim": "docker run --rm, a server for the shim's --root",
}


# Peak RSS of a served command is the C client's, not the worker's (which
# shares the server's pages): no pyruntime/runc ratio for these rows.
SERVED_RSS = {"rss.start", "rss.state", "rss.kill", "rss.delete", "rss.run", "rss.exec"}


def row_name(row: str) -> str:
    if row.startswith("rss."):
        return "peak RSS of " + row[4:]
    if row == "memlimit":
        return "smallest memory limit"
    return ROW_TEXT.get(row, row)


def table(results: dict[str, Any], roles: list[str]) -> list[str]:
    head = ("| measurement | " + " | ".join(f"{r} median (min–max)" for r in roles)
            + " | pyruntime/runc | nowarm/runc |")
    lines = [head, "|" + "---|" * (len(roles) + 3)]
    for row, by_role in results["rows"].items():
        unit = "MiB" if row.startswith(("rss.", "memlimit")) else "ms"
        name = row_name(row)
        cells = []
        for r in roles:
            s = by_role.get(r)
            cells.append("–" if s is None else f"{s['median']:.1f} {unit} ({s['min']:.1f}–{s['max']:.1f})")
        ratios = [by_role.get(k) for k in ("ratio", "ratio_nowarm")]
        lines.append(f"| {name} | " + " | ".join(cells) + " | "
                     + " | ".join("–" if r is None else f"{r:.2f}×" for r in ratios) + " |")
    return lines


def warm_server_note(rt: Runtime) -> str:
    """The RSS of the warm server(s) rt's commands used (pyruntime/launch/server.py)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if b"from pyruntime.launch.server import serve" in b" ".join(argv) and str(rt.root).encode() in argv:
                rss = [ln for ln in Path(f"/proc/{entry}/status").read_text().splitlines() if ln.startswith("VmRSS")]
                found.append(int(rss[0].split()[1]) / 1024)
        except (OSError, IndexError, ValueError):
            continue
    if not found:
        return "warm server: none found after the runs (PYRUNTIME_WARM=0 in the environment?)"
    return (f"warm server: {len(found)} for this --root, RSS {', '.join(f'{r:.1f}' for r in found)} MiB "
            "(its workers share it copy-on-write; it exits after 10 s without a request)")


def chart(results: dict[str, Any], png: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed (pip install '.[bench]')"
    rows = [r for r in results["rows"] if "ratio" in results["rows"][r]]
    ratios = [results["rows"][r]["ratio"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    ax.barh([row_name(r) for r in rows], ratios,
            color=["#2a9d8f" if x <= 1 else "#e76f51" for x in ratios])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("pyruntime / runc (median; below 1 = pyruntime faster or smaller)")
    ax.invert_yaxis()
    for y, x in enumerate(ratios):
        ax.text(x, y, f" {x:.2f}×", va="center")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    return f"chart: {png}"


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGALRM, _on_alarm)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--docker-runs", type=int, default=30, help="paired docker runs (0: skip docker)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runtime", default=None)
    ap.add_argument("--runc", default="/usr/sbin/runc")
    ap.add_argument("--crun", default=shutil.which("crun"))
    ap.add_argument("--json", type=Path, default=None, help="write every sample as JSON here")
    ap.add_argument("--png", type=Path, default=REPO_ROOT / "docs" / "performance.png")
    ap.add_argument("--write-docs", action="store_true", help="rewrite docs/PERFORMANCE.md")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_all.py: needs root", file=sys.stderr)
        return 2
    runtime = args.runtime or default_runtime()
    if not runtime:
        print("bench_all.py: no pyruntime found; pip install . or --runtime PATH", file=sys.stderr)
        return 2

    tag = uuid.uuid4().hex[:6]
    scratch = Path(tempfile.mkdtemp(prefix=f"pyrt-bench-{tag}-"))
    runtimes = [Runtime("pyruntime", runtime, tag), Runtime("runc", args.runc, tag),
                Runtime("pyruntime-nowarm", runtime, tag, env=dict(os.environ, PYRUNTIME_WARM="0"))]
    start_warm_server(runtimes[0])
    become_subreaper()
    samples: Samples = {}
    notes: list[str] = []
    memlimit: dict[str, float] = {}
    started = time.time()
    try:
        bundles = {"true": write_bundle(scratch / "bundle-true", bench_config(["true"])),
                   "sleep": write_bundle(scratch / "bundle-sleep", bench_config(["sleep", "60"]),
                                         rootfs_src=scratch / "bundle-true" / "rootfs")}
        build_peakrss(scratch)
        crun, note = crun_note(args.crun, scratch, tag)
        notes.append(note)
        if crun is not None:
            runtimes.append(crun)
        bench_runtime_commands(runtimes, bundles, scratch, args.runs, args.warmup, args.cold_runs, tag, samples)
        notes.append(warm_server_note(runtimes[0]))
        for rt in runtimes:
            memlimit[rt.role] = smallest_memory_limit(rt, scratch, tag)
        if args.docker_runs > 0:
            skipped = bench_docker(args.docker_runs, args.warmup, runtime, samples)
            if skipped:
                notes.append(skipped)
    except (BenchError, OSError, subprocess.TimeoutExpired) as err:
        print(f"bench_all.py: {err}", file=sys.stderr)
        return 1
    finally:
        clean_up(runtimes, scratch)

    roles = [rt.role for rt in runtimes]
    rows: dict[str, Any] = {}
    for row, by_role in samples.items():
        rows[row] = {role: summarize(v) for role, v in by_role.items()}
        if "pyruntime" in by_role and "runc" in by_role and row not in SERVED_RSS:
            rows[row]["ratio"] = rows[row]["pyruntime"]["median"] / rows[row]["runc"]["median"]
        if "pyruntime-nowarm" in by_role and "runc" in by_role:
            rows[row]["ratio_nowarm"] = rows[row]["pyruntime-nowarm"]["median"] / rows[row]["runc"]["median"]
    rows["memlimit"] = {role: {"min": v, "median": v, "max": v, "n": 1} for role, v in memlimit.items()}
    if memlimit.get("runc"):
        rows["memlimit"]["ratio"] = memlimit["pyruntime"] / memlimit["runc"]
        if "pyruntime-nowarm" in memlimit:
            rows["memlimit"]["ratio_nowarm"] = memlimit["pyruntime-nowarm"] / memlimit["runc"]
    machine = (f"{platform.node()}: {os.cpu_count()} CPUs, Linux {platform.release()} {platform.machine()}, "
               f"Python {platform.python_version()}, runc {subprocess.run([args.runc, '--version'], capture_output=True, text=True).stdout.split()[2]}")
    results = {"machine": machine, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
               "runs": args.runs, "docker_runs": args.docker_runs, "notes": notes, "rows": rows,
               "samples": samples}
    lines = table(results, roles)
    print(f"{machine}; {results['date']}; {args.runs} runs per runtime, paired and alternating")
    print("\n".join(lines))
    for n in notes:
        print(n)
    print(chart(results, args.png))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write_docs:
        write_docs(results, lines, args)
    return 0


def write_docs(results: dict[str, Any], lines: list[str], args: argparse.Namespace) -> None:
    doc = REPO_ROOT / "docs" / "PERFORMANCE.md"
    body = [
        "# Performance: pyruntime against runc",
        "",
        "Generated by `sudo .venv/bin/python bench/bench_all.py --write-docs` (see its docstring for what",
        "each row measures). Every row is measured in the same run for every runtime, paired and",
        "alternating, on the same busybox-static bundle; medians with min–max so noise is visible.",
        "",
        f"- Machine: {results['machine']}",
        f"- Date: {results['date']}; {results['runs']} runs per runtime per row, "
        f"{results['docker_runs']} pairs for docker",
        *[f"- {n}" for n in results["notes"]],
        "",
        *lines,
        "",
        f"![pyruntime/runc ratios]({args.png.name})" if args.png.exists() else "(no chart: matplotlib missing)",
        "",
        "Targets of issue 9 (ratios of medians against runc): run ≤ 0.7×, create+start+wait+delete ≤ 0.9×,",
        "state ≤ 3×, docker run ≤ 1.0×, peak RSS of create ≤ runc's, smallest memory limit ≤ runc's.",
        "",
        "`pyruntime` is pyruntime as installed: `state`, `start`, `kill`, `delete` and a foreground `run`",
        "or `exec` are handed by the launcher's C client to a warm server that has the CLI imported and",
        "forks a worker per command (pyruntime/launch/, docs/ARCHITECTURE.md). The server lives outside",
        "every caller's process tree (init adopted it: it is started before this script becomes a",
        "subreaper), so `create`, whose init must be left to the caller's subreaper, is never served, nor",
        "are `run -d` and `exec -d` (the cycle row pays create's interpreter start).",
        "`pyruntime-nowarm` is the same install with PYRUNTIME_WARM=0: every command starts Python",
        "(~7 ms before any of our code runs). The peak-RSS rows run each command under bench/peakrss,",
        "its parent: `create` is the interpreter's own there too. For served commands the",
        "peak-RSS rows measure the client (`_warm`), not the worker, so they get no pyruntime/runc ratio:",
        "the warm-server note above gives the server's RSS, which its workers share.",
        "",
    ]
    doc.write_text("\n".join(body))


if __name__ == "__main__":
    sys.exit(main())
