"""linux.seccomp: checking the profile (JSON paths in errors), runc's rules
for turning it into libseccomp rules, and the compiled filter itself, loaded
in a forked child (no_new_privs: no root needed)."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Callable
from typing import Any

import pytest

from pyruntime import seccomp
from pyruntime.errors import ConfigError
from pyruntime.seccomp import ACT_ERRNO, ACT_KILL_THREAD, ACT_TRACE, Rule, parse

x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="syscall numbers of x86_64")

NR_GETPPID = 110
NR_MKDIR = 83
NR_PERSONALITY = 135


def prof(*syscalls: dict[str, Any], default: str = "SCMP_ACT_ALLOW", **kw: Any) -> dict[str, Any]:
    return {"defaultAction": default, "syscalls": list(syscalls), **kw}


def sc(names: list[str], action: str = "SCMP_ACT_ERRNO", **kw: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **kw}


def arg(index: int, op: str, value: int, value_two: int = 0) -> dict[str, Any]:
    return {"index": index, "op": op, "value": value, "valueTwo": value_two}


# ---------------------------------------------------------------- parse: runc's rules

def test_empty_object_disables_seccomp() -> None:
    assert parse({}) is None
    assert parse({"architectures": ["SCMP_ARCH_X86_64"]}) is None


def test_errno_defaults_to_eperm_and_takes_errno_ret() -> None:
    p = parse(prof(sc(["mkdir"]), sc(["rmdir"], errnoRet=38), sc(["ptrace"], "SCMP_ACT_TRACE"),
                   default="SCMP_ACT_ERRNO", defaultErrnoRet=1))
    assert p is not None
    assert p.default == ACT_ERRNO | 1
    assert [r.action for r in p.rules] == [ACT_ERRNO | 38, ACT_TRACE | errno.EPERM]
    # mkdir: ERRNO(EPERM) == the default action: skipped as runc does


def test_kill_is_kill_thread() -> None:
    p = parse(prof(sc(["mkdir"], "SCMP_ACT_KILL"), sc(["rmdir"], "SCMP_ACT_KILL_THREAD")))
    assert p is not None
    assert {r.action for r in p.rules} == {ACT_KILL_THREAD}


def test_rule_equal_to_default_is_skipped_but_its_names_count() -> None:
    p = parse(prof(sc(["getpid"], "SCMP_ACT_ALLOW"), sc(["mkdir"])))
    assert p is not None
    assert p.rules == [Rule(ACT_ERRNO | errno.EPERM, "mkdir", [])]
    assert p.names == ["getpid", "mkdir"]


def test_args_on_different_indexes_are_one_rule() -> None:
    p = parse(prof(sc(["socket"], args=[arg(0, "SCMP_CMP_EQ", 2), arg(1, "SCMP_CMP_MASKED_EQ", 0xF, 1)])))
    assert p is not None
    assert p.rules == [Rule(ACT_ERRNO | 1, "socket", [(0, 4, 2, 0), (1, 7, 0xF, 1)])]


def test_args_on_the_same_index_become_separate_rules() -> None:
    # runc (libcontainer/seccomp/seccomp_linux.go matchCall): two conditions on
    # one argument -> each condition a rule of its own (OR).
    p = parse(prof(sc(["personality"], args=[arg(0, "SCMP_CMP_EQ", 8), arg(0, "SCMP_CMP_EQ", 0x20000),
                                             arg(1, "SCMP_CMP_NE", 0)])))
    assert p is not None
    assert p.rules == [Rule(ACT_ERRNO | 1, "personality", [a])
                       for a in [(0, 4, 8, 0), (0, 4, 0x20000, 0), (1, 1, 0, 0)]]


def test_names_expand_to_one_rule_each() -> None:
    p = parse(prof(sc(["mkdir", "mkdirat"], errnoRet=38)))
    assert p is not None
    assert [r.name for r in p.rules] == ["mkdir", "mkdirat"]


def test_flags() -> None:
    p = parse(prof(flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                          "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]))
    assert p is not None
    assert p.flags == seccomp.FLAG_LOG | seccomp.FLAG_SPEC_ALLOW  # TSYNC: known, ignored (runc)


def test_architectures_map_to_libseccomp_names() -> None:
    p = parse(prof(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]))
    assert p is not None
    assert p.archs == ["x86_64", "x86", "x32"]


# ---------------------------------------------------------------- parse: errors name the JSON path

@pytest.mark.parametrize("cfg, field, text", [
    (prof(default="SCMP_ACT_BOGUS"), "linux.seccomp.defaultAction", "unknown seccomp action"),
    (prof(sc(["a"]), sc(["b"]), sc(["c"]), sc(["d"], "SCMP_ACT_NOPE")),
     "linux.seccomp.syscalls[3].action", "unknown seccomp action 'SCMP_ACT_NOPE'"),
    (prof(sc(["mkdir"], "SCMP_ACT_NOTIFY")), "linux.seccomp.listenerPath", "must be set"),
    (prof(default="SCMP_ACT_NOTIFY", listenerPath="/run/a.sock"), "linux.seccomp.defaultAction",
     "cannot be the default action"),
    (prof(sc(["mkdir", "sendmsg"], "SCMP_ACT_NOTIFY"), listenerPath="/run/a.sock"),
     "linux.seccomp.syscalls[0].names[1]", "SCMP_ACT_NOTIFY cannot be used for sendmsg"),
    (prof(sc(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath=7), "linux.seccomp.listenerPath", "string"),
    (prof(sc(["mkdir"], args=[arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_SOMETIMES", 1)])),
     "linux.seccomp.syscalls[0].args[1].op", "unknown seccomp operator"),
    (prof(sc(["mkdir"], args=[arg(6, "SCMP_CMP_EQ", 1)])), "linux.seccomp.syscalls[0].args[0].index",
     "at most 6"),
    (prof(sc(["mkdir"], args=[arg(0, "SCMP_CMP_EQ", -1)])), "linux.seccomp.syscalls[0].args[0].value",
     "unsigned 64-bit"),
    (prof(sc(["mkdir"], args=[arg(0, "SCMP_CMP_EQ", 1, 1 << 64)])),
     "linux.seccomp.syscalls[0].args[0].valueTwo", "unsigned 64-bit"),
    (prof(sc(["mkdir"], errnoRet=70000)), "linux.seccomp.syscalls[0].errnoRet", "unsigned 16-bit"),
    (prof(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]), "linux.seccomp.architectures[1]",
     "unknown seccomp architecture 'SCMP_ARCH_VAX'"),
    (prof(flags=["SECCOMP_FILTER_FLAG_MAGIC"]), "linux.seccomp.flags[0]", "unknown seccomp flag"),
    (prof(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]), "linux.seccomp.flags[0]", "SCMP_ACT_NOTIFY"),
    (prof(sc(["mkdir", ""])), "linux.seccomp.syscalls[0].names[1]", "syscall name"),
    (prof(sc(["mkdir"]), {"action": "SCMP_ACT_ERRNO"}), "linux.seccomp.syscalls[1].names", "list"),
])
def test_errors_name_the_json_path(cfg: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(ConfigError) as ei:
        parse(cfg)
    assert ei.value.field == field
    assert ei.value.msg.startswith(field + ": ")
    assert text in ei.value.msg


# ---------------------------------------------------------------- SCMP_ACT_NOTIFY

def test_notify_keeps_the_listener() -> None:
    p = parse(prof(sc(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath="/run/a.sock", listenerMetadata="m",
                   flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
    assert p is not None and p.notify
    assert (p.listener_path, p.listener_metadata) == ("/run/a.sock", "m")
    assert p.flags == seccomp.FLAG_WAIT_KILLABLE_RECV
    assert p.rules == [Rule(seccomp.ACT_NOTIFY, "mkdir", [])]


def test_listener_without_a_notify_rule_is_unused() -> None:
    # runc: the agent is only contacted when a filter has a NOTIFY rule
    p = parse(prof(sc(["mkdir"]), listenerPath="/nonexistent.sock", listenerMetadata="m"))
    assert p is not None and not p.notify and p.listener_path == ""
    f = seccomp.compile_filter(prof(sc(["mkdir"]), listenerPath="/nonexistent.sock"))
    assert not f.notify


def test_compiled_notify_filter_returns_user_notif() -> None:
    f = seccomp.compile_filter(prof(sc(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath="/run/a.sock"))
    assert f.notify and f.listener_path == "/run/a.sock" and not f.loaded
    rets = {k for code, _, _, k in _insns(f.program) if code == 0x06}  # BPF_RET|BPF_K
    assert seccomp.ACT_NOTIFY in rets


# ---------------------------------------------------------------- compiling (libseccomp)

def test_unknown_syscall_names_are_skipped() -> None:
    f = seccomp.compile_filter(prof(sc(["mkdir", "no_such_syscall_at_all", "mkdirat"])))
    assert f.skipped == ["no_such_syscall_at_all"]
    assert len(f.program) % 8 == 0 and f.program


def test_unsupported_arch_in_libseccomp() -> None:
    known = {n for a, n in seccomp.ARCHS.items() if a in seccomp.features()["archs"]}
    missing = [a for a, n in seccomp.ARCHS.items() if n not in known]
    if not missing:
        pytest.skip("this libseccomp knows every architecture of the spec")
    with pytest.raises(ConfigError, match=r"architectures\[0\]: .* not supported by libseccomp"):
        seccomp.compile_filter(prof(architectures=[missing[0]]))


def test_features() -> None:
    f = seccomp.features()
    assert f["enabled"] is True
    assert "SCMP_ACT_NOTIFY" in f["actions"]
    assert set(f["actions"]) == set(seccomp.ACTIONS)
    assert f["operators"] == sorted(seccomp.OPERATORS)
    assert "SCMP_ARCH_X86_64" in f["archs"] or platform.machine() != "x86_64"
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_TSYNC" in f["supportedFlags"]


def _insns(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]


def test_enosys_stub_only_behind_a_denying_default() -> None:
    archs = ["SCMP_ARCH_X86_64"]
    allow = seccomp.compile_filter(prof(sc(["mkdir"]), architectures=archs))
    deny = seccomp.compile_filter(prof(sc(["getpid"], "SCMP_ACT_ALLOW"), default="SCMP_ACT_ERRNO",
                                       architectures=archs))
    ret_enosys = (0x06, 0, 0, ACT_ERRNO | errno.ENOSYS)
    assert ret_enosys not in _insns(allow.program)
    assert ret_enosys in _insns(deny.program)


# ---------------------------------------------------------------- the filter, loaded in a child

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _raw(nr: int, *args: int) -> int:
    """A raw syscall: its result, or -errno."""
    r = _libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a) for a in args))
    return -ctypes.get_errno() if r == -1 else int(r)


# What this Python child needs between loading the filter and _exit.
CHILD_NEEDS = ["read", "write", "close", "exit", "exit_group", "brk", "mmap", "munmap", "mprotect",
               "mremap", "madvise", "futex", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
               "getpid", "gettid", "fstat", "newfstatat", "lseek", "ioctl", "getrandom"]


def in_child(cfg: dict[str, Any], fn: Callable[[], list[int]]) -> list[int]:
    """Fork; the child sets no_new_privs, loads the filter, runs fn and sends its results back."""
    flt = seccomp.compile_filter(cfg)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
                os._exit(3)
            flt.load()
            out = fn()
            os.write(w, struct.pack(f"{len(out)}q", *out))
            os._exit(0)
        except BaseException as e:
            os.write(2, f"seccomp test child: {e!r}\n".encode())
            os._exit(2)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"child status {status:#x}"
    return list(struct.unpack(f"{len(data) // 8}q", data))


VALUES = (9, 10, 11, 0x2F, 0x32)


@x86_64
@pytest.mark.parametrize("op, value, value_two, check", [
    ("SCMP_CMP_NE", 10, 0, lambda v: v != 10),
    ("SCMP_CMP_LT", 10, 0, lambda v: v < 10),
    ("SCMP_CMP_LE", 10, 0, lambda v: v <= 10),
    ("SCMP_CMP_EQ", 10, 0, lambda v: v == 10),
    ("SCMP_CMP_GE", 10, 0, lambda v: v >= 10),
    ("SCMP_CMP_GT", 10, 0, lambda v: v > 10),
    # value is the mask, valueTwo the value compared with
    ("SCMP_CMP_MASKED_EQ", 0xF0, 0x20, lambda v: v & 0xF0 == 0x20),
])
def test_operators_on_an_argument(op: str, value: int, value_two: int, check: Callable[[int], bool]) -> None:
    # getppid ignores its arguments; the filter still sees them. (One filter
    # per operator: libseccomp merges several rules on one argument into one
    # decision tree, which is not what this test is about.)
    cfg = prof(sc(["getppid"], errnoRet=77, args=[arg(0, op, value, value_two)]))
    got = in_child(cfg, lambda: [_raw(NR_GETPPID, v) for v in VALUES])
    assert got == [-77 if check(v) else os.getpid() for v in VALUES]


@x86_64
def test_same_index_or_and_different_index_and() -> None:
    cfg = prof(sc(["getppid"], errnoRet=71, args=[arg(0, "SCMP_CMP_EQ", 1), arg(0, "SCMP_CMP_EQ", 2)]),
               sc(["getppid"], errnoRet=72, args=[arg(0, "SCMP_CMP_EQ", 5), arg(1, "SCMP_CMP_EQ", 6)]))
    ppid = os.getpid()
    got = in_child(cfg, lambda: [_raw(NR_GETPPID, *a) for a in ((1, 0), (2, 0), (3, 0), (5, 6), (5, 7))])
    assert got == [-71, -71, ppid, -72, ppid]


@x86_64
def test_default_errno_and_the_enosys_stub() -> None:
    cfg = prof(sc(CHILD_NEEDS + ["getppid"], "SCMP_ACT_ALLOW"), default="SCMP_ACT_ERRNO",
               defaultErrnoRet=errno.EACCES, architectures=["SCMP_ARCH_X86_64"])
    got = in_child(cfg, lambda: [_raw(NR_GETPPID), _raw(NR_MKDIR, 0, 0), _raw(1000), _raw(NR_PERSONALITY, 0)])
    # mkdir and personality are older than the newest syscall named (getrandom): the
    # default action; syscall 1000 is newer: ENOSYS, as runc's patchbpf does.
    assert got == [os.getpid(), -errno.EACCES, -errno.ENOSYS, -errno.EACCES]


@x86_64
def test_no_stub_without_architectures() -> None:
    cfg = prof(sc(CHILD_NEEDS, "SCMP_ACT_ALLOW"), default="SCMP_ACT_ERRNO")
    assert in_child(cfg, lambda: [_raw(1000)]) == [-errno.EPERM]


@x86_64
def test_load_with_listener_hands_the_fd_over_at_once() -> None:
    """The C helper loads the filter and sends the listener fd in one call; the
    child's getppid(0x4242) then waits for our answer (we hold the fd)."""
    import fcntl
    import socket

    rule = sc(["getppid"], "SCMP_ACT_NOTIFY", args=[arg(0, "SCMP_CMP_EQ", 0x4242)])
    flt = seccomp.compile_filter(prof(rule, listenerPath="/run/unused.sock"))
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            parent.close()
            if _libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
                os._exit(3)
            fd = flt.load_with_listener(child.fileno(), b'{"t":"seccomp"}')
            child.recv(16)  # the parent has the fd
            os.close(fd)
            got = _raw(NR_GETPPID, 0x4242)
            child.send(struct.pack("q", got))
            os._exit(0)
        except BaseException as e:
            os.write(2, f"seccomp test child: {e!r}\n".encode())
            os._exit(2)
    child.close()
    try:
        msg, fds, _, _ = socket.recv_fds(parent, 64, 2)
        assert msg == b'{"t":"seccomp"}' and len(fds) == 1
        assert os.readlink(f"/proc/self/fd/{fds[0]}") == "anon_inode:seccomp notify"
        parent.send(b"ok")
        buf = bytearray(80)
        fcntl.ioctl(fds[0], 0xC0502100, buf, True)  # SECCOMP_IOCTL_NOTIF_RECV
        nid, _pid, _flags, nr = struct.unpack_from("=QIIi", buf)
        assert nr == NR_GETPPID
        fcntl.ioctl(fds[0], 0xC0182101, bytearray(struct.pack("=QqiI", nid, 4242, 0, 0)), True)  # NOTIF_SEND
        assert struct.unpack("q", parent.recv(8)) == (4242,)
        os.close(fds[0])
    finally:
        parent.close()
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
