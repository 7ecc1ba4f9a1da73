"""linux.seccomp: a profile turned into a BPF program by libseccomp.

Imported only when a config has linux.seccomp (and by `features`).

When, as runc does it (pyruntime/process/init.py):
- `create` (P1) calls `compile_filter` before it forks: the profile is
  checked, libseccomp builds the filter and exports it as a BPF program,
  and errors surface before any process exists. The program (plain bytes)
  is inherited by the children; no libseccomp code runs after the fork.
- The init loads it with seccomp(2). With `process.noNewPrivileges` false
  loading needs CAP_SYS_ADMIN, so it happens just before capabilities are
  dropped, and everything the init does afterwards must be allowed by the
  profile. With noNewPrivileges true it is the very last step:
  `load_and_exec` is one C call that loads the filter and calls execve.

runc's rules, mirrored (libcontainer/specconv, libcontainer/seccomp):
- a seccomp object without defaultAction and without syscalls disables it;
- SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD; SCMP_ACT_ERRNO and SCMP_ACT_TRACE
  return EPERM unless errnoRet (defaultErrnoRet for the default action);
- a rule whose action equals the default action is skipped;
- a syscall name libseccomp cannot resolve is skipped (a newer kernel's
  syscall in an older library's profile);
- several args on one rule are ANDed, unless two of them name the same
  argument index: then each arg becomes a rule of its own (ORed);
- SECCOMP_FILTER_FLAG_TSYNC is accepted and ignored (one thread execs);
- the binary-tree optimisation for profiles of more than 32 rules;
- with a default action that denies (not ALLOW, LOG or TRACE), syscalls
  newer than the newest one the profile names get ENOSYS instead of the
  default action (runc's patchbpf), so that programs fall back to older
  syscalls the way they do on older kernels.

SCMP_ACT_NOTIFY (a seccomp agent, pyruntime/seccomp_notify.py): the filter is
loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER by one C call that also passes
the listener fd to P1 on the sync channel (sendmsg); P1 sends it with the
container process state to the agent at listenerPath, then lets the child
go on. Always during `create` (or `exec`), while P1 is there: with
noNewPrivileges it is loaded at the end of the init's setup, before the
wait on the exec fifo, as runc does — so, unlike without notify, the
fifo wait, startContainer hooks and execve run under the filter. As runc:
NOTIFY is no default action, it needs listenerPath, and listenerPath
without a NOTIFY rule is unused. The syscall that hands the fd over
(sendmsg) cannot be NOTIFY: nobody could answer it (runc: write).
"""

from __future__ import annotations

import errno as _errno
import os
import struct

from pyruntime.errors import ConfigError, PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

FIELD = "linux.seccomp"

# libseccomp's action values (seccomp.h); ERRNO and TRACE carry a 16-bit data.
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_TRAP = 0x00030000
ACT_ERRNO = 0x00050000
ACT_TRACE = 0x7FF00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
ACT_NOTIFY = 0x7FC00000

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY,
}
WITH_ERRNO = (ACT_ERRNO, ACT_TRACE)
ALLOWING = (ACT_ALLOW, ACT_LOG, ACT_TRACE)  # runc: no ENOSYS stub behind these defaults

OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7,
}

# runtime-spec SCMP_ARCH_* -> libseccomp's architecture name (what
# seccomp_arch_resolve_name takes). Whether this libseccomp knows it is
# asked at run time (libseccomp 2.5.4 has no loongarch64, m68k, sh).
ARCHS: dict[str, str] = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_LOONGARCH64": "loongarch64",
    "SCMP_ARCH_M68K": "m68k", "SCMP_ARCH_MIPS": "mips", "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x",
    "SCMP_ARCH_SH": "sh", "SCMP_ARCH_SHEB": "sheb", "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64",
}

# seccomp(2) SECCOMP_FILTER_FLAG_* values.
FLAG_TSYNC = 1 << 0
FLAG_LOG = 1 << 1
FLAG_SPEC_ALLOW = 1 << 2
FLAG_NEW_LISTENER = 1 << 3
FLAG_WAIT_KILLABLE_RECV = 1 << 5
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}

# libseccomp filter attributes (enum scmp_filter_attr).
_ATTR_CTL_NNP = 3
_ATTR_CTL_OPTIMIZE = 8

_NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name(): unknown name
_MAX_ARGS = 6

# The syscall that passes the listener fd to P1 right after the filter is
# loaded (the C helper pyrt_seccomp_load_listener): it cannot wait for an agent.
NOT_NOTIFIABLE = ("sendmsg",)


