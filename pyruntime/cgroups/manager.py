"""Place a container in its cgroup on every mounted hierarchy, set its
limits, enumerate and signal its processes, and remove what we created.

Path rules (runc's cgroupfs driver): an absolute cgroupsPath is taken from
each hierarchy's root; a relative one (and the default, the container id)
from the cgroup of the calling process in that hierarchy.

Joining: the intermediate child is born in the cgroup2 cgroup (fork:
clone3 CLONE_INTO_CGROUP) and writes "0" (itself) to each v1 `tasks`
before forking the init, so the init is born inside everywhere. Moving
*another* process, or a whole thread group (cgroup.procs), waits for an
RCU grace period (~11 ms); moving oneself by `tasks` right after fork
costs ~0.03 ms per hierarchy.
"""

from __future__ import annotations

import _signal as signal  # not `signal`: it imports enum (~3 ms)
import errno
import os
import time

from pyruntime.cgroups.devices import DEFAULT_ALLOWED, v1_writes
from pyruntime.cgroups.hierarchy import UNIFIED, hierarchies, own_cgroups
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _fill_from_ancestors(d: str, f: str) -> str:
    """The value of cpuset file f in d, copied down from the nearest
    ancestor that has one into every empty level on the way. The
    hierarchy's root (whose parent has no such file) is never empty."""
    value = _read(os.path.join(d, f)).strip()
    parent = os.path.dirname(d)
    if value or not os.path.exists(os.path.join(parent, f)):
        return value
    value = _fill_from_ancestors(parent, f)
    _write(os.path.join(d, f), value or "\n")
    return value


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _read_or(path: str, default: str) -> str:
    try:
        return _read(path)
    except OSError:
        return default


def checked_path(cgroups_path: str | None, cid: str) -> str:
    """cgroupsPath (or the default, the id) after the checks every driver makes."""
    if cgroups_path and ":" in cgroups_path:
        raise PyruntimeError(
            f"cgroupsPath {cgroups_path!r} is in systemd form (slice:prefix:name): it needs the "
            "systemd cgroup driver (the global flag: pyruntime --systemd-cgroup create ...)")
    rel = cgroups_path or cid
    if ".." in rel.split("/"):
        raise PyruntimeError(f"linux.cgroupsPath: {cgroups_path!r} must not contain '..'",
                             field="linux.cgroupsPath")
    return rel


