"""The state directory of one container, `<root>/<id>/`:

    state.json   what later commands need (versioned: FORMAT_VERSION)
    config.json  the config as it was at create (later edits have no effect)
    exec.fifo    present from create until start: the init blocks opening it
    notify/      NOTIFY_SOCKET passthrough only: mounted at /run/notify in the
                 container, notify.sock bound by start (pyruntime/notify_socket.py)
    (the directory itself is flock()ed by every command that changes it)

Status is derived, never stored (DESIGN.md §2): see status().
"""

from __future__ import annotations

import errno
import os

from pyruntime import SPEC_VERSION, faults, jsonfast
from pyruntime import syscalls as sc
from pyruntime.errors import ContainerExists, ContainerNotFound, PyruntimeError
from pyruntime.state.ids import check_id
from pyruntime.state.procfs import INIT_COMM, read_proc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMAT_VERSION = 1
DEFAULT_ROOT = "/run/pyruntime"
FIFO = "exec.fifo"


class Container:
    """A state directory and the record inside it."""

    def __init__(self, root: str, cid: str) -> None:
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.data: dict[str, Any] = {}
        self._lock_fd = -1
        self._creator: dict[str, int] | None = None  # this process, while it creates

    # -- lifetime of the directory -------------------------------------------------
    @classmethod
    def create(cls, root: str, cid: str) -> Container:
        """Make the directory, locked; mkdir is the atomic "exactly one create wins".

        Between mkdir and flock a `delete --force` may take the lock first and
        remove the directory (to it, a directory without state.json is what a
        killed create leaves): then the id is free again, and we retry."""
        check_id(cid)
        _make_root(root)
        c = cls(root, cid)
        for _ in range(5):
            try:
                os.mkdir(c.dir, 0o711)
            except FileExistsError:
                raise ContainerExists(cid) from None
            try:
                c.lock()
            except FileNotFoundError:
                continue
            if os.path.exists(os.path.join(c.dir, "state.json")):
                # Removed and made again by another create, which has finished:
                # the directory we hold is not ours.
                c.unlock()
                raise ContainerExists(cid)
            me = read_proc(os.getpid())
            c._creator = {"pid": os.getpid(), "start_time": me[1] if me else -1}
            return c
        raise PyruntimeError(f"creating {c.dir}: removed again and again by another command")

    @classmethod
    def load(cls, root: str, cid: str, *, lock: bool = False) -> Container:
        check_id(cid)
        c = cls(root, cid)
        if lock:
            try:
                c.lock()
            except FileNotFoundError:
                raise ContainerNotFound(cid) from None
        try:
            with open(os.path.join(c.dir, "state.json")) as f:
                c.data = jsonfast.loads(f.read())
        except FileNotFoundError:
            if not os.path.isdir(c.dir):
                c.unlock()
                raise ContainerNotFound(cid) from None
            c.data = {}  # a create was killed before it wrote anything
        except ValueError as e:
            c.unlock()
            raise PyruntimeError(f"{c.dir}/state.json is corrupt: {e}") from None
        if c.data.get("version", FORMAT_VERSION) > FORMAT_VERSION:
            c.unlock()
            raise PyruntimeError(f"{c.dir}/state.json has format {c.data['version']}, newer than "
                                 f"this pyruntime ({FORMAT_VERSION})")
        return c

    def lock(self) -> None:
        """Exclusive flock on the directory: serialises commands on one id.

        The lock is on the directory we opened; while we waited, its holder
        may have removed it (delete) and another create made a new one under
        the same name. So once locked, the name must still lead to the locked
        directory; if not, lock the new one (FileNotFoundError: none left)."""
        while self._lock_fd < 0:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            sc.flock(fd, sc.LOCK_EX)
            held = os.fstat(fd)
            try:
                now = os.stat(self.dir)
            except FileNotFoundError:
                os.close(fd)
                raise
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
                self._lock_fd = fd
            else:
                os.close(fd)

    @property
    def lock_fd(self) -> int:
        return self._lock_fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def destroy(self) -> None:
        """Remove the directory and everything in it; state.json last, so that
        a delete killed half-way leaves what the next `delete --force` needs."""
        names = os.listdir(self.dir) if os.path.isdir(self.dir) else []
        names.sort(key=lambda n: n == "state.json")
        for name in names:
            if name == "state.json":
                faults.point("delete.state-partial")
            try:
                os.unlink(os.path.join(self.dir, name))
            except IsADirectoryError:
                import shutil

                shutil.rmtree(os.path.join(self.dir, name), ignore_errors=True)
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        self.unlock()

    # -- the record ----------------------------------------------------------------
    def save(self) -> None:
        """Write state.json atomically (a reader never sees half a file)."""
        self.data["version"] = FORMAT_VERSION
        if self._creator is not None:
            # who is creating it: a create killed half-way is told apart from
            # one still at work by this process being gone (status())
            self.data.setdefault("creator", self._creator)
        tmp = os.path.join(self.dir, ".state.json.tmp")
        with open(tmp, "w") as f:
            f.write(jsonfast.dumps(self.data))
        os.rename(tmp, os.path.join(self.dir, "state.json"))

    def save_config(self, raw: bytes) -> None:
        with open(os.path.join(self.dir, "config.json"), "wb") as f:
            f.write(raw)

    def config(self) -> dict[str, Any]:
        with open(os.path.join(self.dir, "config.json"), "rb") as f:
            cfg: dict[str, Any] = jsonfast.loads(f.read())
        return cfg

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, FIFO)

    @property
    def pid(self) -> int:
        return int(self.data.get("pid", 0))

    def track_hook(self, pid: int | None) -> None:
        """Record the hook this command runs now (None: it is done), so that
        `delete` can kill it if this command is killed meanwhile."""
        if pid is None:
            if self.data.pop("hook", None) is not None:
                self.save()
            return
        st = read_proc(pid)
        self.data["hook"] = {"pid": pid, "start_time": st[1] if st else -1}
        self.save()

    def hook_left(self) -> int:
        """The pid of a hook a killed command left running, or 0."""
        h = self.data.get("hook") or {}
        pid = int(h.get("pid") or 0)
        return pid if pid and read_proc_start(pid) == h.get("start_time") else 0

    def _init(self) -> tuple[str, int, str] | None:
        """(state, start time, comm) of the init if it is the process create
        started (a PID reused by another process has another start time) and
        not a zombie; else None."""
        if self.pid <= 0:
            return None
        st = read_proc(self.pid)
        if st is None or st[1] != int(self.data.get("start_time", -1)) or st[0] in ("Z", "X", "x"):
            return None
        return st

    def init_alive(self) -> bool:
        return self._init() is not None

    def status(self) -> str:
        """created | running | paused | stopped (or creating), from facts on the host."""
        init = self._init()
        if not self.data.get("created"):
            # create has not finished: its init may still be setting up, unless
            # the create itself is gone (killed): then it never will be.
            if init is None:
                return "stopped"
            cr = self.data.get("creator")
            if cr and read_proc_start(int(cr.get("pid", 0))) != cr.get("start_time"):
                return "stopped"
            return "creating"
        if init is None:
            return "stopped"
        if self._frozen():  # before created: runc pauses created containers too
            return "paused"
        # Created: the init waits on the fifo, still pyruntime's code (its
        # name). A `start` killed after releasing it leaves the fifo behind,
        # but the init has exec'd the user's program: running.
        if init[2] == INIT_COMM and os.path.exists(self.fifo):
            return "created"
        return "running"

    def _frozen(self) -> bool:
        cg = self.data.get("cgroup") or {}
        if cg.get("kind") == "v2":
            try:
                with open(os.path.join(cg["path"], "cgroup.freeze")) as f:
                    return f.read().strip() == "1"
            except (OSError, KeyError):
                return False
        path = cg.get("paths", {}).get("freezer")
        if not path:
            return False
        try:
            with open(os.path.join(path, "freezer.state")) as f:
                return f.read().strip() in ("FROZEN", "FREEZING")
        except OSError:
            return False

    def oci_state(self) -> dict[str, Any]:
        """The state as runc prints it (runtime-spec "State" plus runc's extras)."""
        status = self.status()
        out: dict[str, Any] = {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": self.pid if status in ("created", "running", "paused") else 0,
            "status": status,
            "bundle": self.data.get("bundle", ""),
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
            "owner": self.data.get("owner", ""),
        }
        if self.data.get("annotations"):
            out["annotations"] = self.data["annotations"]
        return out


def read_proc_start(pid: int) -> int:
    st = read_proc(pid) if pid > 0 else None
    return st[1] if st is not None and st[0] not in ("Z", "X", "x") else -1


def _make_root(root: str) -> None:
    try:
        os.makedirs(root, mode=0o711, exist_ok=True)
    except FileExistsError:
        raise PyruntimeError(f"--root {root} is not a directory", path=root) from None
    except OSError as e:
        raise PyruntimeError(f"mkdir {root}: {os.strerror(e.errno or 0)}", path=root) from None


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise PyruntimeError(f"--root {root} is not a directory") from None
        raise
    return sorted(n for n in names if os.path.isdir(os.path.join(root, n)))
