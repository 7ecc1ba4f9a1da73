#!/usr/bin/env python3
"""Time `pyruntime run` against `runc run`, and the create/start/wait/delete cycle.

Both runtimes get the same bundle (busybox-static rootfs, process `true`), each its
own private --root under /run, and a unique container id per run. Runs are paired
and alternate (pyruntime, runc, pyruntime, runc, ...) after a few warm-up pairs, so
slow drift of the host (page cache, cgroup RCU grace periods, CPU frequency) hits
both runtimes alike.

The cycle benchmark is what containerd's shim and conmon do: `create --pid-file`,
`start`, wait for the init to exit, `delete`. The init is re-parented to this
process when `create` exits, which is why it makes itself a child subreaper
(prctl(PR_SET_CHILD_SUBREAPER)) before it starts anything: only then can it
waitpid() the init and collect its exit status, as a shim does.

Usage, as root, from the repository root:

    python bench/bench_run.py [--runs 30] [--warmup 2] [--runtime PATH] [--runc PATH] [--json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import select
import shutil
import signal
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

from tests.support.bundle import base_config, write_bundle  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
WAIT_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
ROLES = ("pyruntime", "runc")
# Rows of the table, in order: (benchmark, phase).
ROWS = (
    ("run", "total"),
    ("cycle", "create"),
    ("cycle", "start"),
    ("cycle", "wait"),
    ("cycle", "delete"),
    ("cycle", "total"),
)


class BenchError(RuntimeError):
    pass


def default_runtime() -> str | None:
    beside = Path(sys.executable).parent / "pyruntime"
    if beside.exists():
        return str(beside)
    return shutil.which("pyruntime")


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


class Runtime:
    """One runtime binary bound to a private --root under /run."""

    def __init__(self, role: str, path: str, tag: str, env: dict[str, str] | None = None) -> None:
        self.role = role
        self.path = path
        self.root = Path("/run") / f"pyrt-bench-{tag}-{role}"
        self.env = env  # the environment of its commands (None: ours)

    def cmd(self, *args: str) -> list[str]:
        return [self.path, "--root", str(self.root), *args]

    def call(self, *args: str) -> float:
        """Run one command; return its wall time in ms. Raise BenchError on failure."""
        ms, code, err = run_timed(self.cmd(*args), self.env)
        if code != 0:
            raise BenchError(f"{' '.join(self.cmd(*args))} exited {code}: {err}")
        return ms

    def cleanup(self) -> None:
        """delete --force whatever is left under this root, then remove the root."""
        if not self.root.exists():
            return
        for entry in self.root.iterdir():
            if entry.is_dir():
                subprocess.run(self.cmd("delete", "--force", entry.name), stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_warm_server(rt: Runtime, idle_s: int = 3600) -> None:
    """Start pyruntime's warm server for rt's --root (pyruntime/launch/server.py) while
    we are not yet a subreaper: a server spawned under a subreaper sees it was
    not adopted by init and exits (pyruntime/launch/spawn.py), as it must for
    containerd's shim. Idle for up to idle_s between rows; it exits when the
    root is removed (cleanup). Without a server every command is local."""
    rt.root.mkdir(parents=True, exist_ok=True)
    env = dict(rt.env if rt.env is not None else os.environ, PYRUNTIME_WARM_IDLE=str(idle_s))
    subprocess.run(rt.cmd("state", "warm-up"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, env=env)
    time.sleep(0.3)  # listening


def clean_up(runtimes: list[Runtime], scratch: Path) -> None:
    """After a benchmark: each runtime's containers and root, strays, the scratch dir."""
    for rt in runtimes:
        rt.cleanup()
    reap_strays()
    shutil.rmtree(scratch, ignore_errors=True)


def run_timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run argv; (wall ms, exit code, stderr text).

    stderr goes to a file, not a pipe: without a terminal the runtime hands its
    stdio to the container, so after `create` the init holds the write end and a
    pipe would not see EOF until the container exits."""
    with tempfile.TemporaryFile() as errf:
        # A blocking wait: subprocess's wait(timeout=...) polls with sleeps
        # doubling from 0.5 ms, which rounds every timing up to 7.5, 15.5,
        # 31.5, 63.5 ms... SIGALRM bounds the wait instead.
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf, env=env)
        signal.alarm(int(COMMAND_TIMEOUT_S))
        try:
            p.wait()
        finally:
            signal.alarm(0)
        ms = (time.perf_counter_ns() - t0) / 1e6
        errf.seek(0)
        return ms, p.returncode, errf.read().decode(errors="replace").strip()


def wait_exit(pid: int, timeout: float = WAIT_TIMEOUT_S) -> int | None:
    """Wait until pid exits; return its exit code if it was our child (re-parented
    to us, the subreaper), None if someone else reaped it."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        fd = -1  # already gone and reaped elsewhere
    if fd >= 0:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(timeout * 1000):
                raise BenchError(f"container init {pid} did not exit within {timeout:.0f} s")
        finally:
            os.close(fd)
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status)


