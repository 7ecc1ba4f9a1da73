"""SCMP_ACT_NOTIFY (runtime-spec config-linux.md "Seccomp", "The Container
Process State"): the runtime sends each filter's listener fd with the
container process state to a seccomp agent at listenerPath; the agent
answers the container's notified syscalls. The agent here is real: a thread
that accepts on the AF_UNIX socket, takes the fd and the state JSON
(recvmsg, SCM_RIGHTS) and answers notifications with
SECCOMP_IOCTL_NOTIF_RECV / SECCOMP_IOCTL_NOTIF_SEND. Every test also runs
against runc (RUNTIME=/usr/sbin/runc); where runc 1.1.5 differs, it says so.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    cgroup_dirs,
    container_processes,
    create,
    must,
    root_entries,
    wait_for,
)
from tests.support.isolation import describe, start_detached

MakeBundle = Callable[..., Path]
DATA = Path(__file__).parent / "data" / "seccomp"

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the agent decodes x86_64 syscall numbers")

# <linux/seccomp.h>: struct seccomp_notif is 80 bytes, seccomp_notif_resp 24.
NOTIF_RECV = 0xC0502100          # SECCOMP_IOWR(0, struct seccomp_notif)
NOTIF_SEND = 0xC0182101          # SECCOMP_IOWR(1, struct seccomp_notif_resp)
USER_NOTIF_FLAG_CONTINUE = 1
NR_MKDIR, NR_MKDIRAT, NR_GETPPID = 83, 258, 110
FAKE_PPID = 4242
# getppid is notified only with this (ignored) first argument: runc's init calls
# getppid(0) after loading the filter and would take a fake answer for a dead parent.
GETPPID_MARK = 0x4242


def is_pyruntime(rt: Any) -> bool:
    return "runc" not in Path(rt.path).name


class SeccompAgent:
    """Accepts connections on `path`; per connection: the raw messages, the
    parsed state and its fds. Answers notifications on every fd received:
    mkdir/mkdirat fail with ENOMEDIUM, getppid returns FAKE_PPID, anything
    else continues as if not filtered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(8)
        self.messages: list[list[tuple[bytes, list[int]]]] = []
        self.states: list[dict[str, Any]] = []
        self.fd_links: list[str] = []
        self.closed: list[bool] = []  # per connection: the runtime closed it after the state
        self.notified: list[tuple[int, int]] = []  # (pid, syscall nr)
        self.answer_syscalls = True
        self._listeners: list[int] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self.srv, select.POLLIN)
        conns: dict[int, tuple[socket.socket, int]] = {}  # fd -> (connection, its index)
        while not self._stop.is_set():
            for fd, ev in poller.poll(50):
                if fd == self.srv.fileno():
                    conn, lfds = self._accept()
                    conns[conn.fileno()] = (conn, len(self.closed) - 1)
                    poller.register(conn, select.POLLIN)
                    for lfd in lfds:
                        poller.register(lfd, select.POLLIN)
                elif fd in conns:  # after the state: only EOF is expected
                    conn, i = conns.pop(fd)
                    poller.unregister(fd)
                    self.closed[i] = conn.recv(1) == b""
                    conn.close()
                elif ev & select.POLLIN and self.answer_syscalls:
                    self._answer(fd)
                elif ev & (select.POLLHUP | select.POLLERR):  # every task of the filter is gone
                    poller.unregister(fd)
        for conn, _ in conns.values():
            conn.close()

    def _accept(self) -> tuple[socket.socket, list[int]]:
        """One connection: messages up to a complete JSON document. (runc
        1.1.5 keeps the connection open until it exits: EOF cannot be the end.)"""
        conn, _ = self.srv.accept()
        conn.settimeout(10)
        msgs: list[tuple[bytes, list[int]]] = []
        state: dict[str, Any] | None = None
        while state is None:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 8)
            if not data and not fds:
                break
            msgs.append((data, fds))
            try:
                state = json.loads(b"".join(d for d, _ in msgs))
            except ValueError:
                continue
        fds = [fd for _, fs in msgs for fd in fs]
        with self._lock:
            self.messages.append(msgs)
            self.states.append(state or {})
            self.closed.append(False)
            self.fd_links.extend(os.readlink(f"/proc/self/fd/{fd}") for fd in fds)
            self._listeners.extend(fds)
        return conn, fds

    def _answer(self, fd: int) -> None:
        buf = bytearray(80)  # the kernel wants it zeroed
        try:
            fcntl.ioctl(fd, NOTIF_RECV, buf, True)
        except OSError:
            return  # the task went away meanwhile
        nid, pid, _flags, nr = struct.unpack_from("=QIIi", buf)
        self.notified.append((pid, nr))
        val, err, flags = 0, 0, USER_NOTIF_FLAG_CONTINUE
        if nr in (NR_MKDIR, NR_MKDIRAT):
            val, err, flags = 0, -errno.ENOMEDIUM, 0
        elif nr == NR_GETPPID:
            val, err, flags = FAKE_PPID, 0, 0
        try:
            fcntl.ioctl(fd, NOTIF_SEND, bytearray(struct.pack("=QqiI", nid, val, err, flags)), True)
        except OSError:
            pass

    def close_listeners(self) -> None:
        """As if the agent died: the kernel then fails notified syscalls with ENOSYS."""
        self.answer_syscalls = False
        with self._lock:
            for fd in self._listeners:
                os.close(fd)
            self._listeners.clear()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.srv.close()
        self.close_listeners()


