"""The cgroup v2 device program (pyruntime/cgroups/ebpf.py): the rule
normalisation, the exact instruction bytes for small rule sets, what the
program decides for the default allow-list (run in a small interpreter of
the opcodes it uses), and the bpf(2) calls made to load and attach it."""

from __future__ import annotations

import struct
from typing import Any, cast

import pytest

from pyruntime import syscalls
from pyruntime.cgroups import ebpf
from pyruntime.cgroups.devices import DEFAULT_ALLOWED
from pyruntime.errors import PyruntimeError

# The six instructions that load bpf_cgroup_dev_ctx into R2..R5.
PROLOGUE = (
    "61 12 0000 00000000"   # r2 = *(u32 *)(r1 + 0)
    "54 02 0000 ffff0000"   # w2 &= 0xffff
    "61 13 0000 00000000"   # r3 = *(u32 *)(r1 + 0)
    "74 03 0000 10000000"   # w3 >>= 16
    "61 14 0400 00000000"   # r4 = *(u32 *)(r1 + 4)
    "61 15 0800 00000000"   # r5 = *(u32 *)(r1 + 8)
)
RET0 = "b4 00 0000 00000000 95 00 0000 00000000"  # w0 = 0; exit
RET1 = "b4 00 0000 01000000 95 00 0000 00000000"  # w0 = 1; exit