class Manager:
    RMDIR_ATTEMPTS = 200  # ~1 s of 5 ms waits for killed processes to leave

    def __init__(self, paths: dict[str, str], created: list[str] | None = None) -> None:
        self.paths = paths          # {controller: absolute cgroup directory}
        self.created = created or []  # directories we made, parents first
        self.born_inside = ""  # the cgroup2 directory fork() had this process born in

    # -- persistence -----------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {"paths": self.paths, "created": self.created}

    @classmethod
    def from_state(cls, d: dict[str, Any] | None) -> Manager:
        d = d or {}
        return cls(dict(d.get("paths") or {}), list(d.get("created") or []))

    @classmethod
    def for_config(cls, cgroups_path: str | None, cid: str, mounts: dict[str, str] | None = None,
                   *, with_unified: bool = True) -> Manager:
        """mounts: hierarchies(). Every hierarchy, the cgroup2 one of a
        hybrid host too (runc); with_unified=False leaves that one out (a
        rootless caller's create, unless needs_unified or a cgroup namespace)."""
        rel = checked_path(cgroups_path, cid)
        if mounts is None:
            mounts = hierarchies()
        if not with_unified and len(mounts) > 1:
            mounts = {k: v for k, v in mounts.items() if k != UNIFIED}
        own = own_cgroups() if not rel.startswith("/") else {}
        paths: dict[str, str] = {}
        for ctrl, mnt in mounts.items():
            if rel.startswith("/"):
                sub = os.path.normpath(rel)
            else:
                sub = os.path.normpath(os.path.join(own.get(ctrl, "/"), rel))
            paths[ctrl] = mnt + sub
        return cls(paths)

    @staticmethod
    def needs_unified(linux: dict[str, Any], mounts: dict[str, str]) -> bool:
        """On a hybrid host, controllers attached to the cgroup2 hierarchy are
        managed there: linux.resources.hugepageLimits with no v1 hugetlb
        hierarchy but hugetlb in the cgroup2 root's cgroup.controllers needs
        the container in the cgroup2 hierarchy too (with_unified)."""
        if not (linux.get("resources") or {}).get("hugepageLimits"):
            return False
        if "hugetlb" in mounts or UNIFIED not in mounts:
            return False
        from pyruntime.cgroups import v1_resources

        return v1_resources.unified_offers(mounts[UNIFIED], "hugetlb")

    # -- create / apply / join ---------------------------------------------------------
    def create(self) -> None:
        """mkdir the container's cgroup in every hierarchy, remembering what we made."""
        for ctrl, path in self.paths.items():
            missing: list[str] = []
            p = path
            while not os.path.isdir(p):
                missing.append(p)
                p = os.path.dirname(p)
            for d in reversed(missing):
                try:
                    os.mkdir(d, 0o755)
                    self.created.append(d)
                except FileExistsError:
                    pass  # a parallel create made it: it may not have filled cpuset yet
                if ctrl == "cpuset":
                    self._inherit_cpuset(d)

    @staticmethod
    def _inherit_cpuset(d: str) -> None:
        # A new v1 cpuset has no cpus or mems; joining it fails with ENOSPC
        # until they are copied from the parent. A parent that a parallel
        # create has just made may still be empty too: fill each empty level
        # from the nearest filled ancestor down (runc's ensureParent copies
        # at every level the same way).
        for f in ("cpuset.cpus", "cpuset.mems"):
            _fill_from_ancestors(d, f)

    def check_not_frozen(self) -> None:
        """A container placed in a frozen cgroup would never run: its init
        would sit frozen and `create` wait for it forever."""
        p = self.paths.get("freezer")
        if p and _read_or(os.path.join(p, "freezer.state"), "").strip() in ("FROZEN", "FREEZING"):
            raise PyruntimeError(f"linux.cgroupsPath: cgroup {p} is frozen; thaw it or use another path",
                                 field="linux.cgroupsPath", path=p)

    def apply(self, resources: dict[str, Any] | None) -> None:
        """Write the limits of linux.resources this version supports."""
        res = resources or {}
        if res.get("unified") and UNIFIED not in self.paths:
            raise PyruntimeError("linux.resources.unified: cgroup v2 files cannot be set on a cgroup v1 host "
                                 "(runc: cannot use unified on cgroup v1)", field="linux.resources.unified")
        mem = res.get("memory") or {}
        mpath = self.paths.get("memory")
        if mem and mpath:
            self._set_memory_and_swap(mpath, mem.get("limit"), mem.get("swap"))
            if mem.get("reservation") is not None:
                self._set(mpath, "memory.soft_limit_in_bytes", mem["reservation"],
                          "linux.resources.memory.reservation")
        # the less common limits: imported only for a config that has them
        # (~50 KiB of create's memory); only create and update, never a child
        if mem or any(res.get(k) for k in ("cpu", "blockIO", "network", "rdma", "hugepageLimits")):
            from pyruntime.cgroups import v1_resources
        if mem:
            v1_resources.apply_memory_extra(self.paths, mem, self._set)
        if res.get("cpu"):
            v1_resources.apply_cpu(self.paths, res["cpu"], self._set)
        if res.get("blockIO"):
            v1_resources.apply_block_io(self.paths, res["blockIO"], self._set)
        if res.get("network"):
            v1_resources.apply_network(self.paths, res["network"], self._set)
        if res.get("rdma"):
            v1_resources.apply_rdma(self.paths, res["rdma"], self._set)
        if res.get("hugepageLimits"):
            v1_resources.apply_hugetlb(self.paths, res["hugepageLimits"], self._set)
        pids = res.get("pids") or {}
        if pids.get("limit") is not None and self.paths.get("pids"):
            lim = int(pids["limit"])  # runtime-spec 1.3: 0 is a limit (no new task); -1 is none
            self._set(self.paths["pids"], "pids.max", "max" if lim < 0 else lim,
                      "linux.resources.pids.limit")
        dpath = self.paths.get("devices")
        if dpath:
            for fname, line in v1_writes(res.get("devices") or [], DEFAULT_ALLOWED):
                self._set(dpath, fname, line, "linux.resources.devices")
        if res.get("unified"):
            # last, as runc 1.2 and crun: a unified file wins over the same file set above
            from pyruntime.cgroups import unified

            unified.apply(self.paths[UNIFIED], res["unified"], self._unified_mount())

    def _unified_mount(self) -> str:
        from pyruntime.cgroups.v1_resources import _mount_of

        return _mount_of(self.paths[UNIFIED])

    def _set_memory_and_swap(self, mpath: str, limit: Any, swap: Any) -> None:
        """memory.limit_in_bytes and memory.memsw.limit_in_bytes (runc's
        setMemoryAndSwap). The kernel keeps memsw >= limit (EINVAL otherwise),
        so memsw goes first when it is raised (-1, or above the limit in
        force), else the limit first. Limit -1 with no swap: memsw -1 too
        (where the kernel has swap accounting), as runc."""
        memsw = "memory.memsw.limit_in_bytes"
        if limit == -1 and not swap and os.path.exists(os.path.join(mpath, memsw)):
            swap = -1
        writes = [("memory.limit_in_bytes", limit, "linux.resources.memory.limit"),
                  (memsw, swap, "linux.resources.memory.swap")]
        if limit and swap:
            try:
                cur = int(_read(os.path.join(mpath, "memory.limit_in_bytes")))
            except (OSError, ValueError):
                cur = 0
            if swap == -1 or cur < int(swap):
                writes.reverse()
        for fname, value, fld in writes:
            if value is not None and value != 0:  # 0: not set (runc)
                self._set(mpath, fname, value, fld)

    def check_memory_usage(self, limit: int) -> None:
        """memory.checkBeforeUpdate (runtime-spec 1.1, runc's CheckMemoryUsage):
        refuse a new memory limit at or below the current usage, before anything
        is written, so the old limit stays. v1: memory.usage_in_bytes;
        cgroup2: memory.current."""
        if limit <= 0:
            return
        fld = "linux.resources.memory.checkBeforeUpdate"
        p, fname = self.paths.get("memory"), "memory.usage_in_bytes"
        if not p:
            p, fname = self.paths.get(UNIFIED), "memory.current"
        if not p:
            raise PyruntimeError(f"{fld}: no memory cgroup to read the usage from", field=fld)
        try:
            usage = int(_read(os.path.join(p, fname)))
        except (OSError, ValueError) as e:
            raise PyruntimeError(f"{fld}: reading {p}/{fname}: {e}", field=fld, path=f"{p}/{fname}") from None
        if usage >= limit:
            raise PyruntimeError(f"linux.resources.memory.limit: rejecting memory limit {limit} below usage "
                                 f"{usage} ({fname} of {p}; memory.checkBeforeUpdate is set)",
                                 field="linux.resources.memory.limit", path=f"{p}/{fname}")

    @staticmethod
    def _set(path: str, fname: str, value: Any, field: str) -> None:
        v = str(value)
        if fname.startswith("memory.") and value == -1:
            v = "-1"
        try:
            _write(os.path.join(path, fname), v)
        except OSError as e:
            raise PyruntimeError(f"{field}: writing {v!r} to {path}/{fname}: {os.strerror(e.errno or 0)}",
                                 field=field, path=f"{path}/{fname}", errno=e.errno) from None

    def fork(self) -> int:
        """fork(2) for the process that then joins the container's cgroups
        (create's intermediate, exec's tenant), born in its cgroup2 directory
        where there is one (clone3 CLONE_INTO_CGROUP, Linux 5.7). Writing
        cgroup.procs takes the global cgroup_threadgroup_rwsem for writing:
        rcu_sync_enter waits an RCU grace period unless another writer came
        within the last one (~11 ms median measured on a 6.18 hybrid host);
        clone3 takes it for reading (~0.2 ms over fork). Where clone3 fails
        (an old kernel, a cgroup it refuses), fork(2), and join_self writes
        cgroup.procs (reporting the cgroup's refusal, if any)."""
        p = self.paths.get(UNIFIED)
        if p:
            from pyruntime import syscalls as sc

            pid = sc.fork_into_cgroup_dir(p)
            if pid >= 0:
                if pid == 0:
                    self.born_inside = p
                return pid
        return os.fork()

    def join_self(self) -> None:
        """Move the calling (single-threaded) process into every hierarchy's cgroup.

        On v1 it writes "0" to `tasks`: moving only the calling thread skips
        the global threadgroup rwsem whose first write lock waits an RCU grace
        period (~11 ms); cgroup.procs would take it. cgroup2 has no `tasks`
        (outside threaded subtrees): a process fork() had born inside skips
        it, else it writes cgroup.procs and pays that wait."""
        for ctrl, path in self.paths.items():
            if path != self.born_inside:
                _write(os.path.join(path, "cgroup.procs" if ctrl == UNIFIED else "tasks"), "0")

    # -- processes ---------------------------------------------------------------
    def _procs_path(self) -> str | None:
        for ctrl in ("freezer", "pids", "memory", "devices", UNIFIED):
            p = self.paths.get(ctrl)
            if p and os.path.isdir(p):
                return p
        return None

    def procs(self) -> list[int]:
        """Every process in the container's cgroup and the sub-cgroups in it
        (runc's GetAllPids walks the subtree: a container with a cgroup
        namespace may make its own)."""
        p = self._procs_path()
        return self._pids_in(_tree(p)) if p is not None else []

    @staticmethod
    def _pids_in(dirs: list[str]) -> list[int]:
        out: list[int] = []
        for d in dirs:
            try:
                out += [int(x) for x in _read(os.path.join(d, "cgroup.procs")).split()]
            except OSError:
                continue  # removed meanwhile
        return out

    def freeze(self, frozen: bool) -> bool:
        """Freeze or thaw through the v1 freezer; False when there is none."""
        p = self.paths.get("freezer")
        if not p or not os.path.isdir(p):
            return False
        want = "FROZEN" if frozen else "THAWED"
        _write(os.path.join(p, "freezer.state"), want)
        for _ in range(1000):
            if _read(os.path.join(p, "freezer.state")).strip() == want:
                return True
            time.sleep(0.001)
        return True

    def signal_all(self, sig: int) -> None:
        """Signal every process of the container. Frozen meanwhile so that no
        process forks a child we would miss."""
        frozen = self.freeze(True)
        try:
            for pid in self.procs():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if frozen:
                self.freeze(False)

    def destroy(self) -> None:
        """Kill what is left and remove the container's own cgroups, as runc
        1.1.5's RemovePaths does: the leaves create made and the sub-cgroups
        in them (children first), never the parents on the way (even those we
        made). A parent is shared by the pod's other containers: removing it
        when it looks empty races with a create that has just made it and is
        about to mkdir its own leaf in it.

        Every directory is tried (runc's RemovePaths goes on past a failure);
        what stays busy is named in the PyruntimeError raised at the end."""
        dirs = [d for leaf in self.own_created() for d in _tree(leaf)]
        if self.procs():
            self.signal_all(signal.SIGKILL)
        self._thaw_subs(dirs)
        left = self._rmdir_all(list(reversed(dirs)), attempts=self.RMDIR_ATTEMPTS)
        if left:
            busy = " (a process that could not be killed is still inside)" if any(
                why == os.strerror(errno.EBUSY) for why in left.values()) else ""
            raise PyruntimeError("; ".join(f"removing cgroup {d}: {why}" for d, why in left.items()) + busy,
                                 path=next(iter(left)))
        self.created = []

    def _kill_left(self, dirs: list[str]) -> None:
        """For directories found busy: SIGKILL every process in the
        container's cgroups again (through the freezer, so none forks past
        us), and what is in dirs on any hierarchy (a process moved in from
        outside), then thaw the sub-cgroups frozen on their own."""
        if self.procs():
            self.signal_all(signal.SIGKILL)
        for pid in self._pids_in(dirs):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._thaw_subs(dirs)

    def _thaw_subs(self, dirs: list[str]) -> None:
        """A v1 FROZEN cgroup stays frozen when its parent is thawed, and a
        frozen task does not die of SIGKILL until it is thawed: its cgroup
        would stay busy forever."""
        top = self.paths.get("freezer")
        for d in dirs:
            if top and d.startswith(top + "/"):
                f = os.path.join(d, "freezer.state")
                if _read_or(f, "THAWED").strip() != "THAWED":
                    try:
                        _write(f, "THAWED")
                    except OSError:
                        pass  # removed meanwhile

    def own_created(self) -> list[str]:
        """The created directories that are a leaf of ours, parents first."""
        leaves = set(self.paths.values())
        return [d for d in self.created if d in leaves]

    def _rmdir_all(self, dirs: list[str], attempts: int) -> dict[str, str]:
        """rmdir each, children before parents, in rounds over those left (as
        runc's RemovePaths), waiting out EBUSY (killed processes still being
        torn down: a cgroup with a process or a child cgroup in it refuses
        with EBUSY), killing again now and then. Returns what is left, with
        why."""
        left = list(dirs)
        failed: dict[str, str] = {}  # an error other than EBUSY: not retried
        busy = ""
        for attempt in range(attempts):
            still: list[str] = []
            for d in left:
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    if e.errno == errno.EBUSY:
                        still.append(d)
                        busy = os.strerror(e.errno)
                    else:
                        failed[d] = os.strerror(e.errno or 0)
            left = still
            if not left:
                break
            if attempt % 20 == 0:
                self._kill_left(left)
            time.sleep(0.005)
        return failed | dict.fromkeys(left, busy)


def _tree(top: str) -> list[str]:
    """top and every cgroup below it, parents first ([] when top is gone).
    A kernfs directory's st_nlink is 2 + its subdirectories: one stat tells
    a leaf without sub-cgroups (nearly always) from one to walk (~0.2 ms a
    directory: delete looks at one per hierarchy)."""
    try:
        st = os.stat(top)
    except OSError:
        return []
    if st.st_nlink <= 2:
        return [top]
    return [d for d, _subdirs, _files in os.walk(top)]