@pytest.fixture
def agent() -> Iterator[SeccompAgent]:
    d = Path(tempfile.mkdtemp(prefix="pyrt-agent-"))  # short: sun_path holds 108 bytes
    a = SeccompAgent(d / "agent.sock")
    yield a
    a.stop()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def sysprobe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("gcc")
    if cc is None:
        pytest.skip("gcc is needed to build the probe")
    out = tmp_path_factory.mktemp("notify-probe") / "sysprobe"
    subprocess.run([cc, "-static", "-O1", "-o", str(out), str(DATA / "sysprobe.c")], check=True)
    return out


def notify_profile(listener: Path | str, names: list[str], metadata: str = "") -> dict[str, Any]:
    prof: dict[str, Any] = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": str(listener),
                            "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]}
    if metadata:
        prof["listenerMetadata"] = metadata
    return prof


def with_profile(prof: dict[str, Any], nnp: bool = True,
                 annotations: dict[str, str] | None = None) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = prof
        c["process"]["noNewPrivileges"] = nnp
        if annotations:
            c["annotations"] = annotations
    return mutate


MKDIRS = ["mkdir", "mkdirat"]


# ---------------------------------------------------------------- what the agent receives

def test_state_and_fd_reach_the_agent_at_create(rt: Any, cid: str, make_bundle: MakeBundle,
                                                agent: SeccompAgent) -> None:
    b = make_bundle(["sleep", "30"], mutate=with_profile(notify_profile(agent.path, MKDIRS, "meta=1"),
                                                         annotations={"org.example": "yes"}))
    must(create(rt, b, cid))
    # create returns after the agent has the state: no waiting needed
    assert len(agent.states) == 1, agent.messages
    st, pid = agent.states[0], rt.state(cid)["pid"]
    assert st["fds"] == ["seccompFd"] and st["pid"] == pid and st["metadata"] == "meta=1", st
    assert st["ociVersion"], st
    inner = st["state"]
    assert (inner["id"], inner["pid"], inner["bundle"]) == (cid, pid, str(b)), inner
    assert inner["status"] == "creating", inner
    assert inner["annotations"] == {"org.example": "yes"}, inner
    # exactly one fd, with the first message, and it is a seccomp listener
    msgs = agent.messages[0]
    assert [len(fds) for _, fds in msgs][0] == 1 and not any(fds for _, fds in msgs[1:]), msgs
    assert agent.fd_links == ["anon_inode:seccomp notify"]
    # ... and the connection is closed, never used again (runc 1.1.5 leaves it open until it exits)
    wait_for(lambda: agent.closed == [True], timeout=5, what="the runtime to close the connection")


