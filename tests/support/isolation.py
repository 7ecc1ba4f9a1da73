"""Helpers for the isolation integration tests (namespaces, rootfs, cgroups,
console, process attributes): running a container and checking its output,
long-running detached containers, /proc and cgroup parsing, static probes.

Everything here works with the `rt` fixture's Runtime object from
tests/conftest.py (duck-typed: `.cmd(*args)` and `__call__`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

PROBES_DIR = Path(__file__).parent / "probes"
CGROUP_ROOT = Path("/sys/fs/cgroup")


class RuntimeLike(Protocol):
    """What tests need from the conftest `Runtime`: its binary, --root,
    cmd() and the call that runs a command."""

    path: str
    root: Path

    def cmd(self, *args: str) -> list[str]: ...

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]: ...


# ---------------------------------------------------------------- running

def describe(p: subprocess.CompletedProcess[str]) -> str:
    return f"rc={p.returncode}\nstdout={p.stdout!r}\nstderr={p.stderr!r}"


def run_ok(rt: RuntimeLike, bundle: Path, cid: str, *extra: str, timeout: float = 30) -> str:
    """`run` the bundle in the foreground, assert exit 0, return stdout."""
    p = rt("run", *extra, "--bundle", str(bundle), cid, timeout=timeout)
    assert p.returncode == 0, describe(p)
    return p.stdout


def start_detached(rt: RuntimeLike, bundle: Path, cid: str, *extra: str, timeout: float = 30) -> int:
    """`run --detach` a container whose stdio goes to a log file in the bundle
    (not a pipe: the container would hold a captured pipe open and
    subprocess.run would wait for it). Returns the init's host pid."""
    log = bundle / f"{cid}.stdio.log"
    pid_file = bundle / f"{cid}.pid"
    with open(log, "wb") as out:
        p = subprocess.run(rt.cmd("run", "--detach", *extra, "--pid-file", str(pid_file),
                                  "--bundle", str(bundle), cid),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout)
    assert p.returncode == 0, f"run --detach rc={p.returncode}: {log.read_text(errors='replace')}"
    return int(pid_file.read_text().strip())


def create_detached(rt: RuntimeLike, bundle: Path, cid: str, *extra: str, timeout: float = 30) -> int:
    """`create` with stdio to a log file (see start_detached). Returns the init pid."""
    log = bundle / f"{cid}.stdio.log"
    pid_file = bundle / f"{cid}.pid"
    with open(log, "wb") as out:
        p = subprocess.run(rt.cmd("create", *extra, "--pid-file", str(pid_file),
                                  "--bundle", str(bundle), cid),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout)
    assert p.returncode == 0, f"create rc={p.returncode}: {log.read_text(errors='replace')}"
    return int(pid_file.read_text().strip())


def stdio_log(bundle: Path, cid: str) -> str:
    return (bundle / f"{cid}.stdio.log").read_text(errors="replace")


def poll_until(pred: Any, timeout: float = 10, interval: float = 0.05) -> bool:
    """Whether pred() came true within timeout (probes.wait_for raises instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


def pid_alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---------------------------------------------------------------- config edits

def set_namespace(cfg: dict[str, Any], ns_type: str, path: str | None = None) -> None:
    """Add (or replace) one namespace entry in linux.namespaces."""
    nss = [n for n in cfg["linux"].setdefault("namespaces", []) if n["type"] != ns_type]
    entry: dict[str, Any] = {"type": ns_type}
    if path is not None:
        entry["path"] = path
    nss.append(entry)
    cfg["linux"]["namespaces"] = nss


def add_capabilities(cfg: dict[str, Any], *caps: str) -> None:
    for key in ("bounding", "effective", "permitted"):
        cur = cfg["process"]["capabilities"].setdefault(key, [])
        cur.extend(c for c in caps if c not in cur)


def ns_inode(pid: int | str, kind: str) -> str:
    """e.g. ns_inode("self", "net") -> 'net:[4026531840]'."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")


# ---------------------------------------------------------------- mountinfo

@dataclass
class Mount:
    mount_point: str
    options: set[str]
    fstype: str
    source: str
    super_options: set[str]
    root: str


def parse_mountinfo(text: str) -> list[Mount]:
    mounts: list[Mount] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        pre, _, post = line.partition(" - ")
        f = pre.split()
        fstype, source, sopts = (post.split() + ["", ""])[:3]
        mounts.append(Mount(mount_point=f[4].replace("\\040", " "), options=set(f[5].split(",")),
                            fstype=fstype, source=source, super_options=set(sopts.split(",")),
                            root=f[3]))
    return mounts


def last_mount_at(mounts: list[Mount], point: str) -> Mount | None:
    """The mount visible at `point` (the last one mounted there)."""
    found = None
    for m in mounts:
        if m.mount_point == point:
            found = m
    return found


# ---------------------------------------------------------------- cgroups (v1 / hybrid)