def _native() -> Any:
    """The compiled libseccomp binding (loaded once, in `create`, before fork)."""
    from pyruntime.syscalls import _seccomp

    return _seccomp


def _cfg_err(field: str, problem: str) -> ConfigError:
    return ConfigError(f"{field}: {problem}", field=field)


def _uint(v: Any, field: str, bits: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < (1 << bits):
        raise _cfg_err(field, f"must be an unsigned {bits}-bit integer, got {v!r}")
    return v


def _action(name: Any, errno_ret: Any, field: str, errno_field: str) -> int:
    if not isinstance(name, str) or name not in ACTIONS:
        raise _cfg_err(field, f"unknown seccomp action {name!r}")
    act = ACTIONS[name]
    if act in WITH_ERRNO:
        ret = _errno.EPERM if errno_ret is None else _uint(errno_ret, errno_field, 16)
        act |= ret
    elif errno_ret is not None:
        # runtime-spec: errnoRet/defaultErrnoRet only mean something for actions
        # that return an errno (runc ignores them; an error is what the spec asks).
        raise _cfg_err(errno_field, f"{name} does not return an errno")
    return act


class Rule:
    """One libseccomp rule: (action, syscall name, [(index, op, a, b)])."""

    __slots__ = ("action", "name", "args")

    def __init__(self, action: int, name: str, args: list[tuple[int, int, int, int]]) -> None:
        self.action = action
        self.name = name
        self.args = args

    def __repr__(self) -> str:
        return f"Rule({self.action:#x}, {self.name!r}, {self.args!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rule) and (self.action, self.name, self.args) == (
            other.action, other.name, other.args)


class Profile:
    """linux.seccomp checked and turned into libseccomp terms; no libseccomp
    call yet (unit tests look at this)."""

    def __init__(self, default: int, archs: list[str], flags: int, rules: list[Rule],
                 names: list[str] | None = None) -> None:
        self.default = default
        self.archs = archs      # libseccomp names, e.g. "x86_64"
        self.flags = flags      # SECCOMP_FILTER_FLAG_* for seccomp(2)
        self.rules = rules
        self.names = names if names is not None else sorted({r.name for r in rules})  # every name
        self.listener_path = ""      # the seccomp agent's socket, when a rule is SCMP_ACT_NOTIFY
        self.listener_metadata = ""

    @property
    def notify(self) -> bool:
        return any(r.action == ACT_NOTIFY for r in self.rules)


