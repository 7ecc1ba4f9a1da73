"""Let the container open the device nodes the hook gave it.

cgroup v1: one `c <major>:<minor> rw` line per node in the container's
devices.allow (libnvidia-container writes the same).

cgroup v2 has no devices file: the kernel runs the BPF_PROG_TYPE_CGROUP_DEVICE
programs attached to the cgroup (and its ancestors), and allows an access
only if every one returns 1. As libnvidia-container does
(src/nvcgo/internal/cgroup/v2.go), each program attached to the container's
cgroup is read back (BPF_OBJ_GET_INFO_BY_FD: its instructions as the kernel
keeps them), a block allowing our nodes is put in front of it, the result is
loaded and attached, and the old one detached. The block reads the context
(R1: struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor})
into R2..R5 and uses R0 as scratch, and leaves R1 alone, so the old program
runs unchanged after it: its jumps are relative and it reloads what it needs
from R1. With no program attached there is nothing to extend (v2 restricts
nothing by default). The program is runc's / pyruntime's own encoding
(pyruntime/cgroups/ebpf.py), so the same helpers load and attach it.

Which to change: the v1 devices cgroup when the container has one; its
cgroup2 cgroup on a cgroup2-only host, or on a hybrid host when that cgroup
has the same path as its v1 devices cgroup (then the runtime made it for this
container, and a device program there is the container's own).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from hooks.nvidia.driver import Node
from hooks.nvidia.errors import HookError
from pyruntime import syscalls as sc
from pyruntime.cgroups import ebpf
from pyruntime.cgroups.hierarchy import UNIFIED, hierarchies
from pyruntime.errors import PyruntimeError
from pyruntime.state.procfs import parse_proc_cgroup

BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_GET_FD_BY_ID = 13
_ACC_RW = ebpf.BPF_DEVCG_ACC_READ | ebpf.BPF_DEVCG_ACC_WRITE
_JNE_K, _JNE_X, _MOV_K, _MOV_X, _AND_K, _RSH_K, _LDX_W, _EXIT = 0x55, 0x5D, 0xB4, 0xBC, 0x54, 0x74, 0x61, 0x95

Undo = Callable[[], None]


def prefix(nodes: list[Node]) -> bytes:
    """Instructions that return 1 for a read/write of one of `nodes` (char
    devices) and fall through to what follows otherwise."""
    i = ebpf._insn
    code = [i(_LDX_W, dst=2, src=1, off=0), i(_AND_K, dst=2, imm=0xFFFF),   # R2 = device type
            i(_LDX_W, dst=3, src=1, off=0), i(_RSH_K, dst=3, imm=16),       # R3 = access
            i(_LDX_W, dst=4, src=1, off=4), i(_LDX_W, dst=5, src=1, off=8)]  # R4, R5 = major, minor
    for n in nodes:
        # (op, dst, src, imm); each jump skips to the next block on a mismatch
        tests = [(_JNE_K, 2, 0, ebpf.BPF_DEVCG_DEV_CHAR),
                 (_MOV_X, 0, 3, 0), (_AND_K, 0, 0, _ACC_RW), (_JNE_X, 0, 3, 0),  # access ⊆ rw
                 (_JNE_K, 4, 0, n.major), (_JNE_K, 5, 0, n.minor)]
        size = len(tests) + 2
        for k, (op, dst, src, imm) in enumerate(tests):
            off = size - k - 1 if op in (_JNE_K, _JNE_X) else 0
            code.append(i(op, dst=dst, src=src, off=off, imm=imm))
        code += [i(_MOV_K, dst=0, imm=1), i(_EXIT)]
    return b"".join(code)


def cgroup_dirs(pid: int, mounts: dict[str, str] | None = None) -> tuple[str | None, str | None]:
    """(v1 devices cgroup dir, cgroup2 dir to extend) of process pid."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            cg = parse_proc_cgroup(f.read())
    except OSError as e:
        raise HookError(f"/proc/{pid}/cgroup: {os.strerror(e.errno or 0)} (is the container's pid right?)") \
            from None
    mounts = hierarchies() if mounts is None else mounts
    v1 = os.path.join(mounts["devices"], cg["devices"].lstrip("/")) \
        if "devices" in cg and "devices" in mounts else None
    v2 = None
    if "" in cg and UNIFIED in mounts and ("devices" not in cg or cg["devices"] == cg[""]):
        v2 = os.path.join(mounts[UNIFIED], cg[""].lstrip("/"))
    return v1, v2


def allow(pid: int, nodes: list[Node]) -> Undo:
    """Allow rw on each node for the container whose init is pid; returns
    what undoes it."""
    v1, v2 = cgroup_dirs(pid)
    undos: list[Undo] = []
    try:
        if v1 is not None:
            undos.append(_allow_v1(v1, nodes))
        if v2 is not None:
            undos.append(_allow_v2(v2, nodes))
    except BaseException:
        _run(undos)
        raise
    return lambda: _run(undos)