def test_metadata_is_left_out_when_unset(rt: Any, cid: str, make_bundle: MakeBundle,
                                         agent: SeccompAgent) -> None:
    b = make_bundle(["sleep", "30"], mutate=with_profile(notify_profile(agent.path, MKDIRS)))
    must(create(rt, b, cid))
    assert "metadata" not in agent.states[0] or agent.states[0]["metadata"] == "", agent.states


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_agent_answers_the_containers_syscalls(rt: Any, cid: str, make_bundle: MakeBundle,
                                               agent: SeccompAgent, sysprobe: Path, nnp: bool) -> None:
    prof = notify_profile(agent.path, MKDIRS)
    prof["syscalls"].append({"names": ["getppid"], "action": "SCMP_ACT_NOTIFY",
                             "args": [{"index": 0, "value": GETPPID_MARK, "op": "SCMP_CMP_EQ"}]})
    b = make_bundle(["sh", "-c", f"mkdir /dev/shm/x; echo rc=$?; sysprobe {NR_GETPPID}:{GETPPID_MARK}; "
                                 f"sysprobe {NR_GETPPID}:0"],
                    mutate=with_profile(prof, nnp))
    shutil.copy2(sysprobe, b / "rootfs" / "bin" / "sysprobe")
    p = rt("run", "--bundle", str(b), cid, timeout=30)
    assert p.returncode == 0, describe(p)
    assert "No medium found" in p.stderr, describe(p)  # the agent's ENOMEDIUM for mkdir
    # the agent's answer, then the real parent (the shell, pid 1's child: not FAKE_PPID)
    lines = p.stdout.splitlines()
    assert lines[:2] == ["rc=1", f"{NR_GETPPID} ok {FAKE_PPID}"], describe(p)
    assert lines[2].startswith(f"{NR_GETPPID} ok ") and lines[2] != lines[1], describe(p)
    assert NR_GETPPID in {nr for _, nr in agent.notified}


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_runtime_syscalls_after_the_load_may_be_notified(rt: Any, cid: str, make_bundle: MakeBundle,
                                                         agent: SeccompAgent, nnp: bool) -> None:
    # Only the one syscall that hands the fd over cannot be notified (pyruntime:
    # sendmsg; runc: write). Everything after it waits for the agent, which has the fd.
    names = ["execve", "openat", "open", "read", "close", "recvmsg", "rt_sigaction", "getpid"]
    if is_pyruntime(rt):
        names.append("write")
    b = make_bundle(["sh", "-c", "echo done"], mutate=with_profile(notify_profile(agent.path, names), nnp))
    p = rt("run", "--bundle", str(b), cid, timeout=60)
    assert (p.returncode, p.stdout) == (0, "done\n"), describe(p)
    assert agent.notified, "nothing was notified"


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_exec_sends_a_state_for_its_own_process(rt: Any, cid: str, make_bundle: MakeBundle,
                                                agent: SeccompAgent, tmp_path: Path, nnp: bool) -> None:
    b = make_bundle(["sleep", "60"], mutate=with_profile(notify_profile(agent.path, MKDIRS, "m"), nnp))
    init = start_detached(rt, b, cid)
    assert len(agent.states) == 1
    pid_file = tmp_path / "exec.pid"
    p = rt("exec", "--pid-file", str(pid_file), cid, "sh", "-c", "mkdir /dev/shm/y; echo rc=$?")
    assert p.returncode == 0 and p.stdout == "rc=1\n" and "No medium found" in p.stderr, describe(p)
    assert len(agent.states) == 2, agent.states
    st = agent.states[1]
    assert st["pid"] == int(pid_file.read_text()) and st["pid"] != init, st
    assert st["fds"] == ["seccompFd"] and st["metadata"] == "m", st
    assert (st["state"]["id"], st["state"]["pid"], st["state"]["status"]) == (cid, init, "running"), st
    assert agent.fd_links == ["anon_inode:seccomp notify"] * 2


