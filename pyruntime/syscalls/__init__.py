"""The only module that touches the compiled extension _kernel (_kernel.c).

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

# flock(2) operations.
LOCK_SH = 1
LOCK_EX = 2
LOCK_NB = 4
LOCK_UN = 8

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


if TYPE_CHECKING:  # a class with ~20 methods is ~20 KiB of every create's memory
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
        def sethostname(self, name: str) -> None: ...
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


def _fail(r: int, call: str, path: str | None = None) -> OSError:
    """OSError for a negative result -errno of pyruntime.syscalls._kernel."""
    return OSError(-r, f"{call}: {os.strerror(-r)}", path)


class NativeSyscalls:
    """The real kernel, through the compiled extension _kernel (_kernel.c:
    each call returns its result or -errno)."""

    def __init__(self) -> None:
        from pyruntime.syscalls import _kernel

        self._k = _kernel

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None = None) -> None:
        r = self._k.mount(source, target, fstype, flags, data)
        if r < 0:
            raise _fail(r, f"mount {source or ''} ({fstype or 'bind'}) on {target}", target)

    def umount2(self, target: str, flags: int = 0) -> None:
        r = self._k.umount2(target, flags)
        if r < 0:
            raise _fail(r, "umount2", target)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        r = self._k.pivot_root(new_root, put_old)
        if r < 0:
            raise _fail(r, "pivot_root", new_root)

    def unshare(self, flags: int) -> None:
        r = self._k.unshare(flags)
        if r < 0:
            raise _fail(r, f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int) -> None:
        r = self._k.setns(fd, nstype)
        if r < 0:
            raise _fail(r, "setns")

    def prctl(self, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
        r: int = self._k.prctl(option, a2, a3, a4, a5)
        if r < 0:
            raise _fail(r, f"prctl({option})")
        return r

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        m = 0xFFFFFFFF
        r = self._k.capset(effective & m, effective >> 32, permitted & m, permitted >> 32,
                           inheritable & m, inheritable >> 32)
        if r < 0:
            raise _fail(r, "capset")

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        sets = self._k.capget(pid)
        if isinstance(sets, int):
            raise _fail(sets, "capget")
        return sets

    def sethostname(self, name: str) -> None:
        r = self._k.sethostname(name)
        if r < 0:
            raise _fail(r, "sethostname")

    def setdomainname(self, name: str) -> None:
        r = self._k.setdomainname(name)
        if r < 0:
            raise _fail(r, "setdomainname")

    def join_session_keyring(self, name: str) -> None:
        r = self._k.join_session_keyring(name)
        if r < 0:
            raise _fail(r, "keyctl(JOIN_SESSION_KEYRING)")

    def mount_setattr(self, path: str, attr_set: int, attr_clr: int, propagation: int = 0,
                      recursive: bool = True) -> None:
        flags = AT_RECURSIVE if recursive else 0
        r = self._k.mount_setattr(AT_FDCWD, path, flags, attr_set, attr_clr, propagation)
        if r < 0:
            raise _fail(r, "mount_setattr", path)

    def sched_setattr(self, pid: int, policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                      runtime: int = 0, deadline: int = 0, period: int = 0) -> None:
        r = self._k.sched_setattr(pid, policy, flags, nice, priority, runtime, deadline, period)
        if r < 0:
            raise _fail(r, "sched_setattr")

    def ioprio_set(self, which: int, who: int, ioprio: int) -> None:
        r = self._k.ioprio_set(which, who, ioprio)
        if r < 0:
            raise _fail(r, "ioprio_set")

    def ioprio_get(self, which: int, who: int) -> int:
        r: int = self._k.ioprio_get(which, who)
        if r < 0:
            raise _fail(r, "ioprio_get")
        return r

    def personality(self, persona: int) -> int:
        r: int = self._k.personality(persona)
        if r < 0:
            raise _fail(r, "personality")
        return r

    def prlimit(self, pid: int, resource: int, soft: int, hard: int) -> None:
        """Set process pid's limit (soft, hard); RLIM_INFINITY is 2**64-1."""
        r = self._k.prlimit(pid, resource, soft, hard)
        if r < 0:
            raise _fail(r, "prlimit")

    def bpf(self, cmd: int, attr: bytearray) -> int:
        """bpf(2) with `attr` (a union bpf_attr as bytes, updated in place by the kernel)."""
        r: int = self._k.bpf(cmd, attr)
        if r < 0:
            raise _fail(r, f"bpf({cmd})")
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
    from pyruntime.syscalls import _kernel

    r = _kernel.set_name(name)
    if r < 0:
        raise _fail(r, "prctl(PR_SET_NAME)")


def fork_into_cgroup(cgroup_fd: int) -> int:
    """fork, the child born in the cgroup2 directory cgroup_fd (clone3
    CLONE_INTO_CGROUP): the child's pid, 0 in the child, -errno when no
    child was made (ENOSYS before Linux 5.7; the cgroup's own refusals)."""
    from pyruntime.syscalls import _kernel

    return _kernel.fork_into_cgroup(cgroup_fd)


def fork_into_cgroup_dir(path: str) -> int:
    """fork_into_cgroup with the cgroup2 directory's path: -ENOENT (or the
    open's -errno) when it cannot be opened."""
    try:
        fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        return -(e.errno or 2)
    try:
        return fork_into_cgroup(fd)
    finally:
        os.close(fd)  # in the child too


def flock(fd: int, operation: int) -> None:
    """flock(2) (fcntl.LOCK_* values), waiting through signals as fcntl.flock does."""
    from pyruntime.syscalls import _kernel

    r = _kernel.flock(fd, operation)
    if r < 0:
        raise _fail(r, "flock")


def fcntl(fd: int, cmd: int, arg: int = 0) -> int:
    """fcntl(2) with an integer argument."""
    from pyruntime.syscalls import _kernel

    r: int = _kernel.fcntl(fd, cmd, arg)
    if r < 0:
        raise _fail(r, f"fcntl({cmd})")
    return r


def ioctl(fd: int, request: int, arg: int = 0) -> int:
    """ioctl(2) with an integer argument."""
    from pyruntime.syscalls import _kernel

    r: int = _kernel.ioctl(fd, request, arg)
    if r < 0:
        raise _fail(r, f"ioctl({request:#x})")
    return r


def cloexec_from(first: int) -> None:
    """Every fd >= first close-on-exec (close_range(2), or /proc/self/fd on
    kernels before 5.11): execve closes them."""
    from pyruntime.syscalls import _kernel

    r = _kernel.cloexec_from(first)
    if r < 0:
        raise _fail(r, "close_range(CLOSE_RANGE_CLOEXEC)")


def link_up(name: str) -> None:
    """Bring network interface `name` up in this process's network namespace."""
    from pyruntime.syscalls import _kernel

    r = _kernel.link_up(name)
    if r < 0:
        raise _fail(r, f"bringing {name} up")


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
