"""`exec`: one more process in a running container (runc's exec flags);
it joins the init's namespaces and cgroup. Each test also passes with
RUNTIME=/usr/sbin/runc."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import (
    add_capabilities,
    describe,
    kill_pid,
    ns_inode,
    pid_alive,
    poll_until,
    proc_cgroups,
    start_detached,
)

MakeBundle = Callable[..., Path]


def _running(rt: Any, cid: str, make_bundle: MakeBundle,
             mutate: Callable[[dict[str, Any]], None] | None = None) -> int:
    def m(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "exec-host"
        if mutate is not None:
            mutate(cfg)
    bundle = make_bundle(["sleep", "60"], mutate=m)
    return start_detached(rt, bundle, cid)


def test_exec_output_and_exit_code(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    p = rt("exec", cid, "sh", "-c", "echo out; echo err >&2; exit 7")
    assert p.returncode == 7, describe(p)
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"
    p = rt("exec", cid, "true")
    assert p.returncode == 0, describe(p)
    p = rt("exec", cid, "cat", input="via stdin\n")
    assert (p.returncode, p.stdout) == (0, "via stdin\n"), describe(p)


def test_exec_flags_stop_at_the_command(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    p = rt("exec", cid, "echo", "-e", "--cwd", "x")
    assert (p.returncode, p.stdout) == (0, "--cwd x\n"), describe(p)


def test_exec_env_cwd_user(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    p = rt("exec", "--env", "FOO=bar", "--env", "PATH=/bin", "--cwd", "/tmp", "--user", "1000:1001",
           "--additional-gids", "5", "--additional-gids", "7", cid,
           "sh", "-c", "echo $FOO $PATH; pwd; id -u; id -g; id -G; echo $HOME")
    assert p.returncode == 0, describe(p)
    assert p.stdout.splitlines() == ["bar /bin", "/tmp", "1000", "1001", "1001 5 7", "/"], describe(p)


def test_exec_process_file(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    _running(rt, cid, make_bundle)
    proc = {"args": ["sh", "-c", "echo $X; pwd; id -u"], "cwd": "/root", "env": ["X=from-file", "PATH=/bin"],
            "user": {"uid": 65534, "gid": 65534}}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = rt("exec", "--process", str(f), cid)
    assert p.returncode == 0, describe(p)
    assert p.stdout.splitlines() == ["from-file", "/root", "65534"], describe(p)


def test_exec_joins_namespaces(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    init = _running(rt, cid, make_bundle)
    # ps: the init is PID 1 of the pid namespace we are in
    p = rt("exec", cid, "ps", "-o", "pid,args")
    assert p.returncode == 0, describe(p)
    rows = [line.split(None, 1) for line in p.stdout.splitlines()[1:]]
    assert ["1", "sleep 60"] in rows, p.stdout
    p = rt("exec", cid, "hostname")
    assert p.stdout == "exec-host\n", describe(p)
    p = rt("exec", cid, "sh", "-c", "for n in net uts mnt ipc pid; do readlink /proc/self/ns/$n; done")
    assert p.returncode == 0, describe(p)
    assert p.stdout.split() == [ns_inode(init, k) for k in ("net", "uts", "mnt", "ipc", "pid")]
    # the root is the container's
    p = rt("exec", cid, "cat", "/etc/passwd")
    assert p.stdout.startswith("root:x:0:0:root:/root:/bin/sh\n"), describe(p)


def test_exec_joins_the_cgroup(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    init = _running(rt, cid, make_bundle)
    p = rt("exec", cid, "cat", "/proc/self/cgroup")
    assert p.returncode == 0, describe(p)
    host_view = proc_cgroups(init)
    assert host_view, "the init has no cgroups"
    # The process's cgroup as seen in the container is the init's (no cgroup namespace
    # in the default config: the same paths as on the host).
    seen = {}
    for line in p.stdout.splitlines():
        _, ctrls, path = line.split(":", 2)
        seen[ctrls] = path
    for ctrls, path in host_view.items():
        assert seen.get(ctrls) == path, (ctrls, seen, host_view)


def test_exec_capabilities(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)

    def caps(*extra: str) -> dict[str, int]:
        p = rt("exec", *extra, cid, "grep", "^Cap", "/proc/self/status")
        assert p.returncode == 0, describe(p)
        return {k.strip(): int(v, 16) for k, v in (line.split(":") for line in p.stdout.splitlines())}

    default = caps()
    # runc's default config: CAP_AUDIT_WRITE (29), CAP_KILL (5), CAP_NET_BIND_SERVICE (10)
    assert default["CapEff"] == (1 << 29) | (1 << 5) | (1 << 10), default
    assert default["CapBnd"] == default["CapEff"]
    assert default["CapInh"] == 0
    more = caps("--cap", "CAP_SYS_ADMIN")
    assert more["CapEff"] == default["CapEff"] | (1 << 21), more
    assert more["CapBnd"] == more["CapEff"]
    # runc 1.1: --cap goes to the bounding, effective and permitted sets only
    assert (more["CapInh"], more["CapAmb"]) == (0, 0), more


def test_exec_no_new_privs(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    for flag, want in (("--no-new-privs=false", "0"), ("--no-new-privs", "1")):
        p = rt("exec", flag, cid, "grep", "NoNewPrivs", "/proc/self/status")
        assert p.returncode == 0, describe(p)
        assert p.stdout.split() == ["NoNewPrivs:", want], describe(p)


def test_exec_detach_pid_file(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    _running(rt, cid, make_bundle)
    pid_file = tmp_path / "exec.pid"
    with tempfile.TemporaryFile() as out:
        p = subprocess.run(rt.cmd("exec", "--detach", "--pid-file", str(pid_file), cid,
                                  "sh", "-c", "echo started; exec sleep 40"),
                           stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30)
        out.seek(0)
        text = out.read().decode()
    assert p.returncode == 0, text
    pid = int(pid_file.read_text())
    try:
        assert pid_alive(pid)
        assert poll_until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes() == b"sleep\x0040\x00")
        assert ns_inode(pid, "pid") == ns_inode(rt.state(cid)["pid"], "pid")
        ps = rt("ps", cid)
        assert str(pid) in ps.stdout.split(), describe(ps)
    finally:
        kill_pid(pid)


@pytest.fixture
def console_socket() -> Iterator[tuple[socket.socket, Path]]:
    d = Path(tempfile.mkdtemp(prefix="pyrt-exec-console-"))
    path = d / "console.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(1)
    try:
        yield srv, path
    finally:
        srv.close()
        path.unlink(missing_ok=True)
        d.rmdir()


def test_exec_tty_with_console_socket(rt: Any, cid: str, make_bundle: MakeBundle,
                                      console_socket: tuple[socket.socket, Path], tmp_path: Path) -> None:
    _running(rt, cid, make_bundle)
    srv, path = console_socket
    pid_file = tmp_path / "tty.pid"
    p = rt("exec", "--tty", "--detach", "--console-socket", str(path), "--pid-file", str(pid_file), cid,
           "sh", "-c", "tty; echo on-tty")
    assert p.returncode == 0, describe(p)
    srv.settimeout(10)
    conn, _ = srv.accept()
    with conn:
        _, anc, _, _ = socket.recv_fds(conn, 1024, 1)
    assert len(anc) == 1
    master = anc[0]
    out = b""
    deadline = time.monotonic() + 10
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
    text = out.decode(errors="replace").replace("\r", "")
    assert "/dev/pts/" in text and "on-tty" in text, text


def test_exec_tty_requires_console_socket_when_detached(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    p = rt("exec", "--tty", "--detach", cid, "true")
    assert p.returncode != 0
    assert "console socket" in p.stderr, describe(p)


def test_exec_into_stopped_container_fails(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    init = _running(rt, cid, make_bundle)
    kill_pid(init)
    assert poll_until(lambda: rt.state(cid)["status"] == "stopped")
    p = rt("exec", cid, "true")
    assert p.returncode == 255
    assert "exec failed: cannot exec in a stopped container" in p.stderr, describe(p)


def test_exec_missing_container_and_args(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    p = rt("exec", cid, "true")
    assert p.returncode == 255
    assert "exec failed: container does not exist" in p.stderr, describe(p)
    _running(rt, cid, make_bundle)
    p = rt("exec", cid)
    assert p.returncode == 255
    assert "exec failed: process args cannot be empty" in p.stderr, describe(p)


def test_exec_command_not_found(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    p = rt("exec", cid, "no-such-command")
    assert p.returncode != 0
    assert "executable file not found" in p.stderr, describe(p)


def test_exec_paused_container(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle)
    assert rt("pause", cid).returncode == 0
    p = rt("exec", cid, "true")
    assert p.returncode == 255
    assert "exec failed: cannot exec in a paused container" in p.stderr, describe(p)
    assert rt("resume", cid).returncode == 0
    assert rt("exec", cid, "true").returncode == 0


def test_exec_configured_capability(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    _running(rt, cid, make_bundle, mutate=lambda c: add_capabilities(c, "CAP_SYS_PTRACE"))
    p = rt("exec", cid, "grep", "^CapEff", "/proc/self/status")
    assert p.returncode == 0, describe(p)
    assert int(p.stdout.split()[1], 16) & (1 << 19), describe(p)


def test_exec_tty_proxied_in_the_foreground(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    if "runc" in rt.name:
        pytest.skip("runc exec --tty in the foreground needs a controlling terminal (opens /dev/tty)")
    _running(rt, cid, make_bundle)
    p = rt("exec", "--tty", cid, "sh", "-c", "tty; exit 4")
    assert p.returncode == 4, describe(p)
    assert "/dev/pts/" in p.stdout, describe(p)


def test_exec_rlimits_and_seccomp_from_the_config(rt: Any, cid: str, make_bundle: MakeBundle,
                                                  tmp_path: Path) -> None:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    _running(rt, cid, make_bundle, mutate=mutate)
    p = rt("exec", cid, "mkdir", "/tmp/x")
    assert p.returncode != 0 and "not permitted" in p.stderr, describe(p)
    proc = {"args": ["grep", "Max msgqueue size", "/proc/self/limits"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0},
            "rlimits": [{"type": "RLIMIT_MSGQUEUE", "soft": 77, "hard": 99}]}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = rt("exec", "--process", str(f), cid)
    assert (p.returncode, p.stdout.split()[-3:]) == (0, ["77", "99", "bytes"]), describe(p)


def test_exec_cpu_affinity(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    if "runc" in rt.name:
        pytest.skip("execCPUAffinity (runtime-spec 1.2.1) is runc 1.2+")
    cpus = sorted(os.sched_getaffinity(0))
    _running(rt, cid, make_bundle)
    final = cpus[-1]
    proc = {"args": ["grep", "Cpus_allowed_list", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 0, "gid": 0},
            "execCPUAffinity": {"initial": str(cpus[0]), "final": str(final)}}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(proc))
    p = rt("exec", "--process", str(f), cid)
    assert (p.returncode, p.stdout.split()) == (0, ["Cpus_allowed_list:", str(final)]), describe(p)
