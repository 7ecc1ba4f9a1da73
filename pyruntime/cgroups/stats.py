"""Resource usage of a container read from its cgroup files, in the shape
`runc events` prints (runc types/events.go `Stats`, filled as runc 1.1's
libcontainer/cgroups/fs GetStats (v1), fs2 GetStats (v2) and events.go
convertLibcontainerStats do), and OOM notification: on v1 through
memory.oom_control + cgroup.event_control, on v2 from the `oom_kill` counter
of memory.events (a cgroup2 event file: poll() reports POLLPRI when it
changes).

Key order and omitted zero values follow Go's encoding of those structs:
`omitempty` drops 0, "" and empty lists; nested structs are always there.
"""

from __future__ import annotations

import os
import select

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

U64_MAX = (1 << 64) - 1
CLOCK_TICKS = 100  # USER_HZ, as runc hard-codes it
HUGEPAGES_DIR = "/sys/kernel/mm/hugepages"

# runc's order of blkio sources: the first file of a group that has data wins the group
_BLKIO_KEYS = ("ioServiceBytesRecursive", "ioServicedRecursive", "ioQueueRecursive",
               "ioServiceTimeRecursive", "ioWaitTimeRecursive", "ioMergedRecursive",
               "ioTimeRecursive", "sectorsRecursive")
