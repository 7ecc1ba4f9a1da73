"""NOTIFY_SOCKET passthrough (sd_notify from inside the container, as runc
1.1.5 does it): with NOTIFY_SOCKET in the runtime's environment, the
container gets NOTIFY_SOCKET=/run/notify/notify.sock (its state dir's notify/
bound read-only), and `start` / `run` pass its READY=1 on to the host's
socket with MAINPID. The host side here is a real AF_UNIX datagram socket;
the container side a static probe that does what sd_notify(3) does (busybox
has no datagram client). Every test also passes with RUNTIME=/usr/sbin/runc.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import root_entries, status_of, wait_for
from tests.support.isolation import build_probe, describe, install_probe

MakeBundle = Callable[..., Path]
IN_CONTAINER = "/run/notify/notify.sock"


class HostSocket:
    """The supervisor's end (systemd's, usually): a bound datagram socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))

    def env(self) -> dict[str, str]:
        return {**os.environ, "NOTIFY_SOCKET": str(self.path)}

    def received(self, timeout: float = 0.3) -> list[bytes]:
        """Every datagram that arrives until `timeout` seconds pass without one."""
        out = []
        self.sock.settimeout(timeout)
        while True:
            try:
                out.append(self.sock.recv(4096))
            except TimeoutError:
                return out


