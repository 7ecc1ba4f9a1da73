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
import fcntl
import os

from pyruntime import SPEC_VERSION, jsonfast
from pyruntime.errors import ContainerExists, ContainerNotFound, PyruntimeError
from pyruntime.state.ids import check_id
from pyruntime.state.procfs import process_alive

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

    # -- lifetime of the directory -------------------------------------------------
    @classmethod
    def create(cls, root: str, cid: str) -> Container:
        """Make the directory, locked; mkdir is the atomic "exactly one create wins"."""
        check_id(cid)
        os.makedirs(root, mode=0o711, exist_ok=True)
        c = cls(root, cid)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise ContainerExists(cid) from None
        c.lock()
        return c

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
        """Exclusive flock on the directory: serialises commands on one id."""
        if self._lock_fd < 0:
            self._lock_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

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
        """Remove the directory and everything in it."""
        for name in os.listdir(self.dir) if os.path.isdir(self.dir) else ():
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

    def init_alive(self) -> bool:
        return process_alive(self.pid, int(self.data.get("start_time", -1)))

    def status(self) -> str:
        """created | running | paused | stopped, from facts on the host."""
        alive = bool(self.data.get("pid")) and self.init_alive()
        if not self.data.get("created"):
            # create has not finished (or was killed): its init may still be setting up.
            return "creating" if alive else "stopped"
        if not alive:
            return "stopped"
        if self._frozen():  # before created: runc pauses created containers too
            return "paused"
        if os.path.exists(self.fifo):
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
