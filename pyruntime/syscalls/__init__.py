"""The only module that touches the compiled cffi extension.

Every call either succeeds or raises OSError(errno, message, path), the
convention of Python's own os module. Feature modules call `sys()` to get
the current implementation; unit tests install a recording fake with
`install()` so that they can assert which mounts and unshares would happen
without root.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object

# clone(2)/unshare(2) flags (os.CLONE_* exist only from Python 3.12).
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# mount_setattr(2): MOUNT_ATTR_* bits (not MS_* values) and flags.
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


class Syscalls(Protocol):
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None: ...
    def umount2(self, target: str, flags: int = 0) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def prctl(self, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def capget(self, pid: int = 0) -> tuple[int, int, int]: ...
    def setdomainname(self, name: str) -> None: ...
    def join_session_keyring(self, name: str) -> None: ...
    def mount_setattr(self, path: str, attr_set: int, attr_clr: int, propagation: int = 0,
                      recursive: bool = True) -> None: ...
    def sched_setattr(self, pid: int, policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                      runtime: int = 0, deadline: int = 0, period: int = 0) -> None: ...
    def ioprio_set(self, which: int, who: int, ioprio: int) -> None: ...
    def ioprio_get(self, which: int, who: int) -> int: ...
    def personality(self, persona: int) -> int: ...
    def prlimit(self, pid: int, resource: int, soft: int, hard: int) -> None: ...
    def bpf(self, cmd: int, attr: bytearray) -> int: ...


def _fail(call: str, path: str | None = None) -> OSError:
    from pyruntime.syscalls._native import ffi

    err = ffi.errno
    return OSError(err, f"{call}: {os.strerror(err)}", path)


def _c(s: str | None) -> bytes | object:
    from pyruntime.syscalls._native import ffi

    return ffi.NULL if s is None else s.encode()


class NativeSyscalls:
    """The real kernel, through the compiled cffi module."""

    def __init__(self) -> None:
        from pyruntime.syscalls import _native

        self._lib = _native.lib
        self._ffi = _native.ffi

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        if self._lib.pyrt_mount(_c(source), target.encode(), _c(fstype), flags, _c(data)) != 0:
            raise _fail(f"mount {source or ''} ({fstype or 'bind'}) on {target}", target)

    def umount2(self, target: str, flags: int = 0) -> None:
        if self._lib.pyrt_umount2(target.encode(), flags) != 0:
            raise _fail("umount2", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        if self._lib.pyrt_pivot_root(new_root.encode(), put_old.encode()) != 0:
            raise _fail("pivot_root", new_root)

    def unshare(self, flags: int) -> None:
        if self._lib.pyrt_unshare(flags) != 0:
            raise _fail(f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int) -> None:
        if self._lib.pyrt_setns(fd, nstype) != 0:
            raise _fail("setns")

    def prctl(self, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
        r = int(self._lib.pyrt_prctl(option, a2, a3, a4, a5))
        if r < 0:
            raise _fail(f"prctl({option})")
        return r

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        m = 0xFFFFFFFF
        if self._lib.pyrt_capset(effective & m, effective >> 32, permitted & m, permitted >> 32,
                                 inheritable & m, inheritable >> 32) != 0:
            raise _fail("capset")

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        out = self._ffi.new("uint32_t[6]")
        if self._lib.pyrt_capget(pid, out) != 0:
            raise _fail("capget")
        return (out[0] | out[1] << 32, out[2] | out[3] << 32, out[4] | out[5] << 32)

    def setdomainname(self, name: str) -> None:
        b = name.encode()
        if self._lib.pyrt_setdomainname(b, len(b)) != 0:
            raise _fail("setdomainname")

    def join_session_keyring(self, name: str) -> None:
        if self._lib.pyrt_join_session_keyring(name.encode()) < 0:
            raise _fail("keyctl(JOIN_SESSION_KEYRING)")

    def mount_setattr(self, path: str, attr_set: int, attr_clr: int, propagation: int = 0,
                      recursive: bool = True) -> None:
        flags = AT_RECURSIVE if recursive else 0
        if self._lib.pyrt_mount_setattr(AT_FDCWD, path.encode(), flags, attr_set, attr_clr, propagation) != 0:
            raise _fail("mount_setattr", path)

    def sched_setattr(self, pid: int, policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                      runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
        if self._lib.pyrt_sched_setattr(pid, policy, flags, nice, priority, runtime, deadline, period) != 0:
            raise _fail("sched_setattr")

    def ioprio_set(self, which: int, who: int, ioprio: int) -> None:
        if self._lib.pyrt_ioprio_set(which, who, ioprio) != 0:
            raise _fail("ioprio_set")

    def ioprio_get(self, which: int, who: int) -> int:
        r = int(self._lib.pyrt_ioprio_get(which, who))
        if r < 0:
            raise _fail("ioprio_get")
        return r

    def personality(self, persona: int) -> int:
        r = int(self._lib.pyrt_personality(persona))
        if r < 0:
            raise _fail("personality")
        return r

    def prlimit(self, pid: int, resource: int, soft: int, hard: int) -> None:
        """Set process pid's limit (soft, hard); RLIM_INFINITY is 2**64-1."""
        if self._lib.pyrt_prlimit(pid, resource, soft, hard) != 0:
            raise _fail("prlimit")

    def bpf(self, cmd: int, attr: bytearray) -> int:
        """bpf(2) with `attr` (a union bpf_attr as bytes, updated in place by the kernel)."""
        buf = self._ffi.from_buffer(attr)
        r = int(self._lib.pyrt_bpf(cmd, buf, len(attr)))
        if r < 0:
            raise _fail(f"bpf({cmd})")
        return r


_current: Syscalls | None = None


def sys() -> Syscalls:
    """The syscall implementation in force (the native one unless a test installed a fake)."""
    global _current
    if _current is None:
        _current = NativeSyscalls()
    return _current


def install(impl: Syscalls | None) -> None:
    """Replace the implementation (unit tests); None restores the native one on next use."""
    global _current
    _current = impl


def set_name(name: str) -> None:
    """prctl(PR_SET_NAME): what ps/top show as this process's comm (15 bytes max)."""
    from pyruntime.syscalls._native import ffi

    buf = ffi.new("char[16]", name.encode()[:15])
    sys().prctl(PR_SET_NAME, int(ffi.cast("unsigned long", buf)))


def kill_and_reap(pid: int) -> None:
    """SIGKILL pid, then reap it if it is our child; a process that is
    already gone (or not ours to wait for) is fine."""
    import _signal

    try:
        os.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
