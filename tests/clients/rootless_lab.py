"""Rootless Podman for one test module: an unprivileged user made for it, its
own Podman storage, and both runtimes registered, so that a test runs the
same scenario with `podman --runtime runc` and `--runtime pyruntime` as that
user.

What the lab makes, and `close()` removes (the host is left as found):
- a user `pyrtpodrl<hex>` (useradd, its own group; no subordinate ids of
  useradd's choosing, -K SUB_UID_COUNT=0) with one range of 65536 ids in
  /etc/subuid and /etc/subgid (usermod), a range no other line overlaps.
  newuidmap and newgidmap (setuid, Debian's `uidmap`) let Podman map it into
  its user namespace: root in there is the user, ids 1..65536 its range;
- everything under one directory (`base`): the user's home, its
  XDG_RUNTIME_DIR, Podman's --root/--runroot/--tmpdir, containers.conf,
  TMPDIR, volumes, the image tarballs;
- the processes the user leaves (Podman's pause process holding its user
  namespace, conmon, containers): killed by pid, each checked to run as the
  user or an id of its range;
- only where pyruntime's interpreter lies under a directory the user cannot
  search (a pyenv under /root, 0700): a mount namespace where that directory
  is a tmpfs holding only the path to the interpreter (a bind of it), kept by
  a `sleep` of ours; every Podman command of the user runs in it (nsenter),
  runc's too. The host's /root is not touched.

How rootless Podman 4.3 runs a runtime on this host (hybrid cgroups, no
systemd user session, cgroup_manager cgroupfs): as root of its user
namespace (newuidmap), the config without a user namespace of its own and
without linux.cgroupsPath or resources; the runtime makes no cgroup (none is
writable) and the container stays in conmon's. `--network none`: the lab
needs no slirp4netns (Podman's default network rootless), the container
still gets a network namespace of its own.

A killed test run leaves the lab: `python -m tests.clients.rootless_lab
--reclaim /tmp/pyrtpodrlXXXXXXXX` removes it (lab.json records the user and pids).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from tests.clients import images
from tests.clients.lab import RUNC, processes, wait_for

BUSYBOX = "localhost/pyrt-busybox:test"
SCRATCH = "localhost/pyrt-scratch:test"
RANGE = 65536
SUBID_FILES = ("/etc/subuid", "/etc/subgid")
# and the backups shadow's tools write beside them ("file-") when they edit them
ID_FILES = (*SUBID_FILES, *(f + "-" for f in SUBID_FILES))
# useradd, usermod and userdel rewrite these backups: put back as they were
BACKUPS = ("/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-", "/etc/subuid-", "/etc/subgid-")


def missing_tools() -> list[str]:
    need = {"podman": "podman", "conmon": "conmon", "newuidmap": "uidmap", "newgidmap": "uidmap",
            "useradd": "passwd", "usermod": "passwd", "userdel": "passwd", "setpriv": "util-linux", "nsenter": "util-linux",
            "unshare": "util-linux", "script": "bsdutils"}
    out = [f"{tool} (apt-get install {pkg})" for tool, pkg in need.items() if shutil.which(tool) is None]
    if not os.path.exists(RUNC):
        out.append("runc (apt-get install runc)")
    return out


def _ranges(path: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        parts = line.split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append((int(parts[1]), int(parts[2])))
    return out


def free_subid_start() -> int:
    """The first multiple of RANGE from 2^20 up that no /etc/subuid or
    /etc/subgid line overlaps (nor the ids of real users below it)."""
    taken = [r for f in SUBID_FILES for r in _ranges(f)]
    start = 1 << 20
    while any(s < start + RANGE and start < s + n for s, n in taken):
        start += RANGE
    return start


def _proc_uids(pid: int) -> tuple[int, ...]:
    """The real, effective, saved and fs uids of a live process (a zombie:
    none, it is gone but for its parent's wait)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return ()
    if any(line.startswith("State:") and "Z" in line.split()[1] for line in status):
        return ()
    for line in status:
        if line.startswith("Uid:"):
            return tuple(int(x) for x in line.split()[1:])
    return ()


def unsearchable_dirs(paths: list[str]) -> list[tuple[str, str]]:
    """(dir, child) for each directory on the way to `paths` that a user who
    is neither its owner nor in its group cannot search (no o+x), top first."""
    found: list[tuple[str, str]] = []
    for p in paths:
        parts = Path(os.path.realpath(p)).parts
        for i in range(1, len(parts) - 1):
            d = os.path.join(*parts[:i])
            child = parts[i]
            if not os.stat(d).st_mode & 0o001 and (d, child) not in found:
                found.append((d, child))
    return sorted(found, key=lambda t: len(t[0]))


class RootlessLab:
    def __init__(self, pyruntime: str, base: Path | None = None) -> None:
        self.user = f"pyrtpodrl{uuid.uuid4().hex[:8]}"
        self.base = base or Path("/tmp") / self.user
        self.home = self.base / "home"
        self.xdg = self.home / "xdg"
        self.pyruntime = pyruntime
        self.uid = self.gid = -1
        self.subid = -1
        self.holder: subprocess.Popen[bytes] | None = None
        self.subid_existed = {f: os.path.exists(f) for f in ID_FILES}
        # in memory only (shadow- holds password hashes): a reclaim cannot restore them
        self.backups = {f: Path(f).read_bytes() if os.path.exists(f) else None for f in BACKUPS}

    # ------------------------------------------------------------ start / stop

    def start(self, work: Path) -> None:
        """Make the user, its directories and Podman's config; import the
        busybox and scratch images (tarballs built from `work`)."""
        self.base.mkdir(mode=0o755)
        self._record()
        subprocess.run(["useradd", "--no-create-home", "--home-dir", str(self.home), "--shell", "/bin/sh",
                        "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "--user-group", self.user],
                       check=True, capture_output=True)
        self.uid = int(subprocess.run(["id", "-u", self.user], check=True, capture_output=True, text=True).stdout)
        self.gid = int(subprocess.run(["id", "-g", self.user], check=True, capture_output=True, text=True).stdout)
        self.subid = free_subid_start()
        for f in SUBID_FILES:  # usermod refuses -v/-w without the files
            if not os.path.exists(f):
                Path(f).touch(0o644)
        # usermod, not our own write: it locks the files against a parallel useradd/userdel
        ids = f"{self.subid}-{self.subid + RANGE - 1}"
        self._record()
        subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, self.user],
                       check=True, capture_output=True)
        for d in (self.home, self.xdg, self.home / "tmp", self.home / "vol"):
            d.mkdir(mode=0o700)
            os.chown(d, self.uid, self.gid)
        self._write_conf()
        self._start_holder()
        img = self.base / "images"
        img.mkdir(mode=0o755)
        bb = images.rootfs_tar(images.busybox_rootfs(work / "busybox", work), img / "busybox.tar")
        sc = images.rootfs_tar(images.scratch_rootfs(work / "scratch", work), img / "scratch.tar")
        for tar in (bb, sc):
            tar.chmod(0o644)
        for tar, name, cmd in ((bb, BUSYBOX, '["/bin/sh"]'), (sc, SCRATCH, '["/hello"]')):
            p = self.podman("import", "--change", f"CMD {cmd}", str(tar), name, timeout=300)
            if p.returncode != 0:
                raise RuntimeError(f"podman import {name} as {self.user}: {p.stderr}")

    def _record(self) -> None:
        (self.base / "lab.json").write_text(json.dumps({
            "user": self.user, "uid": self.uid, "subid": self.subid, "subid_existed": self.subid_existed,
            "holder": self.holder.pid if self.holder else None}))

    def _write_conf(self) -> None:
        conf = self.home / "containers.conf"
        conf.write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.home}/podman-events.log"\n'
            f'image_copy_tmp_dir = "{self.home}/tmp"\n'
            'runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "pyruntime"]\n'
            "[engine.runtimes]\n"
            f'pyruntime = ["{self.pyruntime}"]\n'
            f'runc = ["{RUNC}"]\n'
        )
        conf.chmod(0o644)

    def interpreter_paths(self) -> list[str]:
        """What pyruntime's launcher needs to reach: itself, the venv's
        python3 beside it and that interpreter's prefix (its stdlib)."""
        venv_py = Path(self.pyruntime).parent / "python3"
        paths = [self.pyruntime]
        if venv_py.exists():
            real = Path(os.path.realpath(venv_py))
            paths += [str(real), str(real.parent.parent)]
        return paths

    def _start_holder(self) -> None:
        """The mount namespace where blocked directories on the way to the
        interpreter are tmpfs'es holding just that path (see the docstring)."""
        blocked = unsearchable_dirs(self.interpreter_paths())
        if not blocked:
            return
        steps = []
        for i, (d, child) in enumerate(blocked):
            stage = self.base / f"stage{i}"
            stage.mkdir(mode=0o700)
            steps.append(f"mount --bind '{d}/{child}' '{stage}' && mount -t tmpfs -o mode=0755,size=64k "
                         f"pyrt-rootless-lab '{d}' && mkdir '{d}/{child}' && mount --move '{stage}' '{d}/{child}'")
        script = " && ".join(steps) + " && echo ready && exec sleep infinity"
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                       stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self._record()
        assert self.holder.stdout is not None
        if self.holder.stdout.readline() != b"ready\n":
            raise RuntimeError(f"the lab's mount namespace failed for {blocked}")

    def close(self) -> None:
        if self.uid >= 0:
            try:
                self.podman("rm", "-af", "-t", "0", timeout=120)
            except Exception:  # noqa: BLE001 - the kills below still run
                pass
        kill_user_processes(self.uid, self.subid)
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(10)
        remove_user(self.user, self.subid_existed)
        for f, data in self.backups.items():
            if data is None:
                if os.path.exists(f):
                    os.unlink(f)
            elif not os.path.exists(f) or Path(f).read_bytes() != data:
                Path(f).write_bytes(data)  # the file's owner and mode stay
        shutil.rmtree(self.base, ignore_errors=True)

    @classmethod
    def reclaim(cls, base: Path) -> None:
        rec = json.loads((base / "lab.json").read_text())
        holder = rec.get("holder")
        kill_user_processes(int(rec["uid"]), int(rec["subid"]))
        if holder:
            try:
                if b"sleep" in Path(f"/proc/{holder}/cmdline").read_bytes():
                    os.kill(int(holder), signal.SIGKILL)
            except OSError:
                pass
        remove_user(rec["user"], rec["subid_existed"])
        shutil.rmtree(base, ignore_errors=True)

    # ------------------------------------------------------------ Podman as the user

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user,
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "XDG_RUNTIME_DIR": str(self.xdg), "TMPDIR": str(self.home / "tmp"),
                "CONTAINERS_CONF": str(self.home / "containers.conf")}

    def podman_argv(self) -> list[str]:
        """The user's `podman` command line (as a user would run it, with a
        clean environment; in the lab's mount namespace where there is one)."""
        prefix = ["nsenter", "-t", str(self.holder.pid), "-m", "--"] if self.holder else []
        return [*prefix, "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "env", "-i", *(f"{k}={v}" for k, v in self.env().items()),
                "podman", "--root", f"{self.home}/storage", "--runroot", f"{self.home}/run",
                "--tmpdir", f"{self.home}/libpod-tmp", "--storage-driver", "overlay"]

    def podman(self, *args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", self.home)  # conmon writes an `oom` file into its cwd
        p = subprocess.run([*self.podman_argv(), *args], capture_output=True, text=True, timeout=timeout, **kw)
        # every rootless command warns about the host's private "/" mount: noise
        p.stderr = "".join(line for line in p.stderr.splitlines(keepends=True)
                           if "is not a shared mount" not in line)
        return p

    def run_flags(self, runtime: str) -> list[str]:
        return ["--runtime", runtime, "--network", "none"]

    def ours(self, uid: int) -> bool:
        """A host uid of the lab: the user, or an id of its subordinate range."""
        return uid == self.uid or self.subid <= uid < self.subid + RANGE

    def user_dir(self, name: str) -> Path:
        """A directory of the user's (a volume to bind), under its home."""
        d = self.home / "vol" / name
        d.mkdir(mode=0o755)
        os.chown(d, self.uid, self.gid)
        return d


def kill_user_processes(uid: int, subid: int, timeout: float = 30) -> None:
    """SIGKILL, by pid, every process running as `uid` or an id of its
    subordinate range (ids the lab made: no one else's), and wait for them."""
    if uid < 0:
        return

    def mine() -> list[int]:
        out = []
        for pid, _cmd in processes():
            ids = _proc_uids(pid)
            if ids and any(i == uid or (subid >= 0 and subid <= i < subid + RANGE) for i in ids):
                out.append(pid)
        return out

    deadline = time.monotonic() + timeout
    while (pids := mine()) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    wait_for(lambda: not mine(), 5, f"the processes of uid {uid} to exit")


def remove_user(name: str, subid_existed: dict[str, bool]) -> None:
    """userdel (its group and its /etc/subuid and /etc/subgid lines too; what
    is left of those lines, without the user, by hand), and each of those
    files (and their backups) removed again if it was not there before (a
    subid file only if it is empty now)."""
    subprocess.run(["userdel", name], capture_output=True)
    for f in SUBID_FILES:
        try:
            lines = Path(f).read_text().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        kept = [line for line in lines if not line.startswith(f"{name}:")]
        if kept != lines:
            Path(f).write_text("".join(kept))
    for f in ID_FILES:
        if subid_existed.get(f, True) or not os.path.exists(f):
            continue
        if f.endswith("-") or not Path(f).read_text():
            os.unlink(f)


if __name__ == "__main__":  # python -m tests.clients.rootless_lab --reclaim /tmp/pyrtpodrlXXXXXXXX
    if len(sys.argv) != 3 or sys.argv[1] != "--reclaim":
        sys.exit("usage: python -m tests.clients.rootless_lab --reclaim LAB_DIR")
    RootlessLab.reclaim(Path(sys.argv[2]))