def v1_hierarchies() -> dict[str, Path]:
    """Mounted cgroup v1 hierarchies: key is the /proc/<pid>/cgroup controller
    field (e.g. 'cpu', 'memory', 'name=systemd', 'cpu,cpuacct'), value the
    mount point. Only the first mount of each hierarchy is kept."""
    found: dict[str, Path] = {}
    for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()):
        if m.fstype != "cgroup":
            continue
        ctrls = sorted(o for o in m.super_options
                       if o not in ("rw", "ro") and not o.startswith(("release_agent", "clone_children"))
                       and o not in ("noprefix", "xattr", "cpuset_v2_mode"))
        key = ",".join(ctrls)
        found.setdefault(key, Path(m.mount_point))
    return found


def proc_cgroups(pid: int | str) -> dict[str, str]:
    """Parse /proc/<pid>/cgroup into {controllers-field: path}; the v2 line is ''."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _hid, ctrls, path = line.split(":", 2)
        out[",".join(sorted(ctrls.split(","))) if ctrls else ""] = path
    return out


def cgroup_dir(hierarchy_mount: Path, path: str) -> Path:
    return hierarchy_mount / path.lstrip("/")


def remove_cgroup_tree(d: Path) -> None:
    """Remove a cgroup directory tree (deepest first). Only empty cgroups can
    go, and one whose last task just exited may stay busy for a moment."""
    if not d.is_dir():
        return
    for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        rmdir_retry(sub)
    rmdir_retry(d)


def rmdir_retry(d: Path, tries: int = 50) -> None:
    for _ in range(tries):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


# ---------------------------------------------------------------- probes

def build_probe(name: str, out_dir: Path) -> Path:
    """Compile tests/support/probes/<name>.c statically into out_dir/<name>."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise RuntimeError("gcc is needed to build the static probes")
    src = PROBES_DIR / f"{name}.c"
    out = out_dir / name
    subprocess.run([cc, "-static", "-O1", "-o", str(out), str(src)], check=True,
                   capture_output=True, text=True)
    return out


def install_probe(probe: Path, bundle: Path) -> str:
    """Copy a probe binary into the bundle's rootfs /bin; returns its path inside."""
    dest = bundle / "rootfs" / "bin" / probe.name
    shutil.copy2(probe, dest)
    return f"/bin/{probe.name}"


# ---------------------------------------------------------------- host devices

def _host_can_open(name: str) -> bool:
    try:
        fd = os.open(f"/dev/{name}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    os.close(fd)
    return True


def host_block_device() -> tuple[int, int, str]:
    """(major, minor, name) of a block device that the host's root can open:
    the disk holding `/` when it can, else the first openable one in
    /sys/block (on sandboxed VMs the root disk may be closed even to root,
    which would make a "the container cannot open it" test vacuous)."""
    candidates: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        f = line.split()
        if f[4] == "/" and Path(f"/sys/dev/block/{f[2]}").exists():
            candidates.append(Path(os.path.realpath(f"/sys/dev/block/{f[2]}")).name)
    candidates += sorted(d.name for d in Path("/sys/block").iterdir() if not d.name.startswith("ram"))
    for name in candidates:
        dev = Path(f"/sys/class/block/{name}/dev")
        if dev.exists() and _host_can_open(name):
            major, minor = (int(x) for x in dev.read_text().split(":"))
            return major, minor, name
    raise RuntimeError(f"no block device that the host can open among {candidates}")


@contextlib.contextmanager
def net_cls_hierarchy(cleanup: Callable[[], None], scratch: Path) -> Iterator[Path]:
    """A v1 hierarchy with net_cls and net_prio: the host's when it mounts one,
    else one mounted under `scratch` for the test's duration. The kernel has
    the controllers (this host: CGROUP_NET_CLASSID, CGROUP_NET_PRIO) even when
    no hierarchy shows them. On the way out `cleanup()` (the runtime's delete
    --force of the test's containers) runs first, then what the test made under
    its own mount is removed and the mount undone."""
    for key, mount in v1_hierarchies().items():
        if "net_cls" in key.split(",") or "net_prio" in key.split(","):
            yield mount
            return
    mnt = scratch / "net_cls,net_prio"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "cgroup", "-o", "net_cls,net_prio", "cgroup", str(mnt)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"cannot mount a net_cls,net_prio hierarchy: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        cleanup()
        for d in mnt.iterdir():
            if d.is_dir():
                remove_cgroup_tree(d)
        # rmdir returns while the cgroup is still dying (its css is released
        # later, from a workqueue), and an umount that finds the root with a
        # child, dying or not, leaves the v1 hierarchy alive after the mount
        # is gone (the kernel's cgroup_kill_sb kills only a root without
        # children): it would stay in every /proc/<pid>/cgroup until the next
        # mount and umount. So: no child left, umount, the hierarchy gone
        # (its root is released from a workqueue too).
        _until(lambda: _proc_cgroups("net_cls")[1] <= 1, "the net_cls hierarchy to lose its child cgroups")
        subprocess.run(["umount", str(mnt)], capture_output=True)
        _until(lambda: _proc_cgroups("net_cls")[0] == 0, f"the net_cls,net_prio hierarchy to go with its mount {mnt}")


def _proc_cgroups(controller: str) -> tuple[int, int]:
    """(hierarchy id, number of cgroups) /proc/cgroups gives `controller`
    (hierarchy 0: in none, or in cgroup2)."""
    for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
        name, hierarchy, count, _ = line.split()
        if name == controller:
            return int(hierarchy), int(count)
    return 0, 0


def _until(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
