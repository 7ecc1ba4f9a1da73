"""The device allow-list on cgroup v2: an eBPF program of type
BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's cgroup.

cgroup v2 has no devices controller. Instead the kernel runs every
CGROUP_DEVICE program attached to the cgroup and its ancestors on each
open/mknod of a device node, with a `struct bpf_cgroup_dev_ctx`:

    u32 access_type   low 16 bits: BPF_DEVCG_DEV_BLOCK 1 / _CHAR 2
                      high 16 bits: BPF_DEVCG_ACC_MKNOD 1 | _READ 2 | _WRITE 4
    u32 major
    u32 minor

and allows the access only if every program returns 1.

The program is runc's devicefilter: load the four fields into R2..R5, then
one block per rule, the *last* rule first, so that the first block that
matches is the last matching rule (later rules win, as in the v1 list);
each block falls through to the next on a mismatch and returns its verdict
on a match; the end returns the default. A full wildcard rule (`a`, any
major/minor, rwm) resets: rules before it can never be reached and its
verdict becomes the default.

The program uses no helper functions, so its license need not be
GPL-compatible (runc declares "Apache").

This module is imported only on a cgroup v2 host.
"""

from __future__ import annotations

import os
import struct

from pyruntime import syscalls as sc
from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# bpf(2) commands, program and attach types, flags (include/uapi/linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

BPF_DEVCG_ACC_MKNOD = 1
BPF_DEVCG_ACC_READ = 2
BPF_DEVCG_ACC_WRITE = 4
BPF_DEVCG_DEV_BLOCK = 1
BPF_DEVCG_DEV_CHAR = 2