def parse(cfg: Any) -> Profile | None:
    """Check linux.seccomp; None when it disables seccomp (runc: neither a
    defaultAction nor syscalls). Errors name the JSON path."""
    if not isinstance(cfg, dict):
        raise _cfg_err(FIELD, "must be an object")
    syscalls = cfg.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise _cfg_err(f"{FIELD}.syscalls", "must be a list")
    if not cfg.get("defaultAction") and not syscalls:
        return None
    default = _action(cfg.get("defaultAction"), cfg.get("defaultErrnoRet"), f"{FIELD}.defaultAction",
                      f"{FIELD}.defaultErrnoRet")
    if default == ACT_NOTIFY:
        # runc too: every syscall, those that pass the listener fd on included, would wait
        # for an agent that does not have it yet.
        raise _cfg_err(f"{FIELD}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action (the "
                                                 "runtime's own syscalls would wait for the agent)")

    archs: list[str] = []
    arch_list = cfg.get("architectures") or []
    if not isinstance(arch_list, list):
        raise _cfg_err(f"{FIELD}.architectures", "must be a list")
    for i, a in enumerate(arch_list):
        if not isinstance(a, str) or a not in ARCHS:
            raise _cfg_err(f"{FIELD}.architectures[{i}]", f"unknown seccomp architecture {a!r}")
        archs.append(ARCHS[a])

    flags = 0
    flag_list = cfg.get("flags") or []
    if not isinstance(flag_list, list):
        raise _cfg_err(f"{FIELD}.flags", "must be a list")
    for i, f in enumerate(flag_list):
        field = f"{FIELD}.flags[{i}]"
        if not isinstance(f, str) or f not in FLAGS:
            raise _cfg_err(field, f"unknown seccomp flag {f!r}")
        if f != "SECCOMP_FILTER_FLAG_TSYNC":  # runc: known, ignored
            flags |= FLAGS[f]

    rules: list[Rule] = []
    all_names: set[str] = set()
    for i, sc in enumerate(syscalls):
        base = f"{FIELD}.syscalls[{i}]"
        if not isinstance(sc, dict):
            raise _cfg_err(base, "must be an object")
        names = sc.get("names")
        if not isinstance(names, list):
            raise _cfg_err(f"{base}.names", "must be a list of syscall names")
        act = _action(sc.get("action"), sc.get("errnoRet"), f"{base}.action", f"{base}.errnoRet")
        args: list[tuple[int, int, int, int]] = []
        raw_args = sc.get("args") or []
        if not isinstance(raw_args, list):
            raise _cfg_err(f"{base}.args", "must be a list")
        for j, a in enumerate(raw_args):
            af = f"{base}.args[{j}]"
            if not isinstance(a, dict):
                raise _cfg_err(af, "must be an object")
            index = _uint(a.get("index"), f"{af}.index", 32)
            if index >= _MAX_ARGS:
                raise _cfg_err(f"{af}.index", f"a syscall has at most {_MAX_ARGS} arguments, got index {index}")
            op = a.get("op")
            if not isinstance(op, str) or op not in OPERATORS:
                raise _cfg_err(f"{af}.op", f"unknown seccomp operator {op!r}")
            args.append((index, OPERATORS[op], _uint(a.get("value", 0), f"{af}.value", 64),
                         _uint(a.get("valueTwo", 0), f"{af}.valueTwo", 64)))
        for k, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise _cfg_err(f"{base}.names[{k}]", f"must be a syscall name, got {name!r}")
            if act == ACT_NOTIFY and name in NOT_NOTIFIABLE:
                raise _cfg_err(f"{base}.names[{k}]",
                               f"SCMP_ACT_NOTIFY cannot be used for {name}: pyruntime passes the seccomp "
                               f"agent's fd on with {name}(2) right after loading the filter, before any "
                               "agent could answer")
            all_names.add(name)
            if act == default:
                continue  # runc: redundant with the default action (libseccomp refuses it)
            indexes = [a[0] for a in args]
            if len(set(indexes)) != len(indexes):
                # runc: two conditions on the same argument -> one rule per condition (OR).
                rules.extend(Rule(act, name, [a]) for a in args)
            else:
                rules.append(Rule(act, name, list(args)))
    prof = Profile(default, archs, flags, rules, sorted(all_names))
    _check_listener(cfg, prof, flag_list)
    return prof