def hx(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def compile_rules(rules: list[dict[str, Any]], extra: list[tuple[str, int, int, str]] | None = None,
                  ) -> bytes:
    return ebpf.program(*ebpf.normalize(rules, extra))


# ---------------------------------------------------------------- exact bytes

def test_no_rules_denies_everything() -> None:
    assert compile_rules([]) == hx(PROLOGUE + RET0)


def test_allow_all_wildcard_is_the_default() -> None:
    assert compile_rules([{"allow": True, "access": "rwm"}]) == hx(PROLOGUE + RET1)


def test_one_char_device_rwm() -> None:
    # deny all, then allow c 1:3 rwm: no access test, type/major/minor tests jump 3/2/1 ahead
    got = compile_rules([{"allow": False, "access": "rwm"},
                         {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    assert got == hx(PROLOGUE
                     + "55 02 0400 02000000"    # if r2 != CHAR goto +4
                     + "55 04 0300 01000000"    # if r4 != 1 goto +3
                     + "55 05 0200 03000000"    # if r5 != 3 goto +2
                     + RET1 + RET0)


def test_partial_access_and_wildcard_minor() -> None:
    got = compile_rules([{"allow": True, "type": "b", "major": 8, "access": "rm"}])
    assert got == hx(PROLOGUE
                     + "55 02 0600 01000000"    # if r2 != BLOCK goto +6
                     + "bc 31 0000 00000000"    # w1 = w3
                     + "54 01 0000 03000000"    # w1 &= READ|MKNOD
                     + "5d 31 0300 00000000"    # if r1 != r3 goto +3
                     + "55 04 0200 08000000"    # if r4 != 8 goto +2
                     + RET1 + RET0)


def test_last_rule_is_emitted_first() -> None:
    got = compile_rules([{"allow": True, "type": "c", "major": 1, "access": "rwm"},
                         {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}])
    assert got == hx(PROLOGUE
                     + "55 02 0400 02000000" + "55 04 0300 01000000" + "55 05 0200 05000000" + RET0
                     + "55 02 0300 02000000" + "55 04 0200 01000000" + RET1
                     + RET0)


# ---------------------------------------------------------------- normalisation

def test_wildcard_resets_what_came_before() -> None:
    default, rules = ebpf.normalize([
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": False},  # "a", rwm: deny all
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
    ])
    assert default is False
    assert rules == [(True, "c", 1, 5, ebpf.BPF_DEVCG_ACC_READ)]


def test_typed_a_rule_means_char_and_block() -> None:
    _, rules = ebpf.normalize([{"allow": True, "type": "a", "major": 7, "access": "rwm"}])
    assert rules == [(True, "c", 7, -1, 7), (True, "b", 7, -1, 7)]


def test_extra_rules_follow_the_config() -> None:
    default, rules = ebpf.normalize([{"allow": False}], [("c", 1, 3, "rwm")])
    assert (default, rules) == (False, [(True, "c", 1, 3, 7)])


@pytest.mark.parametrize("rule", [{"allow": True, "type": "x", "access": "r"},
                                  {"allow": True, "type": "c", "access": "rx"},
                                  {"allow": True, "type": "c", "major": -5, "access": "r"}])
def test_bad_rules_name_the_field(rule: dict[str, Any]) -> None:
    with pytest.raises(PyruntimeError) as e:
        ebpf.normalize([{"allow": False}, rule])
    assert e.value.field == "linux.resources.devices[1]"


# ---------------------------------------------------------------- semantics

def run(prog: bytes, dtype: str, major: int, minor: int, access: str) -> int:
    """Interpret the opcodes the generator uses, for one access."""
    acc = sum(ebpf._ACCESS[c] for c in access)
    ctx = struct.pack("<III", (acc << 16) | ebpf._TYPES[dtype], major, minor)
    r = [0] * 11
    pc = 0
    m32 = 0xFFFFFFFF
    while True:
        code, regs, off, imm = struct.unpack_from("<BBhi", prog, pc * 8)
        dst, src = regs & 0xF, regs >> 4
        pc += 1
        if code == 0x61:
            assert src == 1
            r[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif code == 0x54:
            r[dst] = (r[dst] & imm) & m32
        elif code == 0x74:
            r[dst] = (r[dst] & m32) >> imm
        elif code == 0xb4:
            r[dst] = imm & m32
        elif code == 0xbc:
            r[dst] = r[src] & m32
        elif code == 0x55:
            if r[dst] != imm & 0xFFFFFFFFFFFFFFFF:
                pc += off
        elif code == 0x5d:
            if r[dst] != r[src]:
                pc += off
        elif code == 0x95:
            return r[0]
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


DEFAULT_CONFIG = [{"allow": False, "access": "rwm"}]  # what `runc spec` writes


@pytest.mark.parametrize(("dev", "want"), [
    (("c", 1, 3, "rw"), 1),     # /dev/null
    (("c", 1, 5, "r"), 1),      # /dev/zero
    (("c", 136, 4, "rw"), 1),   # a pty
    (("c", 5, 2, "rw"), 1),     # ptmx
    (("b", 8, 0, "m"), 1),      # mknod of anything is allowed ...
    (("b", 8, 0, "r"), 0),      # ... but not reading a host disk
    (("b", 8, 0, "rm"), 0),
    (("c", 1, 1, "r"), 0),      # /dev/mem
    (("c", 10, 229, "rw"), 0),  # /dev/fuse
])
def test_default_allow_list(dev: tuple[str, int, int, str], want: int) -> None:
    prog = compile_rules(DEFAULT_CONFIG, DEFAULT_ALLOWED)
    assert run(prog, *dev) == want


def test_later_rules_win() -> None:
    prog = compile_rules([{"allow": False},
                          {"allow": True, "type": "c", "major": 1, "access": "rwm"},
                          {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"}])
    assert run(prog, "c", 1, 3, "rw") == 1
    assert run(prog, "c", 1, 5, "r") == 0
    prog = compile_rules([{"allow": False},
                          {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "access": "rwm"}])
    assert run(prog, "c", 1, 5, "r") == 1


def test_access_must_be_within_the_rule() -> None:
    prog = compile_rules([{"allow": True, "type": "c", "major": 4, "minor": 1, "access": "r"}])
    assert run(prog, "c", 4, 1, "r") == 1
    assert run(prog, "c", 4, 1, "rw") == 0
    assert run(prog, "c", 4, 1, "w") == 0


def test_allow_all_then_deny_one() -> None:
    prog = compile_rules([{"allow": True}, {"allow": False, "type": "b", "major": 8, "access": "rwm"}])
    assert run(prog, "b", 8, 1, "r") == 0
    assert run(prog, "b", 9, 1, "r") == 1
    assert run(prog, "c", 8, 1, "r") == 1


# ---------------------------------------------------------------- bpf(2) calls

class FakeBpf:
    """Records bpf(2) commands; returns fds 100, 101, ... for loads."""

    def __init__(self, attached: list[int]) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.attached = attached
        self.next_fd = 100

    def bpf(self, cmd: int, attr: bytearray) -> int:
        self.calls.append((cmd, bytes(attr)))
        if cmd == ebpf.BPF_PROG_QUERY:
            struct.pack_into("<I", attr, 24, len(self.attached))
            # the ids land in user memory we cannot reach from here: the fake
            # checks the count only
            return 0
        if cmd in (ebpf.BPF_PROG_LOAD, ebpf.BPF_PROG_GET_FD_BY_ID):
            self.next_fd += 1
            return self.next_fd - 1
        return 0


def test_load_and_attach(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    fake = FakeBpf([])
    syscalls.install(cast(Any, fake))
    closed: list[int] = []
    import os
    monkeypatch.setattr(os, "close", lambda fd: closed.append(fd))
    monkeypatch.setattr(os, "open", lambda *a, **k: 7)
    ebpf.set_device_filter(str(tmp_path), [{"allow": False}], DEFAULT_ALLOWED)
    cmds = [c for c, _ in fake.calls]
    assert cmds == [ebpf.BPF_PROG_QUERY, ebpf.BPF_PROG_LOAD, ebpf.BPF_PROG_ATTACH]
    load = fake.calls[1][1]
    ptype, count = struct.unpack_from("<II", load, 0)
    assert ptype == ebpf.BPF_PROG_TYPE_CGROUP_DEVICE
    assert count * 8 == len(compile_rules([{"allow": False}], DEFAULT_ALLOWED))
    assert load[48:60] == b"pyrt_devices"
    attach = struct.unpack_from("<IIII", fake.calls[2][1], 0)
    assert attach == (7, 100, ebpf.BPF_CGROUP_DEVICE, ebpf.BPF_F_ALLOW_MULTI)
    assert closed == [100, 7]  # the program fd after attaching, then the cgroup fd
