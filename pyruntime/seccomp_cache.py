"""Compiled seccomp filters kept between `create`s.

libseccomp needs ~9-13 ms to turn Docker's or Podman's default profile
(~360 rules, three architectures) into BPF, on every container: more than
the rest of `create` in Python. The program is a pure function of the
profile, libseccomp, the kernel the actions were checked against and our own
code, so it is kept in CACHE_DIR under a key that hashes all of those:

    sha256(the profile (its repr: the config's order), libseccomp version,
           kernel release, boot id, identity of seccomp.py, this module and
           the compiled binding)

A different profile, an upgrade of libseccomp or pyruntime, or a reboot
(new boot id: the kernel's actions are checked again) gives a new key.

A cached program goes into every container that uses the profile, so only
root may have written it: the directory must be root's with no group/other
access, each file root's, mode 0600, opened without following links; any
doubt is a miss (and the filter is built as before). Root only (rootless
`create` builds every time). At most MAX_ENTRIES files: past that, the
directory is emptied before the next one is written.

File format: one line of JSON ({"skipped": [...names libseccomp did not
know]}), then the BPF program.
"""

from __future__ import annotations

import os
import stat

from pyruntime import jsonfast

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CACHE_DIR = "/run/pyruntime-cache/seccomp"
MAX_ENTRIES = 256
_BPF_INSN = 8
_BPF_MAXINSNS = 4096


def _sha256() -> Any:
    """SHA-256 from CPython's own module: `hashlib` loads OpenSSL (~3.4 ms on
    every create with a profile, measured), _sha256 ~0.3 ms (3.12: _sha2)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:
        try:
            from _sha2 import sha256  # type: ignore[import-not-found, no-redef]
        except ImportError:
            from hashlib import sha256
    return sha256()


def key(seccomp_cfg: dict[str, Any], libseccomp_version: str) -> str | None:
    """The cache key of this profile here, or None when there is no cache (not root)."""
    if os.geteuid() != 0:
        return None
    h = _sha256()
    h.update(repr(seccomp_cfg).encode())  # dicts keep the file's order: same file, same text
    h.update(b"\0" + libseccomp_version.encode() + b"\0" + os.uname().release.encode())
    try:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            h.update(b"\0" + f.read())
        from pyruntime.syscalls import _seccomp

        for path in (__file__, os.path.join(os.path.dirname(__file__), "seccomp.py"), _seccomp.__file__ or ""):
            st = os.stat(path)
            h.update(f"\0{path}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode())
    except OSError:
        return None
    digest: str = h.hexdigest()
    return digest


def _dir_ok(fd: int) -> bool:
    st = os.fstat(fd)
    return stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & 0o077 == 0


def _open_dir(create: bool) -> int:
    """An fd of CACHE_DIR if it is root's alone, else -1."""
    if create:
        parent = os.path.dirname(CACHE_DIR)
        for d in (parent, CACHE_DIR):
            try:
                os.mkdir(d, 0o700)
            except FileExistsError:
                pass
            except OSError:
                return -1
    try:
        fd = os.open(CACHE_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return -1
    if not _dir_ok(fd):
        os.close(fd)
        return -1
    return fd


def get(k: str) -> tuple[bytes, list[str]] | None:
    """(program, skipped syscall names) cached under k, or None."""
    d = _open_dir(create=False)
    if d < 0:
        return None
    try:
        fd = os.open(k, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=d)
    except OSError:
        return None
    finally:
        os.close(d)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
            return None
        data = os.read(fd, st.st_size + 1)
    finally:
        os.close(fd)
    head, sep, program = data.partition(b"\n")
    if not sep or len(program) % _BPF_INSN or not 0 < len(program) <= _BPF_MAXINSNS * _BPF_INSN:
        return None
    try:
        meta = jsonfast.loads(head)
        skipped = [str(s) for s in meta["skipped"]]
    except (ValueError, KeyError, TypeError):
        return None
    return program, skipped


def put(k: str, program: bytes, skipped: list[str]) -> None:
    """Keep program under k (best effort: a failure only costs the next create)."""
    d = _open_dir(create=True)
    if d < 0:
        return
    tmp = f".{k}.{os.getpid()}"
    try:
        names = os.listdir(d)
        if len(names) >= MAX_ENTRIES:
            for name in names:
                try:
                    os.unlink(name, dir_fd=d)
                except OSError:
                    pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=d)
        try:
            os.write(fd, jsonfast.dumps({"skipped": skipped}).encode() + b"\n" + program)
        finally:
            os.close(fd)
        os.rename(tmp, k, src_dir_fd=d, dst_dir_fd=d)
    except OSError:
        try:
            os.unlink(tmp, dir_fd=d)
        except OSError:
            pass
    finally:
        os.close(d)