def _check_listener(cfg: dict[str, Any], prof: Profile, flag_list: list[Any]) -> None:
    """listenerPath, listenerMetadata and the one flag that needs a listener."""
    path, meta = cfg.get("listenerPath") or "", cfg.get("listenerMetadata") or ""
    for key, v in (("listenerPath", path), ("listenerMetadata", meta)):
        if not isinstance(v, str):
            raise _cfg_err(f"{FIELD}.{key}", "must be a string")
    if prof.notify:
        if not path:
            raise _cfg_err(f"{FIELD}.listenerPath", "a rule uses SCMP_ACT_NOTIFY: the seccomp agent's "
                                                    "socket must be set")
        prof.listener_path, prof.listener_metadata = path, meta
    elif "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" in flag_list:
        i = flag_list.index("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
        raise _cfg_err(f"{FIELD}.flags[{i}]", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV applies to a seccomp "
                                              "agent's notifications: no rule uses SCMP_ACT_NOTIFY")


class SeccompFilter:
    """A compiled filter: the BPF program and the seccomp(2) flags. Built in
    `create` before fork; the children only load it."""

    def __init__(self, program: bytes, flags: int, skipped: list[str] | None = None) -> None:
        self.program = program
        self.flags = flags
        self.skipped = skipped or []  # syscall names libseccomp did not know
        self.listener_path = ""       # SCMP_ACT_NOTIFY: the agent's socket (load_with_listener)
        self.listener_metadata = ""
        self.loaded = False
        lib = _native()
        # A C buffer made now, in P1: the init passes it to the kernel as is.
        self._buf = lib.ffi.new("unsigned char[]", program)
        self._lib = lib.lib
        self._ffi = lib.ffi

    @property
    def notify(self) -> bool:
        return bool(self.listener_path)

    def load(self) -> None:
        """seccomp(SECCOMP_SET_MODE_FILTER) on the calling thread, now."""
        if self._lib.pyrt_seccomp_load(self._buf, len(self.program), self.flags) != 0:
            err = self._ffi.errno
            raise PyruntimeError(f"loading the seccomp filter: {os.strerror(err)}", field=FIELD, errno=err)
        self.loaded = True

    def load_with_listener(self, sock: int, msg: bytes) -> int:
        """Load the filter with a new listener and send `msg` with the
        listener fd on the socket `sock`, in one C call (see
        pyrt_seccomp_load_listener). Returns the listener fd, ours to close
        once the other side has it."""
        stage = self._ffi.new("int *")
        fd = int(self._lib.pyrt_seccomp_load_listener(self._buf, len(self.program), self.flags, sock, msg,
                                                      len(msg), stage))
        if fd < 0:
            err = self._ffi.errno
            if stage[0] == 0:
                raise PyruntimeError(f"loading the seccomp filter: {os.strerror(err)}", field=FIELD,
                                     errno=err)
            raise PyruntimeError(f"passing the seccomp listener fd to pyruntime: sendmsg: {os.strerror(err)} "
                                 "(with SCMP_ACT_NOTIFY the profile must allow sendmsg)", field=FIELD,
                                 errno=err)
        self.loaded = True
        return fd

    def load_and_exec(self, path: str, argv: list[str], env: dict[str, str]) -> NoReturn:
        """Load the filter and execve in one C call: no syscall of Python's
        own falls between them. Raises PyruntimeError when loading fails,
        OSError(errno) as os.execve does when execve fails."""
        ffi = self._ffi
        keep = [ffi.new("char[]", os.fsencode(a)) for a in argv]
        keep_env = [ffi.new("char[]", os.fsencode(f"{k}={v}")) for k, v in env.items()]
        c_argv = ffi.new("char *[]", [*keep, ffi.NULL])
        c_envp = ffi.new("char *[]", [*keep_env, ffi.NULL])
        c_path = os.fsencode(path)
        stage = ffi.new("int *")
        self._lib.pyrt_seccomp_load_exec(self._buf, len(self.program), self.flags, c_path,
                                         c_argv, c_envp, stage)
        err = ffi.errno
        if stage[0] == 0:
            raise PyruntimeError(f"loading the seccomp filter: {os.strerror(err)}", field=FIELD, errno=err)
        raise OSError(err, os.strerror(err), path)


def compile_filter(seccomp_cfg: dict[str, Any]) -> SeccompFilter:
    """Check linux.seccomp and build its filter (in P1, before fork).
    A profile that disables seccomp (no defaultAction, no syscalls) gives a
    filter that allows everything; callers may use `parse` to tell."""
    prof = parse(seccomp_cfg)
    if prof is None:
        prof = Profile(ACT_ALLOW, [], 0, [])
    f = _build_cached(seccomp_cfg, prof)
    f.listener_path, f.listener_metadata = prof.listener_path, prof.listener_metadata
    return f


def _build_cached(seccomp_cfg: dict[str, Any], prof: Profile) -> SeccompFilter:
    """build(prof), or the program built for the same profile before
    (seccomp_cache.py: libseccomp takes ~10 ms for Docker's default profile)."""
    from pyruntime import seccomp_cache

    k = seccomp_cache.key(seccomp_cfg, version())
    hit = seccomp_cache.get(k) if k else None
    if hit is not None:
        return SeccompFilter(hit[0], prof.flags, hit[1])
    f = build(prof)
    if k:
        seccomp_cache.put(k, f.program, f.skipped)
    return f


def build(prof: Profile) -> SeccompFilter:
    mod = _native()
    ffi, lib = mod.ffi, mod.lib
    _check_action(lib, prof.default, f"{FIELD}.defaultAction")
    ctx = lib.seccomp_init(prof.default)
    if ctx == ffi.NULL:
        raise ConfigError(f"{FIELD}.defaultAction: libseccomp refused the default action "
                          f"{prof.default:#x}", field=f"{FIELD}.defaultAction")
    try:
        lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)  # NO_NEW_PRIVS is process.noNewPrivileges' business
        arch_tokens: list[int] = []  # runc's ENOSYS stub covers the listed architectures only
        for i, name in enumerate(prof.archs):
            tok = lib.seccomp_arch_resolve_name(name.encode())
            field = f"{FIELD}.architectures[{i}]"
            if tok == 0:
                raise ConfigError(f"{field}: architecture {name} is not supported by libseccomp "
                                  f"{version()}", field=field)
            r = lib.seccomp_arch_add(ctx, tok)
            if r < 0 and r != -_errno.EEXIST:
                raise ConfigError(f"{field}: adding architecture {name}: {os.strerror(-r)}", field=field)
            if tok not in arch_tokens:
                arch_tokens.append(tok)
        if len(prof.rules) > 32:
            lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)  # failure is not fatal (older libseccomp)
        skipped: list[str] = []
        checked: set[int] = set()
        for rule in prof.rules:
            nr = lib.seccomp_syscall_resolve_name(rule.name.encode())
            if nr == _NR_SCMP_ERROR:
                if rule.name not in skipped:
                    skipped.append(rule.name)  # runc: unknown to libseccomp -> ignored
                continue
            if rule.action not in checked:
                _check_action(lib, rule.action, FIELD + ".syscalls")
                checked.add(rule.action)
            cmps = ffi.new("struct scmp_arg_cmp[]", max(1, len(rule.args)))
            for k, (index, op, a, b) in enumerate(rule.args):
                cmps[k].arg = index
                cmps[k].op = op
                cmps[k].datum_a = a
                cmps[k].datum_b = b
            r = lib.seccomp_rule_add_array(ctx, rule.action, nr, len(rule.args), cmps)
            if r < 0:
                raise ConfigError(f"{FIELD}.syscalls: adding the rule for syscall {rule.name}: "
                                  f"{os.strerror(-r)}", field=f"{FIELD}.syscalls")
        program = _export(ffi, lib, ctx)
        if (prof.default & 0xFFFF0000) not in ALLOWING:
            program = enosys_patch(program, _max_syscalls(lib, prof.names, arch_tokens))
    finally:
        lib.seccomp_release(ctx)
    return SeccompFilter(program, prof.flags, skipped)


