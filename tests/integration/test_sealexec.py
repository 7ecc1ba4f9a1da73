"""The launcher's sealing (pyruntime/launch/_sealexec.c, built into the installed C
launcher pyruntime/launch/_launcher.c): `create`, `run` and `exec` run from the
sealed memfd copy of the interpreter (the CVE-2019-5736 class,
pyruntime/launch/sealed.py) with one interpreter start, not two (the launcher
execs the copy; Python's reexec_sealed() then finds itself sealed)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pyruntime.launch import sealed as sealed_exe
from tests.conftest import Runtime
from tests.integration.probes import create, must

REPO = Path(__file__).resolve().parents[2]
MakeBundle = Callable[..., Path]
SEALED = "/memfd:pyruntime (deleted)"


@pytest.fixture
def launcher(rt: Runtime) -> Runtime:
    if rt.name != "pyruntime":
        pytest.skip("pyruntime's launcher and its helper")
    bindir = Path(rt.path).parent
    site = bindir.parent / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if not (site / "pyruntime" / "_sealexec").exists():
        pytest.skip("no installed pyruntime/launch/_sealexec next to the launcher (an editable install)")
    return rt


def _sealed(path: str) -> bool:
    """path (a /proc/<pid>/exe) is our memfd with every seal on."""
    if os.readlink(path) != SEALED:
        return False
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return fcntl.fcntl(fd, sealed_exe.F_GET_SEALS) & sealed_exe.SEALS == sealed_exe.SEALS
    finally:
        os.close(fd)


def _interpreter_starts(tmp_path: Path, cmd: list[str]) -> list[str]:
    """Run cmd under strace; the execve/execveat calls that started Python:
    argv is the launcher's `python3 -I -S -c` (the helper's own execve has
    its path first), from a file or the memfd. Not the warm server that a
    command may start when it is done (pyruntime/launch/server.py): another process."""
    if not shutil.which("strace"):
        pytest.skip("needs strace")
    log = tmp_path / "strace.txt"
    p = subprocess.run(["strace", "-f", "-qq", "-s", "256", "-o", str(log), "-e", "trace=execve,execveat",
                       *cmd], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    return [line for line in log.read_text().splitlines()
            if re.search(r'execve(at)?\(.*\["[^"]*python3", "-I", "-S", "-c"', line)
            and "pyruntime.launch.server import serve" not in line]


def test_run_starts_the_interpreter_once_from_the_memfd(launcher: Runtime, cid: str,
                                                        make_bundle: MakeBundle, tmp_path: Path) -> None:
    bundle = make_bundle(["true"])
    starts = _interpreter_starts(tmp_path, launcher.cmd("run", "--bundle", str(bundle), cid))
    # the helper's execveat(memfd, "", ..., AT_EMPTY_PATH); no execve of the
    # file, no re-exec of /proc/self/fd/N by reexec_sealed()
    assert len(starts) == 1, starts
    assert re.search(r'execveat\(\d+, "", \["[^"]*/python3", "-I", "-S", "-c"', starts[0]), starts
    assert "AT_EMPTY_PATH" in (tmp_path / "strace.txt").read_text()


def test_created_init_and_create_itself_run_sealed(launcher: Runtime, cid: str, make_bundle: MakeBundle,
                                                   tmp_path: Path) -> None:
    seen = tmp_path / "hook-parent-exe"

    def hook(cfg: dict[str, object]) -> None:
        # a createRuntime hook is a child of the `create` process: its parent's exe
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
            "sh", "-c", f'readlink /proc/$PPID/exe > {seen}; cat /proc/$PPID/cmdline | tr "\\0" " " >> {seen}']}]}

    bundle = make_bundle(["sleep", "30"], mutate=hook)
    must(create(launcher, bundle, cid))
    parent = seen.read_text()
    assert parent.startswith(SEALED + "\n"), parent
    assert "-I -S -c" in parent, parent  # it was the create command
    pid = launcher.state(cid)["pid"]
    assert _sealed(f"/proc/{pid}/exe")  # the init, waiting for `start`
    must(launcher("start", cid))
    starts = _interpreter_starts(tmp_path, launcher.cmd("exec", cid, "true"))
    assert len(starts) == 1 and "execveat(" in starts[0], starts
    must(launcher("delete", "--force", cid))


def test_without_the_helper_python_reexecs_as_before(launcher: Runtime, cid: str, make_bundle: MakeBundle,
                                                     tmp_path: Path) -> None:
    """The sh launcher (bin/pyruntime: a source tree, an editable install) run
    with a python3 whose directory has no helpers next to it: two starts (the
    file, then reexec_sealed()'s /proc/self/fd/N), still sealed."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(os.path.realpath(Path(launcher.path).parent / "python3"))
    shutil.copy2(REPO / "bin" / "pyruntime", bindir / "pyruntime")
    # the interpreter finds the venv (pyvenv.cfg) only next to it: give it the real one's site-packages
    (tmp_path / "pyvenv.cfg").write_text((Path(launcher.path).parent.parent / "pyvenv.cfg").read_text())
    lib = tmp_path / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    lib.mkdir(parents=True)
    real_site = Path(launcher.path).parent.parent / lib.relative_to(tmp_path) / "site-packages"
    (lib / "site-packages").mkdir()
    for entry in real_site.iterdir():
        if entry.name != "pyruntime":
            (lib / "site-packages" / entry.name).symlink_to(entry)
    pkg = lib / "site-packages" / "pyruntime"
    shutil.copytree(real_site / "pyruntime", pkg, ignore=shutil.ignore_patterns("_sealexec", "_warm"))
    rt = Runtime(str(bindir / "pyruntime"), launcher.root)
    bundle = make_bundle(["true"])
    starts = _interpreter_starts(tmp_path, rt.cmd("run", "--bundle", str(bundle), cid))
    assert len(starts) == 2, starts
    assert starts[0].split("(")[0].endswith("execve") and "/proc/self/fd/" in starts[1], starts
