"""The runtime's own resources never reach the container: no file
descriptor of the runtime (state dir, exec fifo, sync socket, pty master,
console socket, log file, fds its caller leaked) is open in the container's
processes -- checked from inside with the static probe fdlist for create,
run and exec, with and without a terminal, --console-socket and
--preserve-fds -- and none is reachable through process.cwd =
/proc/self/fd/N (the CVE-2024-21626 class). The runtime's environment never
becomes the container's.

RUNTIME=/usr/sbin/runc runs the same checks against runc.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import create, must, wait_for
from tests.integration.test_console import console_socket, read_until_hangup, recv_master  # noqa: F401
from tests.support.isolation import describe, install_probe, start_detached, stdio_log
from tests.support.security import Observe, build_static

MakeBundle = Callable[..., Path]
CANARY = "PYRT_LEAK_CANARY"


@pytest.fixture(scope="module")
def fdlist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_static("fdlist", tmp_path_factory.mktemp("fdlist"))


def fds_of(out: str) -> dict[int, str]:
    """fdlist's lines: {fd: target}."""
    assert "end" in out.split("\n"), f"fdlist did not finish: {out!r}"
    return {int(ln.split()[1]): ln.split(" -> ", 1)[1] for ln in out.splitlines() if ln.startswith("fd ")}


def _bundle(make_bundle: MakeBundle, fdlist: Path, args: list[str],
            mutate: Callable[[dict[str, Any]], None] | None = None, name: str = "bundle") -> Path:
    b = make_bundle(args, mutate=mutate, name=name)
    install_probe(fdlist, b)
    return b


def _only_stdio(fds: dict[int, str], record_property: Observe, how: str) -> None:
    assert sorted(fds) == [0, 1, 2], f"more than stdio open in the container: {fds}"
    record_property("observed", f"{how}: only fds 0, 1, 2 ({', '.join(sorted(set(fds.values())))[:100]})")


def test_run_gives_the_container_only_stdio(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path,
                                            tmp_path: Path, record_property: Observe) -> None:
    """run (no terminal, with --log, and an fd the caller leaked to the runtime): fds open in the container's PID 1"""
    b = _bundle(make_bundle, fdlist, ["/bin/fdlist"])
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # a host directory, inherited by the runtime
    try:
        p = subprocess.run(rt.cmd("--log", str(tmp_path / "log"), "run", "--bundle", str(b), cid),
                           capture_output=True, text=True, timeout=30, pass_fds=(leaked,),
                           stdin=subprocess.DEVNULL)
    finally:
        os.close(leaked)
    assert p.returncode == 0, describe(p)
    _only_stdio(fds_of(p.stdout), record_property, "run with --log and a leaked host dir fd")


def test_create_start_gives_the_container_only_stdio(rt: Any, cid: str, make_bundle: MakeBundle,
                                                     fdlist: Path, record_property: Observe) -> None:
    """create + start (stdio to files): fds open in the container's PID 1"""
    b = _bundle(make_bundle, fdlist, ["/bin/fdlist"])
    out = b / "stdout.txt"
    must(create(rt, b, cid, stdout=out))
    must(rt("start", cid))
    wait_for(lambda: "end" in out.read_text().split("\n"), what="fdlist's output")
    _only_stdio(fds_of(out.read_text()), record_property, "create + start")


def test_console_socket_gives_the_container_only_the_pty(rt: Any, cid: str, make_bundle: MakeBundle,
                                                         fdlist: Path,
                                                         console_socket: tuple[socket.socket, Path],  # noqa: F811
                                                         record_property: Observe) -> None:
    """terminal + --console-socket: fds open in the container's PID 1 (no pty master, no socket)"""
    srv, path = console_socket

    def mutate(c: dict[str, Any]) -> None:
        c["process"]["terminal"] = True

    b = _bundle(make_bundle, fdlist, ["/bin/fdlist"], mutate)
    must(rt("create", "--console-socket", str(path), "--bundle", str(b), cid))
    master = recv_master(srv)
    try:
        must(rt("start", cid))
        out = read_until_hangup(master).replace("\r\n", "\n")
    finally:
        os.close(master)
    fds = fds_of(out)
    assert set(fds.values()) == {"/dev/pts/0"}, fds
    _only_stdio(fds, record_property, "terminal via --console-socket")