def _check_action(lib: Any, act: int, field: str) -> None:
    if not lib.pyrt_seccomp_action_avail(act & 0xFFFF0000):
        raise ConfigError(f"{field}: seccomp action {act:#x} is not supported by this kernel", field=field)


def _export(ffi: Any, lib: Any, ctx: Any) -> bytes:
    size = 1 << 16
    while True:
        buf = ffi.new("unsigned char[]", size)
        n = int(lib.pyrt_seccomp_export(ctx, buf, size))
        if n < 0:
            raise PyruntimeError(f"exporting the seccomp filter: {os.strerror(-n)}", field=FIELD)
        if n <= size:
            return bytes(ffi.buffer(buf, n))
        size = n


# -- runc's ENOSYS patch (libcontainer/seccomp/patchbpf) -------------------------------
#
# A denying default action would answer a syscall newer than the profile
# (e.g. clone3 in an old profile) with EPERM, and programs do not fall back
# to the older syscall on EPERM. runc prepends a stub: per architecture, a
# syscall number above the largest one the profile names returns ENOSYS.

# AUDIT_ARCH_* for libseccomp's architecture tokens (they are equal except x32).
_AUDIT_ARCH_X86_64 = 0xC000003E
_SCMP_ARCH_X32 = 0x4000003E
_X32_BIT = 0x40000000

# Classic BPF opcodes.
_LD_W_ABS = 0x20
_JMP_JA = 0x05
_JMP_JEQ_K = 0x15
_JMP_JGT_K = 0x25
_JMP_JSET_K = 0x45
_RET_K = 0x06
_INSN = struct.Struct("=HBBI")
_BPF_MAXINSNS = 4096


def _max_syscalls(lib: Any, names: list[str], arch_tokens: list[int]) -> dict[int, int]:
    """{arch token: the largest syscall number the profile names on it}."""
    out: dict[int, int] = {}
    for tok in arch_tokens:
        best = -1
        for name in names:
            nr = int(lib.seccomp_syscall_resolve_name_arch(tok, name.encode()))
            if nr >= 0:
                best = max(best, nr & ~_X32_BIT if tok == _SCMP_ARCH_X32 else nr)
        if best >= 0:
            out[tok] = best
    return out


