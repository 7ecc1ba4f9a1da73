"""Soak: sequential `run --keep` + `delete` cycles of a busybox `true`
container, sampling what a leak would grow on the host.

    python -m tests.support.soak --cycles 1000 [--runtime PATH] [--every 50] [--json]

(scripts/soak.sh runs the full count; tests/integration/test_reliability_soak.py
a small one.) Other work on the host (other engineers' tests) moves the
host-wide numbers, so what is checked is what only these cycles can grow:

- entries under the soak's own --root, cgroup directories named after its
  ids, mounts that mention its bundle or root, processes in its cgroups or
  its bundle, zombies among the soak's own children, the soak's own fds;
- memory charged to the soak's memory cgroup. Every runtime command runs in
  a v1 memory cgroup made for the soak, so the containers' cgroups (relative
  to the caller's) are its children and whatever the kernel keeps after a
  cycle (slab: dentries, inodes, cgroup structures of removed cgroups that
  are still dying; tmpfs pages of state files) stays charged there,
  hierarchically, while other processes' memory is not. Growth is the
  slope of a least-squares line through the samples after a warm-up,
  times the number of cycles.

Host-wide numbers (allocated file handles, mount count, MemAvailable) are
reported, not judged.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support.bundle import base_config, make_busybox_rootfs, write_bundle

CGROUP = Path("/sys/fs/cgroup")
MEMCG_V1 = CGROUP / "memory"

# Growth allowed over a whole soak, per cycle (memory charged to the soak's cgroup).
MEM_GROWTH_PER_CYCLE = 8 * 1024


@dataclass
class Sample:
    cycle: int
    state_dirs: int       # entries under the soak's --root
    cgroup_dirs: int      # cgroup directories named after the soak's ids, anywhere
    mounts_ours: int      # mountinfo lines that mention the soak's bundle or root
    processes: int        # processes in the soak's cgroups or running in its bundle
    zombies: int          # unreaped children of the soak
    own_fds: int          # the soak's own open fds
    mem_charged: int      # bytes charged to the soak's memory cgroup (-1: no v1 memory cgroup)
    file_nr: int          # host: allocated file handles (reported only)
    mounts_total: int     # host: mountinfo lines (reported only)
    mem_available: int    # host: MemAvailable bytes (reported only)


class Soak:
    def __init__(self, runtime: str, workdir: Path) -> None:
        self.runtime = runtime
        self.workdir = workdir
        self.tag = f"soak{uuid.uuid4().hex[:8]}"
        self.root = Path("/run") / f"pyrt-{self.tag}"
        self.bundle = write_bundle(workdir / "bundle", base_config(["true"]),
                                   rootfs_src=make_busybox_rootfs(workdir / "rootfs-src"))
        self.memcg = self._make_memcg()

    # -- the soak's memory cgroup -------------------------------------------------------
    def _make_memcg(self) -> Path | None:
        if not (MEMCG_V1 / "cgroup.procs").exists():
            return None
        own = "/"
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            if "memory" in ctrls.split(","):
                own = path
        d = MEMCG_V1 / own.lstrip("/") / self.tag
        d.mkdir()
        return d

    def _enter_memcg(self) -> None:  # runs in the child, before exec
        if self.memcg is not None:
            (self.memcg / "cgroup.procs").write_text("0")

    def _cmd(self, *args: str) -> subprocess.CompletedProcess[str]:
        # A development venv may be reinstalled (pip) under a long soak: its
        # launcher is missing for a moment. Wait for it rather than fail.
        for _ in range(60):
            try:
                return subprocess.run([self.runtime, "--root", str(self.root), *args],
                                      stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                      timeout=120, preexec_fn=self._enter_memcg)
            except FileNotFoundError:
                time.sleep(1)
        raise RuntimeError(f"{self.runtime} is gone")

    # -- one cycle ---------------------------------------------------------------------
    def cycle(self, i: int) -> None:
        cid = f"{self.tag}-{i}"
        p = self._cmd("run", "--keep", "--bundle", str(self.bundle), cid)
        if p.returncode != 0 and ("ModuleNotFoundError" in p.stderr or "ImportError" in p.stderr):
            # the same: half-installed for a moment; this cycle again
            self._cmd("delete", "--force", cid)
            time.sleep(2)
            p = self._cmd("run", "--keep", "--bundle", str(self.bundle), cid)
        if p.returncode != 0:
            raise RuntimeError(f"cycle {i}: run rc={p.returncode}: {p.stderr.strip()}")
        p = self._cmd("delete", cid)
        if p.returncode != 0:
            raise RuntimeError(f"cycle {i}: delete rc={p.returncode}: {p.stderr.strip()}")

    # -- measuring ---------------------------------------------------------------------
    def sample(self, cycle: int) -> Sample:
        mountinfo = Path("/proc/self/mountinfo").read_text().splitlines()
        ours = (str(self.bundle), str(self.root))
        return Sample(
            cycle=cycle,
            state_dirs=len(os.listdir(self.root)) if self.root.exists() else 0,
            cgroup_dirs=sum(1 for _, dirs, _ in os.walk(CGROUP) for d in dirs if d.startswith(self.tag + "-")),
            mounts_ours=sum(1 for ln in mountinfo if any(o in ln for o in ours)),
            processes=len(self._processes()),
            zombies=self._zombies(),
            own_fds=len(os.listdir("/proc/self/fd")),
            mem_charged=self._charged(),
            file_nr=int(Path("/proc/sys/fs/file-nr").read_text().split()[0]),
            mounts_total=len(mountinfo),
            mem_available=_meminfo("MemAvailable"),
        )

    def _charged(self) -> int:
        """What stays charged after reclaim: between cycles no task is in the
        soak's memory cgroup, and writing memory.force_empty (v1) then
        reclaims what can be (page cache, dentries and inodes through the
        memcg-aware shrinkers), leaving what is really held."""
        if self.memcg is None:
            return -1
        try:
            (self.memcg / "memory.force_empty").write_text("0")
        except OSError:
            pass  # EBUSY: something is still in it (counted by processes)
        return int((self.memcg / "memory.usage_in_bytes").read_text())

    def _processes(self) -> set[int]:
        found: set[int] = set()
        for pid in _pids():
            try:
                if os.readlink(f"/proc/{pid}/cwd").startswith(str(self.bundle)):
                    found.add(pid)
                    continue
                cg = Path(f"/proc/{pid}/cgroup").read_text()
            except OSError:
                continue
            if f"/{self.tag}-" in cg:
                found.add(pid)
        return found

    def _zombies(self) -> int:
        me = os.getpid()
        n = 0
        for pid in _pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] == "Z" and int(fields[1]) == me:
                n += 1
        return n

    # -- cleanup -----------------------------------------------------------------------
    def close(self) -> None:
        if self.root.exists():
            for e in self.root.iterdir():
                self._cmd("delete", "--force", e.name)
            shutil.rmtree(self.root, ignore_errors=True)
        if self.memcg is not None:
            for _ in range(100):
                try:
                    self.memcg.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def _pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def _meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return -1


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 for fewer than two points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def problems(samples: list[Sample], cycles: int) -> list[str]:
    """What grew. The first sample is before any cycle; a warm-up of a tenth
    of the cycles (caches filling) is left out of the memory trend."""
    out: list[str] = []
    first, last = samples[0], samples[-1]
    for f in ("state_dirs", "cgroup_dirs", "mounts_ours", "processes", "zombies"):
        worst = max(getattr(s, f) for s in samples[1:]) if len(samples) > 1 else 0
        if worst > getattr(first, f):
            out.append(f"{f}: {getattr(first, f)} before, up to {worst} after cycles")
    if last.own_fds > first.own_fds:
        out.append(f"own_fds: {first.own_fds} -> {last.own_fds}")
    warm = [s for s in samples if s.cycle >= max(1, cycles // 10)]
    if first.mem_charged >= 0 and len(warm) >= 3:
        growth = slope([s.cycle for s in warm], [s.mem_charged for s in warm]) * cycles
        if growth > MEM_GROWTH_PER_CYCLE * cycles:
            out.append(f"memory charged to the soak's cgroup grows ~{growth / 1024:.0f} KiB over "
                       f"{cycles} cycles (allowed {MEM_GROWTH_PER_CYCLE * cycles / 1024:.0f} KiB)")
    return out


def run_soak(runtime: str, cycles: int, every: int, workdir: Path,
             progress: bool = False) -> tuple[list[Sample], list[str]]:
    soak = Soak(runtime, workdir)
    try:
        samples = [soak.sample(0)]
        t0 = time.monotonic()
        for i in range(1, cycles + 1):
            soak.cycle(i)
            if i % every == 0 or i == cycles:
                samples.append(soak.sample(i))
                if progress:
                    s = samples[-1]
                    print(f"{i:6d} cycles  {time.monotonic() - t0:7.1f} s  charged {s.mem_charged / 1024:8.0f} KiB"
                          f"  file-nr {s.file_nr}  mounts {s.mounts_total}  "
                          f"avail {s.mem_available // 1048576} MiB", file=sys.stderr, flush=True)
        return samples, problems(samples, cycles)
    finally:
        soak.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--every", type=int, default=50, help="sample every N cycles")
    ap.add_argument("--runtime", default=str(Path(sys.executable).parent / "pyruntime"))
    ap.add_argument("--json", action="store_true", help="print the samples as JSON")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pyrt-soak-") as tmp:
        samples, found = run_soak(a.runtime, a.cycles, a.every, Path(tmp), progress=True)
    if a.json:
        print(json.dumps([asdict(s) for s in samples], indent=1))
    first, last = samples[0], samples[-1]
    print(f"{a.runtime}: {a.cycles} run/delete cycles; charged {first.mem_charged / 1024:.0f} -> "
          f"{last.mem_charged / 1024:.0f} KiB; host file-nr {first.file_nr} -> {last.file_nr}, "
          f"mounts {first.mounts_total} -> {last.mounts_total}, MemAvailable "
          f"{first.mem_available // 1048576} -> {last.mem_available // 1048576} MiB")
    for p in found:
        print("LEAK:", p)
    print("no growth" if not found else f"{len(found)} problem(s)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