def _run(undos: list[Undo]) -> None:
    for u in reversed(undos):
        try:
            u()
        except (OSError, HookError, PyruntimeError):
            pass


def _allow_v1(d: str, nodes: list[Node]) -> Undo:
    done: list[str] = []

    def undo() -> None:
        for line in reversed(done):
            with open(os.path.join(d, "devices.deny"), "w") as f:
                f.write(line)

    for n in nodes:
        line = f"c {n.major}:{n.minor} rw"
        try:
            with open(os.path.join(d, "devices.allow"), "w") as f:
                f.write(line)
        except OSError as e:
            undo()
            raise HookError(f"{d}/devices.allow: writing {line!r}: {os.strerror(e.errno or 0)}") from None
        done.append(line)
    return undo


# ---------------------------------------------------------------- cgroup v2

def _query(cg_fd: int) -> tuple[int, list[int]]:
    """(attach flags, ids of the device programs attached to this cgroup)."""
    ids = bytearray(4 * 64)
    attr = bytearray(40)
    struct.pack_into("<IIIIQI", attr, 0, cg_fd, ebpf.BPF_CGROUP_DEVICE, 0, 0, ebpf._addr(ids), 64)
    sc.sys().bpf(ebpf.BPF_PROG_QUERY, attr)
    flags, count = struct.unpack_from("<I", attr, 12)[0], struct.unpack_from("<I", attr, 24)[0]
    return flags, list(struct.unpack_from(f"<{min(count, 64)}I", ids))


def _prog_fd(prog_id: int) -> int:
    attr = bytearray(12)
    struct.pack_into("<I", attr, 0, prog_id)
    return sc.sys().bpf(BPF_PROG_GET_FD_BY_ID, attr)


def instructions(prog_fd: int) -> bytes:
    """A loaded program's instructions as the kernel keeps them (xlated).
    struct bpf_prog_info: ... u32 xlated_prog_len at 20, u64 xlated_prog_insns at 32."""
    info = bytearray(40)
    attr = bytearray(16)
    struct.pack_into("<IIQ", attr, 0, prog_fd, len(info), ebpf._addr(info))
    sc.sys().bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    n = struct.unpack_from("<I", info, 20)[0]
    buf = bytearray(n)
    info = bytearray(40)
    struct.pack_into("<I", info, 20, n)
    struct.pack_into("<Q", info, 32, ebpf._addr(buf))
    struct.pack_into("<IIQ", attr, 0, prog_fd, len(info), ebpf._addr(info))
    sc.sys().bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    return bytes(buf)


def _attach(cg_fd: int, prog_fd: int, flags: int) -> None:
    attr = bytearray(20)
    struct.pack_into("<IIII", attr, 0, cg_fd, prog_fd, ebpf.BPF_CGROUP_DEVICE, flags)
    sc.sys().bpf(ebpf.BPF_PROG_ATTACH, attr)


def _detach(cg_fd: int, prog_fd: int) -> None:
    attr = bytearray(20)
    struct.pack_into("<III", attr, 0, cg_fd, prog_fd, ebpf.BPF_CGROUP_DEVICE)
    sc.sys().bpf(ebpf.BPF_PROG_DETACH, attr)


def _allow_v2(d: str, nodes: list[Node]) -> Undo:
    try:
        cg_fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise HookError(f"{d}: {os.strerror(e.errno or 0)}") from None
    # (old fd, new fd) pairs swapped so far
    swapped: list[tuple[int, int]] = []
    fds: list[int] = []
    multi = True

    def undo() -> None:
        for old, new in reversed(swapped):
            try:
                if multi:
                    _attach(cg_fd, old, ebpf.BPF_F_ALLOW_MULTI)
                    _detach(cg_fd, new)
                else:
                    _attach(cg_fd, old, 0)
            except OSError:
                pass
        for fd in fds + [cg_fd]:
            os.close(fd)

    try:
        flags, ids = _query(cg_fd)
        multi = bool(flags & ebpf.BPF_F_ALLOW_MULTI)
        head = prefix(nodes)
        for prog_id in ids:
            old = _prog_fd(prog_id)
            fds.append(old)
            new = ebpf.load(head + instructions(old), "pyrt_nvidia")
            fds.append(new)
            _attach(cg_fd, new, ebpf.BPF_F_ALLOW_MULTI if multi else flags)
            if multi:
                _detach(cg_fd, old)
            swapped.append((old, new))
    except (OSError, PyruntimeError) as e:
        undo()
        msg = e.msg if isinstance(e, PyruntimeError) else os.strerror(e.errno or 0)
        raise HookError(f"{d}: extending the cgroup v2 device program: {msg}") from None
    return undo