@pytest.fixture
def host() -> Iterator[HostSocket]:
    d = Path(tempfile.mkdtemp(prefix="pyrt-notify-"))  # short: sun_path holds 108 bytes
    h = HostSocket(d / "notify.sock")
    yield h
    h.sock.close()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def sdnotify(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the sdnotify probe")
    return build_probe("sdnotify", tmp_path_factory.mktemp("sdnotify"))


def bundle_with(make_bundle: MakeBundle, sdnotify: Path, script: str, **process: Any) -> Path:
    def mutate(c: dict[str, Any]) -> None:
        c["process"].update(process)
    b = make_bundle(["sh", "-c", script], mutate=mutate)
    install_probe(sdnotify, b)
    return b


def runtime(rt: Any, *args: str, env: dict[str, str] | None = None, log: Path | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A runtime command whose container may outlive it: stdio to `log`, not pipes."""
    assert log is not None
    with open(log, "ab") as out:
        p = subprocess.run(rt.cmd(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                           timeout=timeout)
    return subprocess.CompletedProcess(p.args, p.returncode, log.read_text(errors="replace"), "")


READY_AFTER_1S = "echo env=$NOTIFY_SOCKET; sleep 1; sdnotify STATUS=starting READY=1; echo notified; sleep 30"


def test_create_and_start_pass_ready_on(rt: Any, cid: str, make_bundle: MakeBundle, host: HostSocket,
                                        sdnotify: Path) -> None:
    b = bundle_with(make_bundle, sdnotify, READY_AFTER_1S)
    log = b / "out.log"
    p = runtime(rt, "create", "--bundle", str(b), cid, env=host.env(), log=log)
    assert p.returncode == 0, describe(p)
    assert (rt.root / cid / "notify").is_dir()
    assert not host.received(0.1)
    t0 = time.monotonic()
    p = runtime(rt, "start", cid, env=host.env(), log=log)
    took = time.monotonic() - t0
    assert p.returncode == 0, describe(p)
    # start returned once the container said READY=1, after its `sleep 1` (its
    # "notified" may come after: the shell echoes it once sdnotify returns) ...
    assert took >= 0.8, (took, log.read_text())
    wait_for(lambda: "notified" in log.read_text(), what="the container to go on after READY")
    assert f"env={IN_CONTAINER}" in log.read_text()
    # ... and passed on READY (not STATUS) and the init as MAINPID, two datagrams
    pid = rt.state(cid)["pid"]
    assert host.received() == [b"READY=1\n", f"MAINPID={pid}\n".encode()]
    assert rt("delete", "--force", cid).returncode == 0
    assert cid not in root_entries(rt)


def test_start_returns_when_the_container_ends_without_ready(rt: Any, cid: str, make_bundle: MakeBundle,
                                                             host: HostSocket, sdnotify: Path) -> None:
    b = bundle_with(make_bundle, sdnotify, "sleep 1")
    log = b / "out.log"
    assert runtime(rt, "create", "--bundle", str(b), cid, env=host.env(), log=log).returncode == 0
    p = runtime(rt, "start", cid, env=host.env(), log=log)
    assert p.returncode == 0, describe(p)
    assert status_of(rt, cid) == "stopped"
    assert host.received() == []


def test_kill_while_start_waits_for_ready(rt: Any, cid: str, make_bundle: MakeBundle, host: HostSocket,
                                          sdnotify: Path) -> None:
    b = bundle_with(make_bundle, sdnotify, "sleep 30")
    log = b / "out.log"
    assert runtime(rt, "create", "--bundle", str(b), cid, env=host.env(), log=log).returncode == 0
    with open(log, "ab") as out:
        start = subprocess.Popen(rt.cmd("start", cid), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 env=host.env())
    try:
        wait_for(lambda: status_of(rt, cid) == "running", what="the container to run")
        time.sleep(0.2)
        assert start.poll() is None, "start did not wait for READY"
        k = rt("kill", cid, "KILL", timeout=10)  # not blocked by the waiting start
        assert k.returncode == 0, describe(k)
        assert start.wait(10) == 0
    finally:
        if start.poll() is None:
            start.kill()
            start.wait()
    assert host.received() == []


def test_run_detached_waits_for_ready(rt: Any, cid: str, make_bundle: MakeBundle, host: HostSocket,
                                      sdnotify: Path) -> None:
    b = bundle_with(make_bundle, sdnotify, READY_AFTER_1S)
    log, pid_file = b / "out.log", b / "init.pid"
    t0 = time.monotonic()
    p = runtime(rt, "run", "--detach", "--pid-file", str(pid_file), "--bundle", str(b), cid,
                env=host.env(), log=log)
    took = time.monotonic() - t0
    assert p.returncode == 0, describe(p)
    # run returned once the container said READY=1, after its `sleep 1` (the
    # probe's own "sent" lines may come after: it prints once sendto returns)
    assert took >= 0.8, (took, log.read_text())
    assert host.received() == [b"READY=1\n", f"MAINPID={int(pid_file.read_text())}\n".encode()]


def test_run_in_the_foreground_is_the_main_pid(rt: Any, cid: str, make_bundle: MakeBundle, host: HostSocket,
                                               sdnotify: Path) -> None:
    # the runtime stays the container's parent: it is what the supervisor watches (runc too)
    b = bundle_with(make_bundle, sdnotify, "sleep 0.5; sdnotify READY=1; sleep 0.5; echo done")
    run = subprocess.Popen(rt.cmd("run", "--bundle", str(b), cid), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=host.env())
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0 and out.endswith("done\n"), (out, err)
    assert host.received() == [b"READY=1\n", f"MAINPID={run.pid}\n".encode()]


def test_any_user_may_notify_through_the_read_only_mount(rt: Any, cid: str, make_bundle: MakeBundle,
                                                         host: HostSocket, sdnotify: Path) -> None:
    b = bundle_with(make_bundle, sdnotify, "grep /run/notify /proc/self/mountinfo; id -u; sdnotify READY=1",
                    user={"uid": 1000, "gid": 1000})
    p = rt("run", "--bundle", str(b), cid, env=host.env(), timeout=30)
    assert p.returncode == 0, describe(p)
    mount, uid, sent = p.stdout.splitlines()
    assert " ro," in mount and "nosuid" in mount and uid == "1000" and sent == "sent READY=1", p.stdout
    got = host.received()
    assert got[0] == b"READY=1\n" and got[1].startswith(b"MAINPID="), got


def test_without_notify_socket_nothing_changes(rt: Any, cid: str, make_bundle: MakeBundle,
                                               sdnotify: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    b = bundle_with(make_bundle, sdnotify, "echo env=${NOTIFY_SOCKET-unset}; ls /run/notify 2>&1 | head -1")
    p = rt("run", "--bundle", str(b), cid, env=env, timeout=30)
    assert p.returncode == 0 and p.stdout.splitlines()[0] == "env=unset", describe(p)
    assert "No such file" in p.stdout


def test_ready_in_a_multi_line_datagram(rt: Any, cid: str, make_bundle: MakeBundle, host: HostSocket,
                                        sdnotify: Path) -> None:
    if "runc" in Path(rt.path).name:
        pytest.skip("runc 1.1.5 looks for READY= only at the start of a datagram")
    b = bundle_with(make_bundle, sdnotify, "sdnotify \"$(printf 'STATUS=up\\nREADY=1')\"; sleep 30")
    log = b / "out.log"
    p = runtime(rt, "run", "--detach", "--bundle", str(b), cid, env=host.env(), log=log)
    assert p.returncode == 0, describe(p)
    got = host.received()
    assert got[0] == b"READY=1\n" and got[1].startswith(b"MAINPID="), got