def reap_strays() -> None:
    """Collect zombies re-parented to us (we are a subreaper). Only called when no
    subprocess of ours is outstanding."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def bench_run(rt: Runtime, bundle: Path, cid: str) -> dict[str, float]:
    return {"total": rt.call("run", "--bundle", str(bundle), cid)}


def bench_cycle(rt: Runtime, bundle: Path, cid: str, scratch: Path) -> dict[str, float]:
    pid_file = scratch / f"{cid}.pid"
    t0 = time.perf_counter_ns()
    create = rt.call("create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid)
    pid = int(pid_file.read_text().strip())
    start = rt.call("start", cid)
    t1 = time.perf_counter_ns()
    code = wait_exit(pid)
    wait = (time.perf_counter_ns() - t1) / 1e6
    if code not in (0, None):
        raise BenchError(f"{rt.role}: container {cid} init exited {code}")
    delete = rt.call("delete", cid)
    total = (time.perf_counter_ns() - t0) / 1e6
    pid_file.unlink(missing_ok=True)
    return {"create": create, "start": start, "wait": wait, "delete": delete, "total": total}


def summarize(samples: list[float]) -> dict[str, Any]:
    return {
        "min": min(samples),
        "median": statistics.median(samples),
        "max": max(samples),
        "samples": [round(s, 3) for s in samples],
    }


def measure(runtimes: list[Runtime], bundle: Path, scratch: Path, runs: int, warmup: int,
            tag: str, progress: bool) -> dict[str, dict[str, dict[str, list[float]]]]:
    # samples[bench][phase][role] -> ms per run
    samples: dict[str, dict[str, dict[str, list[float]]]] = {}
    for bench in ("run", "cycle"):
        for i in range(warmup + runs):
            for rt in runtimes:  # alternate: pyruntime, runc, pyruntime, runc, ...
                cid = f"b{tag}-{bench}-{rt.role[:2]}-{i}-{uuid.uuid4().hex[:6]}"
                if bench == "run":
                    phases = bench_run(rt, bundle, cid)
                else:
                    phases = bench_cycle(rt, bundle, cid, scratch)
                reap_strays()
                if i < warmup:
                    continue
                for phase, ms in phases.items():
                    samples.setdefault(bench, {}).setdefault(phase, {}).setdefault(rt.role, []).append(ms)
            if progress:
                print(f"\r{bench}: {i + 1}/{warmup + runs}", end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
    return samples


def report(samples: dict[str, dict[str, dict[str, list[float]]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for bench, phase in ROWS:
        by_role = samples[bench][phase]
        row: dict[str, Any] = {role: summarize(by_role[role]) for role in ROLES}
        runc_median = row["runc"]["median"]
        row["ratio"] = row["pyruntime"]["median"] / runc_median if runc_median > 0 else None
        out[f"{bench}.{phase}"] = row
    return out


def print_table(results: dict[str, Any], meta: dict[str, Any]) -> None:
    print(f"pyruntime: {meta['runtime']}")
    print(f"runc:      {meta['runc']}")
    print(f"runs: {meta['runs']} per runtime (after {meta['warmup']} warm-up), paired and alternating; "
          f"bundle: busybox `true`")
    print()
    head = f"{'':16} {'pyruntime ms (min / median / max)':>34} {'runc ms (min / median / max)':>34} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    for key, row in results.items():
        cols = []
        for role in ROLES:
            s = row[role]
            cols.append(f"{s['min']:8.2f} / {s['median']:8.2f} / {s['max']:8.2f}")
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "n/a"
        print(f"{key:16} {cols[0]:>34} {cols[1]:>34} {ratio:>7}")
    print()
    print("ratio = pyruntime median / runc median (below 1: pyruntime is faster)")


def _on_alarm(_sig: int, _frame: object) -> None:
    raise BenchError(f"a command ran past {COMMAND_TIMEOUT_S:.0f} s")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGALRM, _on_alarm)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=30, help="measured runs per runtime (default 30)")
    ap.add_argument("--warmup", type=int, default=2, help="warm-up runs per runtime (default 2)")
    ap.add_argument("--runtime", default=None,
                    help="pyruntime binary (default: beside sys.executable, else on PATH)")
    ap.add_argument("--runc", default="/usr/sbin/runc", help="runc binary (default /usr/sbin/runc)")
    ap.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    args = ap.parse_args(argv)

    if args.runs < 1 or args.warmup < 0:
        ap.error("--runs must be >= 1 and --warmup >= 0")
    if os.geteuid() != 0:
        print("bench_run.py: needs root (namespaces, mounts, cgroups)", file=sys.stderr)
        return 2
    runtime = args.runtime or default_runtime()
    if not runtime:
        print("bench_run.py: no pyruntime found beside the interpreter or on PATH; "
              "install it (pip install .) or pass --runtime PATH", file=sys.stderr)
        return 2
    for label, path in (("--runtime", runtime), ("--runc", args.runc)):
        if not os.access(path, os.X_OK):
            print(f"bench_run.py: {label} {path} is not an executable", file=sys.stderr)
            return 2

    tag = uuid.uuid4().hex[:8]
    runtimes = [Runtime("pyruntime", runtime, tag), Runtime("runc", args.runc, tag)]
    start_warm_server(runtimes[0])
    become_subreaper()
    scratch = Path(tempfile.mkdtemp(prefix=f"pyrt-bench-{tag}-"))
    try:
        bundle = write_bundle(scratch / "bundle", base_config(["true"]))
        samples = measure(runtimes, bundle, scratch, args.runs, args.warmup, tag,
                          progress=not args.json and sys.stderr.isatty())
    except (BenchError, subprocess.TimeoutExpired, OSError) as err:
        print(f"bench_run.py: {err}", file=sys.stderr)
        return 1
    finally:
        clean_up(runtimes, scratch)

    meta = {
        "runtime": runtime,
        "runc": args.runc,
        "runs": args.runs,
        "warmup": args.warmup,
        "host": {"kernel": platform.release(), "python": platform.python_version(),
                 "cpus": os.cpu_count()},
    }
    results = report(samples)
    if args.json:
        json.dump({**meta, "results": results}, sys.stdout, indent=2)
        print()
    else:
        print_table(results, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