_BLKIO_GROUPS: list[list[tuple[str, str]]] = [
    [("blkio.bfq.sectors_recursive", "sectorsRecursive"),
     ("blkio.bfq.io_service_time_recursive", "ioServiceTimeRecursive"),
     ("blkio.bfq.io_wait_time_recursive", "ioWaitTimeRecursive"),
     ("blkio.bfq.io_merged_recursive", "ioMergedRecursive"),
     ("blkio.bfq.io_queued_recursive", "ioQueueRecursive"),
     ("blkio.bfq.time_recursive", "ioTimeRecursive"),
     ("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive")],
    [("blkio.bfq.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.bfq.io_service_bytes_recursive", "ioServiceBytesRecursive")],
    [("blkio.sectors_recursive", "sectorsRecursive"),
     ("blkio.io_service_time_recursive", "ioServiceTimeRecursive"),
     ("blkio.io_wait_time_recursive", "ioWaitTimeRecursive"),
     ("blkio.io_merged_recursive", "ioMergedRecursive"),
     ("blkio.io_queued_recursive", "ioQueueRecursive"),
     ("blkio.time_recursive", "ioTimeRecursive"),
     ("blkio.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.io_service_bytes_recursive", "ioServiceBytesRecursive")],
    [("blkio.throttle.io_serviced_recursive", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes_recursive", "ioServiceBytesRecursive")],
    [("blkio.throttle.io_serviced", "ioServicedRecursive"),
     ("blkio.throttle.io_service_bytes", "ioServiceBytesRecursive")],
]


class StatsError(Exception):
    """A cgroup file that should be there could not be read or parsed."""


# -- value parsing (runc fscommon) ------------------------------------------------
def parse_uint(s: str) -> int:
    """fscommon.ParseUint: negative values are 0; "max" is the largest uint64."""
    s = s.strip()
    if s == "max":
        return U64_MAX
    try:
        v = int(s, 10)
    except ValueError:
        raise StatsError(f"unable to parse {s!r} as a uint") from None
    if v < 0:
        return 0
    if v > U64_MAX:
        raise StatsError(f"value {s!r} out of range")
    return v


def _read(d: str, name: str) -> str:
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except OSError as e:
        raise StatsError(f"read {d}/{name}: {os.strerror(e.errno or 0)}") from None


def _read_opt(d: str, name: str) -> str | None:
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StatsError(f"read {d}/{name}: {os.strerror(e.errno or 0)}") from None


def _uint(d: str, name: str) -> int:
    return parse_uint(_read(d, name))


def parse_key_values(text: str) -> dict[str, int]:
    """Lines of "key value" (memory.stat, cpu.stat)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            if parts:
                raise StatsError(f"line {line!r} is not 'key value'")
            continue
        out[parts[0]] = parse_uint(parts[1])
    return out


def parse_range_list(text: str) -> list[int]:
    """cpuset lists: "0-3,8,10-11" -> [0, 1, 2, 3, 8, 10, 11]."""
    out: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise StatsError(f"invalid cpuset list {text.strip()!r}") from None
        out.extend(range(a, b + 1))
    return out


def _omit_zero(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (0, "", [], None)}


# -- one controller each -------------------------------------------------------
def cpu_usage(cpuacct: str | None) -> dict[str, Any]:
    total = kernel = user = 0
    percpu: list[int] = []
    p_kernel: list[int] = []
    p_user: list[int] = []
    if cpuacct and os.path.isdir(cpuacct):
        fields = _read(cpuacct, "cpuacct.stat").split()
        if len(fields) < 4 or fields[0] != "user" or fields[2] != "system":
            raise StatsError(f"{cpuacct}/cpuacct.stat: unexpected format")
        user = parse_uint(fields[1]) * 1_000_000_000 // CLOCK_TICKS
        kernel = parse_uint(fields[3]) * 1_000_000_000 // CLOCK_TICKS
        total = _uint(cpuacct, "cpuacct.usage")
        percpu = [parse_uint(x) for x in _read(cpuacct, "cpuacct.usage_percpu").split()]
        usage_all = _read_opt(cpuacct, "cpuacct.usage_all")
        for line in (usage_all or "").splitlines()[1:]:
            cols = line.split(" ")
            if len(cols) != 3:
                continue
            p_kernel.append(parse_uint(cols[2]))
            p_user.append(parse_uint(cols[1]))
    usage = _omit_zero({"total": total, "percpu": percpu, "percpu_kernel": p_kernel,
                        "percpu_user": p_user})
    usage["kernel"] = kernel
    usage["user"] = user
    return usage


def cpu_throttling(cpu: str | None) -> dict[str, Any]:
    st: dict[str, int] = {}
    if cpu and os.path.isdir(cpu):
        text = _read_opt(cpu, "cpu.stat")
        st = parse_key_values(text) if text else {}
    return _omit_zero({"periods": st.get("nr_periods", 0),
                       "throttledPeriods": st.get("nr_throttled", 0),
                       "throttledTime": st.get("throttled_time", 0)})


def cpuset(path: str | None) -> dict[str, Any]:
    v: dict[str, Any] = {}
    if path and os.path.isdir(path):
        def n(name: str) -> int:
            return _uint(path, name)

        v = {
            "cpus": parse_range_list(_read(path, "cpuset.effective_cpus")),
            "cpu_exclusive": n("cpuset.cpu_exclusive"),
            "mems": parse_range_list(_read(path, "cpuset.effective_mems")),
            "mem_hardwall": n("cpuset.mem_hardwall"),
            "mem_exclusive": n("cpuset.mem_exclusive"),
            "memory_migrate": n("cpuset.memory_migrate"),
            "memory_spread_page": n("cpuset.memory_spread_page"),
            "memory_spread_slab": n("cpuset.memory_spread_slab"),
            "memory_pressure": n("cpuset.memory_pressure"),
            "sched_load_balance": n("cpuset.sched_load_balance"),
            "sched_relax_domain_level": int(_read(path, "cpuset.sched_relax_domain_level").strip()
                                            or 0),
        }
    out: dict[str, Any] = {}
    for key in ("cpus", "cpu_exclusive", "mems", "mem_hardwall", "mem_exclusive", "memory_migrate",
                "memory_spread_page", "memory_spread_slab", "memory_pressure", "sched_load_balance",
                "sched_relax_domain_level"):
        val = v.get(key, [] if key in ("cpus", "mems") else 0)
        if key in ("cpus", "mems") and not val:
            continue  # omitempty
        out[key] = val
    return out


def _memory_entry(path: str, prefix: str, optional: bool) -> dict[str, Any]:
    usage_text = _read_opt(path, f"{prefix}.usage_in_bytes")
    if usage_text is None:
        if optional:  # swap and kmem accounting are optional in the kernel
            return {"limit": 0, "failcnt": 0}
        raise StatsError(f"{path}/{prefix}.usage_in_bytes: no such file")
    usage = parse_uint(usage_text)
    mx = _uint(path, f"{prefix}.max_usage_in_bytes")
    failcnt = _uint(path, f"{prefix}.failcnt")
    limit = _uint(path, f"{prefix}.limit_in_bytes")
    out: dict[str, Any] = {"limit": limit}
    if usage:
        out["usage"] = usage
    if mx:
        out["max"] = mx
    out["failcnt"] = failcnt
    return out


def memory(path: str | None) -> dict[str, Any]:
    empty = {"limit": 0, "failcnt": 0}
    if not path or not os.path.isdir(path):
        return {"usage": dict(empty), "swap": dict(empty), "kernel": dict(empty),
                "kernelTCP": dict(empty)}
    raw_text = _read_opt(path, "memory.stat")
    raw = parse_key_values(raw_text) if raw_text is not None else {}
    out: dict[str, Any] = {}
    if raw.get("cache"):
        out["cache"] = raw["cache"]
    out["usage"] = _memory_entry(path, "memory", False)
    out["swap"] = _memory_entry(path, "memory.memsw", True)
    out["kernel"] = _memory_entry(path, "memory.kmem", True)
    out["kernelTCP"] = _memory_entry(path, "memory.kmem.tcp", True)
    if raw:
        out["raw"] = dict(sorted(raw.items()))
    return out


def pids(path: str | None) -> dict[str, Any]:
    if not path or not os.path.isdir(path):
        return {}
    current = _uint(path, "pids.current")
    mx = _read(path, "pids.max").strip()
    limit = 0 if mx == "max" else parse_uint(mx)
    return _omit_zero({"current": current, "limit": limit})


def parse_blkio(text: str) -> list[dict[str, Any]]:
    """Lines "MAJ:MIN Op value" or "MAJ:MIN value"; "Total N" lines are skipped."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        fields = line.replace(":", " ").split()
        if not fields:
            continue
        if len(fields) < 3:
            if len(fields) == 2 and fields[0] == "Total":
                continue
            raise StatsError(f"invalid blkio line {line!r}")
        op = fields[2] if len(fields) == 4 else ""
        value = fields[3] if len(fields) == 4 else fields[2]
        try:
            major, minor, v = int(fields[0]), int(fields[1]), int(value)
        except ValueError:
            raise StatsError(f"invalid blkio line {line!r}") from None
        out.append(_omit_zero({"major": major, "minor": minor, "op": op, "value": v}))
    return out


def blkio(path: str | None) -> dict[str, Any]:
    found: dict[str, list[dict[str, Any]]] = {}
    if path and os.path.isdir(path):
        for group in _BLKIO_GROUPS:
            done = False
            for i, (fname, key) in enumerate(group):
                text = _read_opt(path, fname)
                entries = parse_blkio(text) if text else []
                if not entries:
                    # runc: nothing in the group's first file -> try the next group;
                    # nothing in a later one -> stop with what was found
                    done = i != 0
                    break
                found[key] = entries
                if i == len(group) - 1:
                    done = True
            if done:
                break
    return {k: found[k] for k in _BLKIO_KEYS if found.get(k)}


def hugepage_sizes(root: str = HUGEPAGES_DIR) -> list[str]:
    """The host's huge page sizes as runc names them: "2MB", "1GB"."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    out: list[str] = []
    for n in names:
        if not (n.startswith("hugepages-") and n.endswith("kB")):
            continue
        try:
            size = float(int(n[len("hugepages-"):-2]) * 1024)
        except ValueError:
            continue
        units = ["B", "KB", "MB", "GB", "TB", "PB"]
        i = 0
        while size >= 1024 and i < len(units) - 1:
            size /= 1024
            i += 1
        out.append(f"{size:g}{units[i]}")
    return sorted(out)


def hugetlb(path: str | None, sizes: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not path or not os.path.isdir(path):
        return out
    for size in sizes if sizes is not None else hugepage_sizes():
        pre = f"hugetlb.{size}"
        if _read_opt(path, f"{pre}.usage_in_bytes") is None:
            continue
        entry = _omit_zero({"usage": _uint(path, f"{pre}.usage_in_bytes"),
                            "max": _uint(path, f"{pre}.max_usage_in_bytes")})
        entry["failcnt"] = _uint(path, f"{pre}.failcnt")
        out[size] = entry
    return dict(sorted(out.items()))


def read_stats(paths: dict[str, str]) -> dict[str, Any]:
    """runc's types.Stats for a container whose v1 cgroups are `paths`
    ({controller: directory}, the Manager's paths)."""
    return {
        "cpu": {"usage": cpu_usage(paths.get("cpuacct")),
                "throttling": cpu_throttling(paths.get("cpu"))},
        "cpuset": cpuset(paths.get("cpuset")),
        "memory": memory(paths.get("memory")),
        "pids": pids(paths.get("pids")),
        "blkio": blkio(paths.get("blkio")),
        "hugetlb": hugetlb(paths.get("hugetlb")),
        "intel_rdt": {},
        "network_interfaces": None,
    }


# -- OOM notification (v1) ---------------------------------------------------------
class OomNotifier:
    """An eventfd registered on memory.oom_control through cgroup.event_control:
    it becomes readable on each OOM in the cgroup, and once more when the
    cgroup is removed (then `gone` is true)."""

    poll_mask = select.POLLIN

    def __init__(self, memory_path: str) -> None:
        self.path = memory_path
        self.control = os.path.join(memory_path, "cgroup.event_control")
        self.efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            self._ofd = os.open(os.path.join(memory_path, "memory.oom_control"),
                                os.O_RDONLY | os.O_CLOEXEC)
            try:
                fd = os.open(self.control, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, f"{self.efd} {self._ofd}".encode())
                finally:
                    os.close(fd)
            except OSError:
                os.close(self._ofd)
                raise
        except OSError:
            os.close(self.efd)
            raise

    def fileno(self) -> int:
        return self.efd

    def read(self) -> int:
        """How many notifications arrived since the last read (0 if none)."""
        try:
            return int(os.eventfd_read(self.efd))
        except BlockingIOError:
            return 0

    @property
    def gone(self) -> bool:
        return not os.path.lexists(self.control)

    def close(self) -> None:
        for fd in (self.efd, self._ofd):
            try:
                os.close(fd)
            except OSError:
                pass


# -- cgroup v2 (runc fs2) ------------------------------------------------------------
def cpu_v2(path: str) -> dict[str, Any]:
    """cpu.stat (there even without the cpu controller): *_usec in ns."""
    text = _read_opt(path, "cpu.stat")
    st = parse_key_values(text) if text else {}
    usage = _omit_zero({"total": st.get("usage_usec", 0) * 1000})
    usage["kernel"] = st.get("system_usec", 0) * 1000
    usage["user"] = st.get("user_usec", 0) * 1000
    throttling = _omit_zero({"periods": st.get("nr_periods", 0),
                             "throttledPeriods": st.get("nr_throttled", 0),
                             "throttledTime": st.get("throttled_usec", 0) * 1000})
    return {"usage": usage, "throttling": throttling}


def _memory_data_v2(path: str, module: str) -> tuple[int, int] | None:
    """(usage, limit) from <module>.current and <module>.max; None when
    .current is missing (no swap accounting, for memory.swap)."""
    cur = _read_opt(path, f"{module}.current")
    if cur is None:
        return None
    return parse_uint(cur), _uint(path, f"{module}.max")


def memory_v2(path: str) -> dict[str, Any]:
    empty = {"limit": 0, "failcnt": 0}
    out: dict[str, Any] = {}
    raw_text = _read_opt(path, "memory.stat")
    if raw_text is None:  # no memory controller: runc leaves the zero values
        return {"usage": dict(empty), "swap": dict(empty), "kernel": dict(empty),
                "kernelTCP": dict(empty)}
    raw = parse_key_values(raw_text)
    if raw.get("file"):
        out["cache"] = raw["file"]
    mem = _memory_data_v2(path, "memory")
    if mem is None:
        raise StatsError(f"read {path}/memory.current: {os.strerror(2)}")
    swap = _memory_data_v2(path, "memory.swap") or (0, 0)
    # runc reports swap as memory+swap, as v1 does
    swap_usage = swap[0] + mem[0]
    swap_limit = swap[1] if swap[1] == U64_MAX else min(swap[1] + mem[1], U64_MAX)

    def entry(usage: int, limit: int) -> dict[str, Any]:
        e: dict[str, Any] = {"limit": limit}
        if usage:
            e["usage"] = usage
        e["failcnt"] = 0
        return e

    out["usage"] = entry(*mem)
    out["swap"] = entry(swap_usage, swap_limit)
    out["kernel"] = dict(empty)
    out["kernelTCP"] = dict(empty)
    if raw:
        out["raw"] = dict(sorted(raw.items()))
    return out


def pids_v2(path: str) -> dict[str, Any]:
    cur = _read_opt(path, "pids.current")
    if cur is None:  # no pids controller: count cgroup.procs, no limit
        return _omit_zero({"current": len(_read(path, "cgroup.procs").splitlines())})
    mx = _uint(path, "pids.max")
    return _omit_zero({"current": parse_uint(cur), "limit": 0 if mx == U64_MAX else mx})


_IO_OPS = {"rbytes": ("ioServiceBytesRecursive", "Read"),
           "wbytes": ("ioServiceBytesRecursive", "Write"),
           "rios": ("ioServicedRecursive", "Read"),
           "wios": ("ioServicedRecursive", "Write")}


def parse_io_stat(text: str) -> dict[str, Any]:
    """io.stat lines "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N"
    onto v1's tables: bytes -> ioServiceBytesRecursive, ios ->
    ioServicedRecursive, as Read/Write entries (the rest has no v1 name)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        mm = fields[0].split(":")
        if len(mm) != 2:
            continue
        try:
            major, minor = int(mm[0]), int(mm[1])
        except ValueError:
            raise StatsError(f"invalid io.stat line {line!r}") from None
        for item in fields[1:]:
            key, sep, val = item.partition("=")
            if not sep or key not in _IO_OPS:
                continue
            table, op = _IO_OPS[key]
            try:
                v = int(val)
            except ValueError:
                raise StatsError(f"invalid io.stat line {line!r}") from None
            found.setdefault(table, []).append(
                _omit_zero({"major": major, "minor": minor, "op": op, "value": v}))
    return {k: found[k] for k in _BLKIO_KEYS if found.get(k)}


def io_v2(path: str) -> dict[str, Any]:
    text = _read_opt(path, "io.stat")
    return parse_io_stat(text) if text else {}


def hugetlb_v2(path: str, sizes: list[str] | None = None) -> dict[str, Any]:
    """hugetlb.<size>.current (usage) and the "max" count of
    hugetlb.<size>.events (failcnt), for each huge page size of the host."""
    out: dict[str, Any] = {}
    for size in sizes if sizes is not None else hugepage_sizes():
        pre = f"hugetlb.{size}"
        cur = _read_opt(path, f"{pre}.current")
        if cur is None:  # no hugetlb controller here
            return {}
        events = parse_key_values(_read_opt(path, f"{pre}.events") or "")
        entry = _omit_zero({"usage": parse_uint(cur)})
        entry["failcnt"] = events.get("max", 0)
        out[size] = entry
    return dict(sorted(out.items()))


def read_stats_v2(path: str) -> dict[str, Any]:
    """runc's types.Stats for a container whose cgroup2 directory is `path`
    (runc 1.1 fs2: no cpuset or per-cpu figures, kernel memory not split out)."""
    return {
        "cpu": cpu_v2(path),
        "cpuset": cpuset(None),
        "memory": memory_v2(path),
        "pids": pids_v2(path),
        "blkio": io_v2(path),
        "hugetlb": hugetlb_v2(path),
        "intel_rdt": {},
        "network_interfaces": None,
    }


def oom_kills(memory_events: str) -> int:
    """The oom_kill count of a memory.events text (0 when absent)."""
    return parse_key_values(memory_events).get("oom_kill", 0)


class OomNotifierV2:
    """memory.events of a cgroup2 directory, kept open: poll() reports
    POLLPRI whenever the kernel changes it (kernfs_notify); read() tells how
    much oom_kill grew since the last look. Once the cgroup is removed the
    file reads ENODEV and `gone` is true."""

    poll_mask = select.POLLPRI

    def __init__(self, cgroup: str) -> None:
        self.path = cgroup
        self.fd = os.open(os.path.join(cgroup, "memory.events"), os.O_RDONLY | os.O_CLOEXEC)
        self._gone = False
        self.last = 0
        try:
            self.last = self._count()
        except OSError:
            os.close(self.fd)
            raise

    def _count(self) -> int:
        # a read re-arms poll(): it blocks again until the next change
        return oom_kills(os.pread(self.fd, 4096, 0).decode())

    def fileno(self) -> int:
        return self.fd

    def read(self) -> int:
        """1 when oom_kill grew since the last read (0 if not, or the cgroup is gone)."""
        try:
            n = self._count()
        except OSError:
            self._gone = True
            return 0
        grew = n > self.last
        self.last = n
        return 1 if grew else 0

    @property
    def gone(self) -> bool:
        return self._gone or not os.path.isdir(self.path)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