def test_preserve_fds_passes_exactly_those(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path,
                                           tmp_path: Path, record_property: Observe) -> None:
    """run --preserve-fds 2 with fds 3 and 4 (and 5 leaked): exactly 0-4 in the container"""
    b = _bundle(make_bundle, fdlist, ["/bin/fdlist"])
    files = [tmp_path / f"f{i}" for i in range(3)]
    fds = [os.open(f, os.O_RDWR | os.O_CREAT) for f in files]
    try:
        want = {3: fds[0], 4: fds[1], 5: fds[2]}
        p = subprocess.run(rt.cmd("run", "--preserve-fds", "2", "--bundle", str(b), cid),
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                           preexec_fn=lambda: [os.dup2(src, dst) for dst, src in want.items()] and None,
                           close_fds=False)
    finally:
        for fd in fds:
            os.close(fd)
    assert p.returncode == 0, describe(p)
    got = fds_of(p.stdout)
    assert sorted(got) == [0, 1, 2, 3, 4], got
    assert got[3] == str(files[0]) and got[4] == str(files[1]), got
    record_property("observed", "fds 0-4 exactly (3, 4 the preserved files; 5 closed)")


def _running(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path) -> Path:
    b = _bundle(make_bundle, fdlist, ["sleep", "30"], name="running")
    start_detached(rt, b, cid)
    return b


def test_exec_gives_the_process_only_stdio(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path,
                                           tmp_path: Path, record_property: Observe) -> None:
    """exec (foreground; with an fd the caller leaked): fds open in the exec'd process and, after, in PID 1"""
    _running(rt, cid, make_bundle, fdlist)
    leaked = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        p = subprocess.run(rt.cmd("exec", cid, "/bin/fdlist"), capture_output=True, text=True, timeout=30,
                           pass_fds=(leaked,), stdin=subprocess.DEVNULL)
    finally:
        os.close(leaked)
    assert p.returncode == 0, describe(p)
    assert sorted(fds_of(p.stdout)) == [0, 1, 2], p.stdout
    init = rt("exec", cid, "/bin/fdlist", "1")
    assert init.returncode == 0, describe(init)
    _only_stdio(fds_of(init.stdout), record_property, "exec'd process and PID 1 after exec")


def test_exec_detach_and_preserve_fds(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path, tmp_path: Path,
                                      record_property: Observe) -> None:
    """exec --detach --preserve-fds 1: exactly 0-3 in the exec'd process"""
    b = _running(rt, cid, make_bundle, fdlist)
    f = tmp_path / "kept"
    fd = os.open(f, os.O_RDWR | os.O_CREAT)
    out = b / "exec.out"
    try:
        with open(out, "w") as o:
            p = subprocess.run(rt.cmd("exec", "--detach", "--preserve-fds", "1", cid, "/bin/fdlist"),
                               stdin=subprocess.DEVNULL, stdout=o, stderr=o, timeout=30,
                               preexec_fn=lambda: os.dup2(fd, 3) and None, close_fds=False)
    finally:
        os.close(fd)
    assert p.returncode == 0, out.read_text()
    wait_for(lambda: "end" in out.read_text().split("\n"), what="fdlist's output")
    got = fds_of(out.read_text())
    assert sorted(got) == [0, 1, 2, 3] and got[3] == str(f), got
    record_property("observed", "fds 0-3 exactly")


def test_exec_tty_console_socket_gives_only_the_pty(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path,
                                                    console_socket: tuple[socket.socket, Path],  # noqa: F811
                                                    record_property: Observe) -> None:
    """exec --tty --detach --console-socket: fds open in the exec'd process"""
    srv, path = console_socket
    _running(rt, cid, make_bundle, fdlist)
    p = rt("exec", "--tty", "--detach", "--console-socket", str(path), cid, "/bin/fdlist")
    assert p.returncode == 0, describe(p)
    master = recv_master(srv)
    try:
        out = read_until_hangup(master).replace("\r\n", "\n")
    finally:
        os.close(master)
    fds = fds_of(out)
    assert set(fds.values()) == {"/dev/pts/0"}, fds
    _only_stdio(fds, record_property, "exec with a terminal via --console-socket")


# ---------------------------------------------------------------- cwd through a leaked fd

