"""pyruntime/launch/sealed.py: the sealed memfd copy of the interpreter that
create/run/exec re-exec from (the CVE-2019-5736 class). The attack itself
is in tests/integration/test_security_exe.py."""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pyruntime.launch import sealed as sealed_exe


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
    code = ("import os, sys; from pyruntime.launch import sealed as sealed_exe; sealed_exe.reexec_sealed(); "
            "print(os.readlink('/proc/self/exe'), sealed_exe.running_sealed(), sys.argv[1:])")
    p = subprocess.run([sys.executable, "-c", code, "a b", "c"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.returncode == 0, p.stderr
    assert p.stdout == "/memfd:pyruntime (deleted) True ['a b', 'c']\n", p.stdout


@pytest.fixture(scope="module")
def sealexec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """pyruntime/launch/_sealexec.c (the launcher's helper) compiled as setup.py does."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("needs a C compiler")
    out = tmp_path_factory.mktemp("sealexec") / "_sealexec"
    src = Path(sealed_exe.__file__).with_name("_sealexec.c")
    p = subprocess.run([cc, "-O2", "-Wall", "-Werror", "-o", str(out), str(src)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return str(out)


CHECK = ("import os, sys; from pyruntime.launch import sealed as sealed_exe; "
         "print(os.readlink('/proc/self/exe'), sealed_exe.running_sealed(), sys.orig_argv[1:3], sys.argv[1:])")


def test_helper_execs_the_sealed_copy_with_the_argv_given(sealexec: str) -> None:
    p = subprocess.run([sealexec, sys.executable, "-S", "-c", CHECK, "a b", "c"], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert p.returncode == 0, p.stderr
    # running_sealed(): the memfd is named and sealed as sealed_copy() does, so
    # Python's reexec_sealed() would not start the interpreter again
    assert p.stdout == "/memfd:pyruntime (deleted) True ['-S', '-c'] ['a b', 'c']\n", p.stdout


def test_helper_runs_the_interpreter_itself_when_it_cannot_copy(sealexec: str) -> None:
    """A failure before the exec of the copy (here: the copy exceeds RLIMIT_FSIZE,
    EFBIG) execs the interpreter's file: Python's reexec_sealed() takes over."""
    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    p = subprocess.run([sealexec, sys.executable, "-S", "-c", CHECK], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                       preexec_fn=small_files)
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"{os.path.realpath(sys.executable)} False ['-S', '-c'] []\n", p.stdout
