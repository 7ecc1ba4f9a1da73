"""Run `create`, `run` and `exec` from a sealed in-memory copy of the
interpreter (the CVE-2019-5736 class, runc's fix: cloned_binary.c).

Every process of a container's birth is a fork of the command's process, so
`/proc/<pid>/exe` of the init and of an exec'd process is the interpreter
that runs pyruntime. PR_SET_DUMPABLE 0 (process/intermediate.py,
process/tenant.py) keeps other container processes away from it while it
lives, but not the process itself: a container whose program is a script
starting with `#!/proc/self/exe` makes the kernel execute *our* executable
as the container's process, and that process (or anything sharing its pid
namespace) may open `/proc/self/exe` with O_PATH and, once no process runs
the file any more (ETXTBSY), re-open it for writing through
`/proc/self/fd/N`: the host's interpreter would be overwritten.

So before anything else, these commands copy `/proc/self/exe` into a memfd,
seal it (no write, grow, shrink, or seal change: `F_SEAL_*`), and execve
that copy with the same argv and environment. From then on `/proc/self/exe`
of every process of the container's birth is the sealed memfd: reachable,
but writes fail with EPERM. The copy is the size of the executable: 17 KiB
for a shared libpython build, ~7 MiB for a static one.

The launcher (the installed C launcher, pyruntime/launch/_launcher.c, or the sh
bin/pyruntime with its helper) normally starts these commands through the
code of pyruntime/launch/_sealexec.c, which makes the same copy (same name and
seals, so running_sealed() is True here) and execs it: Python starts once.
Only without it (the sh launcher without the built helper, `python -m
pyruntime`, tests calling the launcher's code directly) does reexec_sealed()
below re-exec, which costs one more interpreter start (~10 ms).
"""

from __future__ import annotations

import os
import sys

from pyruntime.errors import PyruntimeError

MEMFD_NAME = "pyruntime"
MFD_CLOEXEC = 0x0001
MFD_ALLOW_SEALING = 0x0002
MFD_EXEC = 0x0010  # Linux 6.3+: says "executable" explicitly (vm.memfd_noexec)
F_ADD_SEALS = 1033
F_GET_SEALS = 1034
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8
SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE


def running_sealed() -> bool:
    """True when our executable is a memfd of ours with every seal on."""
    from pyruntime import syscalls as sc

    try:
        if not os.readlink("/proc/self/exe").startswith(f"/memfd:{MEMFD_NAME} "):
            return False
        fd = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return sc.fcntl(fd, F_GET_SEALS) & SEALS == SEALS
    except OSError:
        return False
    finally:
        os.close(fd)


def _memfd() -> int:
    try:
        return os.memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC)
    except OSError:  # EINVAL: a kernel before 6.3 does not know MFD_EXEC
        return os.memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING)


def sealed_copy() -> int:
    """A sealed memfd holding a copy of our executable (close-on-exec)."""
    from pyruntime import syscalls as sc

    src = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd = _memfd()
        try:
            left = os.fstat(src).st_size
            while left > 0:
                n = os.sendfile(fd, src, None, left)
                if n == 0:
                    raise OSError(5, "short copy of /proc/self/exe")
                left -= n
            sc.fcntl(fd, F_ADD_SEALS, SEALS)
        except BaseException:
            os.close(fd)
            raise
    finally:
        os.close(src)
    return fd


def reexec_sealed() -> None:
    """Re-exec this process from a sealed copy of its executable, unless it
    runs from one already. Returns only in the sealed process."""
    if running_sealed():
        from pyruntime import syscalls as sc

        sc.set_name("pyruntime")  # exec of /proc/self/fd/N named us "N"
        return
    try:
        fd = sealed_copy()
        # The kernel opens the path before it closes close-on-exec fds: an ELF
        # executable runs from a close-on-exec fd, which then leaks nowhere.
        os.execv(f"/proc/self/fd/{fd}", sys.orig_argv)
    except OSError as e:
        raise PyruntimeError(f"cannot run from a sealed copy of the runtime's executable "
                             f"(protection against CVE-2019-5736): {e.strerror or e}") from None