@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_listener_fd_never_reaches_the_container(rt: Any, cid: str, make_bundle: MakeBundle,
                                                 agent: SeccompAgent, nnp: bool) -> None:
    def fds_of(pid: int) -> list[str]:
        out = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        return out

    hook = {"path": "/bin/sh", "args": ["sh", "-c", "ls -l /proc/self/fd/ > /dev/shm/hook-fds"]}

    def mutate(c: dict[str, Any]) -> None:
        with_profile(notify_profile(agent.path, MKDIRS), nnp)(c)
        c["hooks"] = {"startContainer": [hook]}

    b = make_bundle(["sh", "-c", "cat /dev/shm/hook-fds; ls -l /proc/self/fd/; echo listed; sleep 60"],
                    mutate=mutate)
    out = b / "out.log"
    must(create(rt, b, cid, stdout=out))
    init = rt.state(cid)["pid"]
    assert not [link for link in fds_of(init) if "seccomp" in link], fds_of(init)
    must(rt("start", cid))
    wait_for(lambda: "sleep" in Path(f"/proc/{init}/cmdline").read_text(), what="the process to exec")
    assert not [link for link in fds_of(init) if "seccomp" in link], fds_of(init)
    wait_for(lambda: "listed" in out.read_text(), what="the fd listings")
    assert "->" in out.read_text(), out.read_text()
    assert "seccomp" not in out.read_text(), out.read_text()
    p = rt("exec", cid, "ls", "-l", "/proc/self/fd/")
    assert p.returncode == 0 and "seccomp" not in p.stdout, describe(p)


def test_syscalls_fail_with_enosys_once_the_agent_is_gone(rt: Any, cid: str, make_bundle: MakeBundle,
                                                          agent: SeccompAgent) -> None:
    b = make_bundle(["sh", "-c", "mkdir /dev/shm/z 2>&1; echo rc=$?"],
                    mutate=with_profile(notify_profile(agent.path, MKDIRS)))
    out = b / "out.log"
    must(create(rt, b, cid, stdout=out))
    agent.close_listeners()
    must(rt("start", cid))
    wait_for(lambda: "rc=" in out.read_text(), what="the container's output")
    assert "rc=1" in out.read_text() and "Function not implemented" in out.read_text(), out.read_text()


# ---------------------------------------------------------------- errors: clear, and nothing left behind

def _nothing_left(rt: Any, cid: str, bundle: Path) -> None:
    assert cid not in root_entries(rt)
    assert not cgroup_dirs(cid)
    assert not container_processes(cid, bundle)


@pytest.mark.parametrize("what", ["missing", "regular-file", "nobody-listens"])
def test_bad_listener_path_is_an_error(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path,
                                       what: str) -> None:
    d = Path(tempfile.mkdtemp(prefix="pyrt-agent-"))
    try:
        path = d / "agent.sock"
        if what == "regular-file":
            path.write_text("not a socket")
        elif what == "nobody-listens":
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(str(path))  # bound, never listening: connect() is refused
            s.close()
        b = make_bundle(["true"], mutate=with_profile(notify_profile(path, MKDIRS)))
        p = create(rt, b, cid)
        assert p.returncode != 0, describe(p)
        if is_pyruntime(rt):
            assert "linux.seccomp.listenerPath" in p.stderr and str(path) in p.stderr, describe(p)
        _nothing_left(rt, cid, b)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("prof, field", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
     "linux.seccomp.listenerPath"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/x.sock"}, "linux.seccomp.defaultAction"),
])
def test_notify_needs_a_listener_and_is_no_default_action(rt: Any, cid: str, make_bundle: MakeBundle,
                                                          prof: dict[str, Any], field: str) -> None:
    b = make_bundle(["true"], mutate=with_profile(prof))
    p = create(rt, b, cid)
    assert p.returncode != 0, describe(p)
    if is_pyruntime(rt):
        assert field in p.stderr, describe(p)
    _nothing_left(rt, cid, b)


