"""pyruntime/sealed_exe.py: the sealed memfd copy of the interpreter that
create/run/exec re-exec from (the CVE-2019-5736 class). The attack itself
is in tests/integration/test_security_exe.py."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys

import pytest

from pyruntime import sealed_exe


def test_the_copy_is_the_interpreter_and_sealed() -> None:
    fd = sealed_exe.sealed_copy()
    try:
        with open("/proc/self/exe", "rb") as f:
            exe = f.read()
        assert os.pread(fd, len(exe) + 1, 0) == exe
        assert fcntl.fcntl(fd, sealed_exe.F_GET_SEALS) & sealed_exe.SEALS == sealed_exe.SEALS
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:pyruntime ")
        # F_SEAL_WRITE: even a new writable open of the memfd cannot change it
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        try:
            with pytest.raises(OSError) as e:
                os.pwrite(w, b"PWNED!", 0)
            assert e.value.errno == errno.EPERM
        finally:
            os.close(w)
        with pytest.raises(OSError):
            os.ftruncate(fd, 0)
        assert os.get_inheritable(fd) is False  # never reaches a container
    finally:
        os.close(fd)


def test_not_sealed_when_run_from_a_file() -> None:
    assert sealed_exe.running_sealed() is False


def test_reexec_runs_from_the_sealed_copy_with_the_same_argv() -> None:
    code = ("import os, sys; from pyruntime import sealed_exe; sealed_exe.reexec_sealed(); "
            "print(os.readlink('/proc/self/exe'), sealed_exe.running_sealed(), sys.argv[1:])")
    p = subprocess.run([sys.executable, "-c", code, "a b", "c"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "/memfd:pyruntime (deleted) True ['a b', 'c']\n", p.stdout