_TYPES = {"b": BPF_DEVCG_DEV_BLOCK, "c": BPF_DEVCG_DEV_CHAR}
_ACCESS = {"m": BPF_DEVCG_ACC_MKNOD, "r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE}
_RWM = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE

# Opcodes: class | operation | source.
_LDX_MEM_W = 0x61      # BPF_LDX | BPF_MEM | BPF_W
_ALU32_AND_K = 0x54    # BPF_ALU | BPF_AND | BPF_K
_ALU32_RSH_K = 0x74    # BPF_ALU | BPF_RSH | BPF_K
_ALU32_MOV_K = 0xb4    # BPF_ALU | BPF_MOV | BPF_K
_ALU32_MOV_X = 0xbc    # BPF_ALU | BPF_MOV | BPF_X
_JNE_K = 0x55          # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5d          # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95           # BPF_JMP | BPF_EXIT

LICENSE = "Apache"

# (allow, type "c"/"b", major or -1, minor or -1, access bits)
Rule = tuple[bool, str, int, int, int]


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }"""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _wild(n: Any) -> int:
    return -1 if n is None or n == -1 else int(n)


def _access(access: str | None, field: str) -> int:
    bits = 0
    for ch in access or "rwm":
        if ch not in _ACCESS:
            raise PyruntimeError(f"{field}: unknown device access {ch!r} in {access!r}", field=field)
        bits |= _ACCESS[ch]
    return bits


def normalize(rules: list[dict[str, Any]], extra: list[tuple[str, int, int, str]] | None = None,
              ) -> tuple[bool, list[Rule]]:
    """(default verdict, the rules that can still match, in config order).

    `a` with a wildcard major and minor and full access matches everything:
    it becomes the default and drops what came before it. `a` with a number
    or partial access means both `c` and `b` with it (as in devices.v1_writes)."""
    default = False
    out: list[Rule] = []
    field = "linux.resources.devices"
    entries = [(bool(r.get("allow")), r.get("type") or "a", r.get("major"), r.get("minor"),
                r.get("access")) for r in rules]
    entries += [(True, t, ma, mi, acc) for t, ma, mi, acc in extra or []]
    for i, (allow, dtype, major, minor, access) in enumerate(entries):
        f = f"{field}[{i}]" if i < len(rules) else field
        bits = _access(access, f)
        ma, mi = _wild(major), _wild(minor)
        for n in (ma, mi):
            if n < -1 or n > 0x7FFFFFFF:
                raise PyruntimeError(f"{f}: device number {n} out of range", field=f)
        if dtype == "a":
            if ma == -1 and mi == -1 and bits == _RWM:
                default = allow
                out = []
                continue
            out += [(allow, "c", ma, mi, bits), (allow, "b", ma, mi, bits)]
        elif dtype in _TYPES:
            out.append((allow, dtype, ma, mi, bits))
        else:
            raise PyruntimeError(f"{f}: invalid device type {dtype!r} (want a, b or c)", field=f)
    return default, out


def program(default: bool, rules: list[Rule]) -> bytes:
    """The instructions (8 bytes each) for rules in config order."""
    code = [
        _insn(_LDX_MEM_W, dst=2, src=1, off=0),       # R2 = ctx->access_type
        _insn(_ALU32_AND_K, dst=2, imm=0xFFFF),       # R2 &= 0xffff      (device type)
        _insn(_LDX_MEM_W, dst=3, src=1, off=0),       # R3 = ctx->access_type
        _insn(_ALU32_RSH_K, dst=3, imm=16),           # R3 >>= 16          (access)
        _insn(_LDX_MEM_W, dst=4, src=1, off=4),       # R4 = ctx->major
        _insn(_LDX_MEM_W, dst=5, src=1, off=8),       # R5 = ctx->minor
    ]
    for allow, dtype, major, minor, bits in reversed(rules):
        # Each test jumps to the next block on mismatch: the offset counts
        # the instructions left in this block after the jump.
        tests: list[tuple[int, int, int, int]] = [(_JNE_K, 2, 0, _TYPES[dtype])]
        if bits != _RWM:
            # R1 = R3 & bits; if R1 != R3 (asks for more than allowed) goto next
            tests += [(_ALU32_MOV_X, 1, 3, 0), (_ALU32_AND_K, 1, 0, bits), (_JNE_X, 1, 3, 0)]
        if major != -1:
            tests.append((_JNE_K, 4, 0, major))
        if minor != -1:
            tests.append((_JNE_K, 5, 0, minor))
        n = len(tests) + 2  # + mov r0, exit
        for i, (op, dst, src, imm) in enumerate(tests):
            off = n - i - 1 if op in (_JNE_K, _JNE_X) else 0
            code.append(_insn(op, dst=dst, src=src, off=off, imm=imm))
        code += [_insn(_ALU32_MOV_K, dst=0, imm=int(allow)), _insn(_EXIT)]
    code += [_insn(_ALU32_MOV_K, dst=0, imm=int(default)), _insn(_EXIT)]
    return b"".join(code)


# ---------------------------------------------------------------- the kernel side

def _addr(buf: bytearray) -> int:
    # bpf_attr holds user pointers; syscalls.bpf only passes the attr itself.
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def load(insns: bytes, name: str = "pyrt_devices") -> int:
    """BPF_PROG_LOAD: returns the program fd (close-on-exec)."""
    code = bytearray(insns)
    lic = bytearray(LICENSE.encode() + b"\0")
    log = bytearray(65536)
    attr = bytearray(128)
    struct.pack_into("<IIQQIIQII16s", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(insns) // 8,
                     _addr(code), _addr(lic), 0, 0, 0, 0, 0, name.encode()[:15])
    try:
        return sc.sys().bpf(BPF_PROG_LOAD, attr)
    except OSError as e:
        # Only on failure: load again with the verifier log for the message.
        struct.pack_into("<IIQ", attr, 24, 1, len(log), _addr(log))
        try:
            sc.sys().bpf(BPF_PROG_LOAD, attr)
        except OSError:
            pass
        vlog = bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip()
        raise PyruntimeError(
            f"linux.resources.devices: loading the cgroup v2 device program: "
            f"{os.strerror(e.errno or 0)}{': ' + vlog[-500:] if vlog else ''}",
            field="linux.resources.devices", errno=e.errno) from None


def attached(cgroup_fd: int) -> list[int]:
    """The ids of the device programs attached to this cgroup itself."""
    ids = bytearray(4 * 64)
    attr = bytearray(40)
    struct.pack_into("<IIIIQI", attr, 0, cgroup_fd, BPF_CGROUP_DEVICE, 0, 0, _addr(ids), 64)
    sc.sys().bpf(BPF_PROG_QUERY, attr)
    count = struct.unpack_from("<I", attr, 24)[0]
    return list(struct.unpack_from(f"<{min(count, 64)}I", ids))


def attach(cgroup_fd: int, prog_fd: int) -> None:
    attr = bytearray(20)
    struct.pack_into("<IIII", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
    sc.sys().bpf(BPF_PROG_ATTACH, attr)


def detach(cgroup_fd: int, prog_id: int) -> None:
    attr = bytearray(12)
    struct.pack_into("<I", attr, 0, prog_id)
    prog_fd = sc.sys().bpf(BPF_PROG_GET_FD_BY_ID, attr)
    try:
        attr = bytearray(20)
        struct.pack_into("<III", attr, 0, cgroup_fd, prog_fd, BPF_CGROUP_DEVICE)
        sc.sys().bpf(BPF_PROG_DETACH, attr)
    finally:
        os.close(prog_fd)


def set_device_filter(cgroup_dir: str, rules: list[dict[str, Any]],
                      extra: list[tuple[str, int, int, str]]) -> None:
    """Replace the device programs attached to cgroup_dir with one for rules
    (then extra). The new program is attached before the old ones go, so
    there is no moment without a filter. The program lives as long as it is
    attached: its fd is closed here."""
    default, norm = normalize(rules, extra)
    insns = program(default, norm)
    dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            old = attached(dfd)
        except OSError:
            old = []
        pfd = load(insns)
        try:
            attach(dfd, pfd)
        except OSError as e:
            raise PyruntimeError(f"linux.resources.devices: attaching the device program to "
                                 f"{cgroup_dir}: {os.strerror(e.errno or 0)}",
                                 field="linux.resources.devices", path=cgroup_dir,
                                 errno=e.errno) from None
        finally:
            os.close(pfd)
        for prog_id in old:
            try:
                detach(dfd, prog_id)
            except OSError as e:
                raise PyruntimeError(f"linux.resources.devices: detaching the old device "
                                     f"program {prog_id} from {cgroup_dir}: "
                                     f"{os.strerror(e.errno or 0)}", path=cgroup_dir,
                                     errno=e.errno) from None
    finally:
        os.close(dfd)
