"""`run`: exit codes, stdio, --detach, --keep, --preserve-fds."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    alive,
    must,
    root_entries,
    run_nocapture,
    status_of,
    wait_for,
)

MakeBundle = Callable[..., Path]


def no_pid_namespace(cfg: dict[str, Any]) -> None:
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]


@pytest.mark.parametrize("args, code", [
    (["true"], 0),
    (["false"], 1),
    (["sh", "-c", "exit 3"], 3),
])
def test_run_returns_exit_code(rt: Any, cid: str, make_bundle: MakeBundle, args: list[str],
                               code: int) -> None:
    p = rt("run", "--bundle", str(make_bundle(args)), cid)
    assert p.returncode == code, p.stderr
    assert root_entries(rt) == set()


def test_run_killed_by_signal_from_inside_gives_128_plus_signal(
        rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # Inside its own pid namespace the shell would be PID 1, which cannot be
    # SIGKILLed from inside that namespace; so this container shares the host's.
    bundle = make_bundle(["sh", "-c", "kill -9 $$"], mutate=no_pid_namespace)
    p = rt("run", "--bundle", str(bundle), cid)
    assert p.returncode == 137, p.stderr


def test_run_killed_by_signal_from_host_gives_137(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "30"])
    proc = subprocess.Popen(rt.cmd("run", "--bundle", str(bundle), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: status_of(rt, cid) == "running", what="the container to run")
        os.kill(rt.state(cid)["pid"], signal.SIGKILL)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 137, err


def test_run_keeps_stdout_and_stderr_apart(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sh", "-c", "echo to-out; echo to-err >&2; echo more-out"])
    p = rt("run", "--bundle", str(bundle), cid)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "to-out\nmore-out\n"
    assert p.stderr == "to-err\n"


def test_run_passes_stdin_through(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    text = "line one\nline two\n"
    p = rt("run", "--bundle", str(make_bundle(["sh", "-c", "cat; echo done"])), cid, input=text)
    assert p.returncode == 0, p.stderr
    assert p.stdout == text + "done\n"


def test_run_detach(rt: Any, cid: str, sleep_bundle: Path) -> None:
    p = must(run_nocapture(rt, "run", "--detach", "--bundle", str(sleep_bundle), cid, timeout=15))
    assert p.stdout == ""
    st = rt.state(cid)
    assert st["status"] == "running"
    assert alive(st["pid"])


def test_run_keep_leaves_stopped_container(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sh", "-c", "exit 5"])
    p = rt("run", "--keep", "--bundle", str(bundle), cid)
    assert p.returncode == 5, p.stderr
    st = rt.state(cid)
    assert st["status"] == "stopped"
    assert st["pid"] == 0
    assert st["bundle"] == str(bundle)
    assert cid in rt("list", "-q", check=True).stdout.split()
    must(rt("delete", cid))
    assert root_entries(rt) == set()


def test_plain_run_leaves_nothing(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    p = rt("run", "--bundle", str(make_bundle(["true"])), cid)
    assert p.returncode == 0, p.stderr
    assert root_entries(rt) == set()
    s = rt("state", cid)
    assert s.returncode != 0
    assert "container does not exist" in s.stderr


def _run_with_fd3(rt: Any, cid: str, bundle: Path, src: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """`run [flags] ID` with src open on the runtime's fd 3."""
    fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        # pass_fds keeps fd open across the fork; the child then puts it on 3.
        # Only the listed fds survive (close_fds), so 3 must be listed too.
        return subprocess.run(rt.cmd("run", *flags, "--bundle", str(bundle), cid),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                              pass_fds=(fd, 3) if _fd_open(3) else (fd,),
                              preexec_fn=lambda: _move_to_3(fd))
    finally:
        os.close(fd)


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _move_to_3(fd: int) -> None:
    os.dup2(fd, 3, inheritable=True)


def test_preserve_fds(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    src = tmp_path / "payload"
    src.write_text("through fd 3\n")
    bundle = make_bundle(["sh", "-c", "cat <&3"])
    p = _run_with_fd3(rt, cid, bundle, src, "--preserve-fds", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "through fd 3\n"


def test_without_preserve_fds_fd3_is_closed(rt: Any, cid: str, make_bundle: MakeBundle,
                                            tmp_path: Path) -> None:
    src = tmp_path / "payload"
    src.write_text("must not leak\n")
    bundle = make_bundle(["sh", "-c", "cat <&3"])
    p = _run_with_fd3(rt, cid, bundle, src)
    assert p.returncode != 0
    assert "must not leak" not in p.stdout