# From the cwd, climb 40 levels: inside the container's root `..` stops at its
# `/`; from a directory outside (a leaked host fd), it reaches the host's `/`.
ESCAPE = ("d=.; for i in $(seq 1 40); do d=$d/..; done; "
          "if [ \"$(stat -c %d:%i $d)\" = \"$(stat -c %d:%i /)\" ]; then echo inside; else echo ESCAPED; fi")
FDS = range(3, 16)


def test_cwd_through_proc_self_fd_stays_inside(rt: Any, make_bundle: MakeBundle, cid: str,
                                               record_property: Observe) -> None:
    """process.cwd = /proc/self/fd/N (N = 3..15, the CVE-2024-21626 class): a runtime fd to a host directory would put the process outside its root"""
    results = {}
    for n in FDS:
        def mutate(c: dict[str, Any], n: int = n) -> None:
            c["process"]["cwd"] = f"/proc/self/fd/{n}"

        b = make_bundle(["sh", "-c", ESCAPE], mutate=mutate, name=f"cwd{n}")
        p = rt("run", "--bundle", str(b), f"{cid}-{n}")
        rt("delete", "--force", f"{cid}-{n}")
        results[n] = p.stdout.strip() if p.returncode == 0 else "refused"
        assert "ESCAPED" not in p.stdout, f"fd {n}: the container's cwd is outside its root"
    refused = sum(1 for v in results.values() if v == "refused")
    record_property("observed", f"N=3..15: {refused} refused, {len(results) - refused} ran with cwd inside; "
                                "none outside")


def test_exec_cwd_through_proc_self_fd_stays_inside(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path,
                                                    record_property: Observe) -> None:
    """exec --cwd /proc/self/fd/N (N = 3..15): the exec'd process's cwd never outside the container's root"""
    _running(rt, cid, make_bundle, fdlist)
    refused = 0
    for n in FDS:
        p = rt("exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", ESCAPE)
        assert "ESCAPED" not in p.stdout, f"fd {n}: the exec'd process's cwd is outside the root"
        refused += p.returncode != 0
    record_property("observed", f"N=3..15: {refused} refused, {len(FDS) - refused} inside; none outside")


# ---------------------------------------------------------------- environment

def test_runtime_environment_never_reaches_the_container(rt: Any, cid: str, make_bundle: MakeBundle,
                                                         fdlist: Path, record_property: Observe) -> None:
    """a secret in the runtime's environment: run, create + start and exec print the container's env"""
    env = {**os.environ, CANARY: "secret-of-the-host"}
    want = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "HOME=/root"}
    b = _bundle(make_bundle, fdlist, ["env"])
    p = subprocess.run(rt.cmd("run", "--bundle", str(b), cid), capture_output=True, text=True, env=env,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, describe(p)
    assert set(p.stdout.split()) == want, p.stdout

    cid2 = f"{cid}-created"
    b2 = _bundle(make_bundle, fdlist, ["sh", "-c", "env; sleep 30"], name="created")
    log = b2 / "stdio"
    with open(log, "w") as out:
        c = subprocess.run(rt.cmd("create", "--bundle", str(b2), cid2), stdin=subprocess.DEVNULL, stdout=out,
                           stderr=out, env=env, timeout=30)
    try:
        assert c.returncode == 0, log.read_text()
        s = subprocess.run(rt.cmd("start", cid2), capture_output=True, text=True, env=env, timeout=30)
        assert s.returncode == 0, describe(s)
        wait_for(lambda: "HOME=" in log.read_text(), what="the container's env")
        assert CANARY not in log.read_text(), log.read_text()
        e = subprocess.run(rt.cmd("exec", cid2, "env"), capture_output=True, text=True, env=env, timeout=30)
        assert e.returncode == 0, describe(e)
        assert CANARY not in e.stdout and set(e.stdout.split()) == want, e.stdout
    finally:
        rt("delete", "--force", cid2)
    record_property("observed", "only the config's env (+ HOME) in run, create/start and exec")


def test_stdio_log_has_no_runtime_output(rt: Any, cid: str, make_bundle: MakeBundle, fdlist: Path) -> None:
    """control for the create tests: the container's stdio log holds only the program's output"""
    b = _bundle(make_bundle, fdlist, ["echo", "hello"])
    start_detached(rt, b, cid)
    wait_for(lambda: "hello" in stdio_log(b, cid), what="the output")
    assert stdio_log(b, cid).strip() == "hello"