def enosys_patch(program: bytes, max_nr: dict[int, int]) -> bytes:
    """Prepend the ENOSYS stub to a seccomp BPF program.

    For each architecture: load arch; if it matches, load nr; (x86_64 and
    x32 share AUDIT_ARCH_X86_64 and differ by bit 30 of nr); nr > max ->
    return ERRNO(ENOSYS); anything else jumps into the original program.
    Written front to back with forward jumps only, as BPF requires."""
    if not max_nr:
        return program
    enosys = ACT_ERRNO | _errno.ENOSYS
    # Group by AUDIT_ARCH value: {audit: (max for the plain ABI, max for x32 or None)}
    sections: dict[int, list[int | None]] = {}
    for tok, mx in max_nr.items():
        audit = _AUDIT_ARCH_X86_64 if tok == _SCMP_ARCH_X32 else tok
        entry = sections.setdefault(audit, [None, None])
        entry[1 if tok == _SCMP_ARCH_X32 else 0] = mx
    stub: list[tuple[int, int, int, int]] = []
    # Each section, in order; jumps are relative (to the next instruction).
    # "ENOSYS" and "FILTER" are placeholders resolved at the end.
    pending: list[tuple[int, str, str]] = []  # (insn index, which field, target)
    for audit, (plain, x32) in sections.items():
        stub.append((_LD_W_ABS, 0, 0, 4))                  # A = arch
        skip_at = len(stub)
        stub.append((_JMP_JEQ_K, 0, 0, audit))             # != audit: skip the section (jf patched)
        stub.append((_LD_W_ABS, 0, 0, 0))                  # A = nr
        if audit == _AUDIT_ARCH_X86_64:
            jset_at = len(stub)
            stub.append((_JMP_JSET_K, 0, 0, _X32_BIT))     # x32 syscall? jt -> x32 check
            if plain is not None:
                pending.append((len(stub), "jt", "ENOSYS"))
                stub.append((_JMP_JGT_K, 0, 0, plain))
            pending.append((len(stub), "k", "FILTER"))
            stub.append((_JMP_JA, 0, 0, 0))
            x32_at = len(stub)
            if x32 is not None:
                pending.append((len(stub), "jt", "ENOSYS"))
                stub.append((_JMP_JGT_K, 0, 0, x32 | _X32_BIT))
            pending.append((len(stub), "k", "FILTER"))
            stub.append((_JMP_JA, 0, 0, 0))
            code, _, jf, k = stub[jset_at]
            stub[jset_at] = (code, x32_at - jset_at - 1, jf, k)
        else:
            pending.append((len(stub), "jt", "ENOSYS"))
            stub.append((_JMP_JGT_K, 0, 0, plain if plain is not None else 0xFFFFFFFF))
            pending.append((len(stub), "k", "FILTER"))
            stub.append((_JMP_JA, 0, 0, 0))
        code, jt, _, k = stub[skip_at]
        stub[skip_at] = (code, jt, len(stub) - skip_at - 1, k)
    # Fall-through (an architecture without a section): into the filter.
    pending.append((len(stub), "k", "FILTER"))
    stub.append((_JMP_JA, 0, 0, 0))
    enosys_at = len(stub)
    stub.append((_RET_K, 0, 0, enosys))
    filter_at = len(stub)
    for at, fieldname, target in pending:
        code, jt, jf, k = stub[at]
        dist = (enosys_at if target == "ENOSYS" else filter_at) - at - 1
        if fieldname == "jt":
            if dist > 255:
                raise PyruntimeError("seccomp: ENOSYS stub too long", field=FIELD)
            jt = dist
        else:
            k = dist
        stub[at] = (code, jt, jf, k)
    out = b"".join(_INSN.pack(*insn) for insn in stub) + program
    if len(out) // _INSN.size > _BPF_MAXINSNS:
        raise ConfigError(f"{FIELD}: the seccomp program has {len(out) // _INSN.size} instructions, "
                          f"more than the kernel's {_BPF_MAXINSNS}", field=FIELD)
    return out


# -- what this build supports (`features`) --------------------------------------------

def version() -> str:
    v = _native().lib.seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def features() -> dict[str, Any]:
    """linux.seccomp of the runtime-spec features document."""
    try:
        mod = _native()
    except ImportError:
        return {"enabled": False}
    lib = mod.lib
    archs = sorted(a for a, n in ARCHS.items() if lib.seccomp_arch_resolve_name(n.encode()) != 0)
    supported = []
    for name, bit in FLAGS.items():
        if bit == FLAG_WAIT_KILLABLE_RECV:
            bit |= FLAG_NEW_LISTENER  # refused (EINVAL) without it
        if name == "SECCOMP_FILTER_FLAG_TSYNC" or lib.pyrt_seccomp_flag_supported(bit):
            supported.append(name)
    return {
        "enabled": True,
        "actions": sorted(ACTIONS),
        "operators": sorted(OPERATORS),
        "archs": archs,
        "knownFlags": list(FLAGS),
        "supportedFlags": supported,
    }