def test_the_fd_handover_syscall_cannot_be_notified(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    agent: SeccompAgent) -> None:
    # runc refuses write (it writes the fd number to its parent); pyruntime sendmsg.
    name = "sendmsg" if is_pyruntime(rt) else "write"
    b = make_bundle(["true"], mutate=with_profile(notify_profile(agent.path, ["mkdir", name])))
    p = create(rt, b, cid)
    assert p.returncode != 0, describe(p)
    said = "the write syscall" if name == "write" else name
    assert f"SCMP_ACT_NOTIFY cannot be used for {said}" in p.stderr, describe(p)
    if is_pyruntime(rt):
        assert "linux.seccomp.syscalls[0].names[1]" in p.stderr, describe(p)
    assert not agent.states
    _nothing_left(rt, cid, b)


def test_listener_path_without_a_notify_rule_is_unused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/nonexistent/agent.sock",
            "listenerMetadata": "x", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    p = rt("run", "--bundle", str(make_bundle(["echo", "ran"], mutate=with_profile(prof))), cid)
    assert (p.returncode, p.stdout) == (0, "ran\n"), describe(p)


# ---------------------------------------------------------------- when the filter is loaded

@pytest.mark.parametrize("case", ["no-nnp", "notify-nnp"])
def test_a_filter_loaded_before_execve_must_allow_the_runtimes_syscalls(
        rt: Any, cid: str, make_bundle: MakeBundle, agent: SeccompAgent, case: str) -> None:
    # What holds: with noNewPrivileges and no NOTIFY rule, pyruntime loads the filter and
    # execs in one C call, so a profile that kills everything but execve, write and exit
    # still runs the container (test_seccomp.py::test_only_execve_write_exit_allowed; runc
    # 1.1.5 cannot). What does not: without noNewPrivileges loading needs CAP_SYS_ADMIN, so
    # the filter goes in before the capabilities are dropped; with a NOTIFY rule it goes in
    # before the exec fifo, while `create` is there to take the listener fd. pyruntime's
    # (and runc's) own syscalls after that (prctl, setresuid, capset, sendmsg, open of the
    # fifo, ...) are then under the filter: such a profile fails `create`, cleanly
    # (runc 1.1.5 without noNewPrivileges loads it after create's last sync: its `run`
    # fails at start).
    prof: dict[str, Any] = {"defaultAction": "SCMP_ACT_KILL_PROCESS",
                            "syscalls": [{"names": ["execve", "write", "exit"], "action": "SCMP_ACT_ALLOW"}]}
    if case == "notify-nnp":
        prof["listenerPath"] = str(agent.path)
        prof["syscalls"].append({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"})
    b = make_bundle(["echo", "ran"], mutate=with_profile(prof, nnp=case == "notify-nnp"))
    p = rt("run", "--bundle", str(b), cid, timeout=30)
    assert p.returncode != 0 and "ran" not in p.stdout, describe(p)
    if is_pyruntime(rt):
        assert "must allow the syscalls pyruntime makes after loading it" in p.stderr, describe(p)
    _nothing_left(rt, cid, b)


def test_wait_killable_recv_flag(rt: Any, cid: str, make_bundle: MakeBundle, agent: SeccompAgent) -> None:
    if not is_pyruntime(rt):
        pytest.skip("runc 1.1.5: 'seccomp flags are not yet supported by runc'")
    prof = notify_profile(agent.path, MKDIRS)
    prof["flags"] = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    b = make_bundle(["sh", "-c", "mkdir /dev/shm/k; echo rc=$?"], mutate=with_profile(prof))
    p = rt("run", "--bundle", str(b), cid, timeout=30)
    assert (p.returncode, p.stdout) == (0, "rc=1\n") and "No medium found" in p.stderr, describe(p)
