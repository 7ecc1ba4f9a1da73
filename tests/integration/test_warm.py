"""The warm server (pyruntime/launch/server.py, pyruntime/launch/_warm.c): `state`, `start`,
`kill` and `delete` handed to a forked worker of a server that has the CLI
imported. Each test proves the command was served (or deliberately not), and
that the result is what the command's own process gives (PYRUNTIME_WARM=0).

pyruntime only: runc has no such thing.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must, run_nocapture, wait_for
from tests.support.children import CHILDREN
from tests.support.warm import server_key, servers, warm_up

MakeBundle = Callable[..., Path]
LOCAL = {"PYRUNTIME_WARM": "0"}


@pytest.fixture(autouse=True)
def _pyruntime_only(rt: Runtime) -> None:
    if "pyruntime" not in Path(rt.path).name:
        pytest.skip("pyruntime's warm server")
    if os.geteuid() != 0:
        pytest.skip("the warm server serves root only")


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")


def env(**extra: str) -> dict[str, str]:
    return dict(os.environ, **extra)


@pytest.fixture
def running(rt: Runtime, make_bundle: MakeBundle, cid: str) -> Iterator[str]:
    """A running container, made without a warm server (PYRUNTIME_WARM=0)."""
    must(create(rt, make_bundle(["sleep", "300"]), cid))
    must(rt("start", cid, env=env(**LOCAL)))
    assert servers(rt) == []
    yield cid
    rt("delete", "--force", cid)


def _poststart_probe(out: Path) -> Callable[[dict[str, Any]], None]:
    """A poststart hook (run by `start` itself) that records its parent's
    parent, its RLIMIT_NOFILE and oom_score_adj: the parent is the `start`
    command's process."""
    script = (f"ppid=$(awk '/^PPid:/ {{print $2}}' /proc/$PPID/status); "
              f"echo \"$ppid $(ulimit -n) $(ulimit -Hn) $(cat /proc/self/oom_score_adj)\" > {out}")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg.setdefault("hooks", {})["poststart"] = [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    return mutate


def test_start_is_served_by_a_worker_with_the_callers_rlimits(rt: Runtime, make_bundle: MakeBundle, cid: str,
                                                               tmp_path: Path) -> None:
    """The caller's lower rlimits and higher oom_score_adj (containerd's shim
    raises its own) are the worker's: served, the hook gets them."""
    server = warm_up(rt, cid)
    out = tmp_path / "hook.txt"
    must(create(rt, make_bundle(["sleep", "300"], mutate=_poststart_probe(out)), cid))

    def low_nofile() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (321, 512))
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(int(Path(f"/proc/{server}/oom_score_adj").read_text()) + 1))

    must(rt("start", cid, preexec_fn=low_nofile))
    grandparent, soft, hard, oom = out.read_text().split()
    assert int(grandparent) == server, "the hook's parent (start's process) is not a fork of the server"
    assert (soft, hard) == ("321", "512"), "the worker did not take the caller's rlimits"
    assert int(oom) == int(Path(f"/proc/{server}/oom_score_adj").read_text()) + 1, "nor its oom_score_adj"
    assert rt.state(cid)["status"] == "running"
    must(rt("delete", "--force", cid))


# The caller: moves itself into the cgroup given in every hierarchy, then
# runs the command; prints each hierarchy's cgroup.procs of that cgroup
# after the command returned.
_IN_CGROUP = """
import json, os, subprocess, sys
mounts, cgpath, cmd = json.loads(sys.argv[1])
for m in mounts:
    with open(f"{m}{cgpath}/cgroup.procs", "w") as f:
        f.write("0")
p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
procs = {m: open(f"{m}{cgpath}/cgroup.procs").read().split() for m in mounts}
print(json.dumps({"rc": p.returncode, "err": p.stderr, "me": os.getpid(), "procs": procs,
                  "mine": open("/proc/self/cgroup").read()}))
"""


def _cgroup_hook(out: Path) -> Callable[[dict[str, Any]], None]:
    """A poststart hook (run by `start`'s process) recording its cgroups and
    its parent's parent (the server, when start is served)."""
    script = f"cat /proc/self/cgroup > {out}; awk '/^PPid:/ {{print $2}}' /proc/$PPID/status > {out}.pp"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg.setdefault("hooks", {})["poststart"] = [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    return mutate


def test_the_worker_lends_the_callers_cgroups_and_the_server_keeps_none(
        rt: Runtime, make_bundle: MakeBundle, cid: str, tmp_path: Path) -> None:
    """A caller in a cgroup of its own (in every hierarchy) has `start`
    served by a server started from pytest's cgroups. The poststart hook,
    forked by the worker, is in the caller's cgroups, as from runc's (and
    the local) `start` process; after the command returns the caller's
    cgroups hold the caller alone, and the server is in init's cgroups,
    not in any caller's."""
    from tests.support.cgfiles import cgroup_mounts, remove_test_cgroups

    cgpath = f"/pyrt-caller-{cid}"
    mounts = [str(m) for m in cgroup_mounts()]
    try:
        for m in mounts:
            os.mkdir(f"{m}{cgpath}")
            if os.path.exists(f"{m}/cpuset.cpus") and not os.path.exists(f"{m}/cgroup.subtree_control"):
                for f in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset: empty until filled
                    Path(f"{m}{cgpath}/{f}").write_text(Path(f"{m}/{f}").read_text())
        server = warm_up(rt, cid)
        seen = {}
        for mode, extra in (("served", {}), ("local", LOCAL)):
            name = f"{cid}-{mode}"
            out = tmp_path / f"{mode}.cgroup"
            must(create(rt, make_bundle(["sleep", "300"], mutate=_cgroup_hook(out), name=name), name))
            arg = json.dumps([mounts, cgpath, rt.cmd("start", name)])
            p = subprocess.run([sys.executable, "-c", _IN_CGROUP, arg], env=env(**extra),
                               capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            got = json.loads(p.stdout)
            assert got["rc"] == 0, got
            assert all(pids == [str(got["me"])] for pids in got["procs"].values()), got
            grandparent = int(Path(f"{out}.pp").read_text())
            assert (grandparent == server) == (mode == "served"), (mode, grandparent, server)
            seen[mode] = out.read_text()
            # the hook is where its caller is: cgpath in every mounted hierarchy
            # (a v1 hierarchy unmounted but still alive also shows in the file)
            assert seen[mode] == got["mine"], (mode, seen[mode], got["mine"])
            assert got["mine"].count(":" + cgpath + "\n") == len(mounts), got["mine"]
            must(rt("delete", "--force", name))
        assert seen["served"] == seen["local"], seen
        assert Path(f"/proc/{server}/cgroup").read_text() == Path("/proc/1/cgroup").read_text()
    finally:
        remove_test_cgroups(cgpath)


def test_outputs_and_exit_codes_match_the_local_command(rt: Runtime, running: str) -> None:
    warm_up(rt, running)
    cases = [("state", running), ("state", "no-such-container"), ("kill", running, "NOSUCHSIG"),
             ("delete", running), ("start", running), ("kill", "no-such-container", "TERM")]
    for args in cases:
        served, local = rt(*args), rt(*args, env=env(**LOCAL))
        assert (served.returncode, served.stdout) == (local.returncode, local.stdout), args
        # errors: one line, the same message (times may differ)
        assert [line.split("msg=")[-1] for line in served.stderr.splitlines()] == \
            [line.split("msg=")[-1] for line in local.stderr.splitlines()], args
    assert json.loads(rt("state", running).stdout)["status"] == "running"
    must(rt("kill", running, "KILL"))
    wait_for(lambda: rt.state(running)["status"] == "stopped", what="stopped")
    must(rt("delete", running))
    assert not (rt.root / running).exists()


def test_cwd_umask_and_environment_reach_the_worker(rt: Runtime, running: str, tmp_path: Path) -> None:
    server = warm_up(rt, running)
    for mode, sub in (("served", {}), ("local", LOCAL)):
        d = tmp_path / mode
        d.mkdir()

        def umask_077() -> None:
            os.umask(0o077)

        p = subprocess.run([rt.path, "--root", str(rt.root), "--log", "rel.log", "--log-format", "json",
                            "kill", running, "NOSUCHSIG"], cwd=d, env=env(**sub), preexec_fn=umask_077,
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1
        log = d / "rel.log"
        assert log.exists(), f"{mode}: --log rel.log not written in the caller's directory"
        assert log.stat().st_mode & 0o777 == 0o600, f"{mode}: the caller's umask was not applied"
        assert json.loads(log.read_text().splitlines()[-1])["level"] == "error"
    assert servers(rt) == [server]


def test_a_fault_kill_in_the_worker_kills_the_caller(rt: Runtime, make_bundle: MakeBundle, cid: str) -> None:
    """PYRUNTIME_FAULT=...:kill SIGKILLs the command's process: served, the
    worker dies and the client ends with the same signal."""
    warm_up(rt, cid)
    must(create(rt, make_bundle(["sleep", "300"]), cid))
    p = rt("start", cid, env=env(PYRUNTIME_FAULT="start.checked"))
    assert p.returncode == -signal.SIGKILL
    assert rt.state(cid)["status"] == "created"
    p = rt("start", cid, env=env(PYRUNTIME_FAULT="start.checked", **LOCAL))
    assert p.returncode == -signal.SIGKILL
    must(rt("delete", "--force", cid))


def test_a_killed_caller_takes_its_worker_with_it(rt: Runtime, running: str) -> None:
    """A caller's timeout kills the runtime process: the server kills that
    command's worker too, and its lock is free again."""
    server = warm_up(rt, running)
    client = subprocess.Popen(rt.cmd("delete", "--force", running), env=env(PYRUNTIME_FAULT="delete.start:hang"),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def worker() -> list[int]:
            return [int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != server
                    and _safe_ppid(int(e)) == server]

        wait_for(lambda: len(worker()) == 1, what="the server's worker for delete")
        (w,) = worker()
        assert _is_client(client.pid)
    finally:
        client.kill()
        client.wait(timeout=10)
    wait_for(lambda: not Path(f"/proc/{w}").exists(), what="the worker to be killed")
    assert rt.state(running)["status"] == "running"
    must(rt("delete", "--force", running))
    assert not (rt.root / running).exists()


def _is_client(pid: int) -> bool:
    """pid runs the C client (the installed launcher or _warm), not Python."""
    exe = os.readlink(f"/proc/{pid}/exe")
    return exe.endswith(("/pyruntime", "/_warm")) and "python" not in exe


def _safe_state(pid: int) -> str:
    """/proc/<pid>/stat's state letter, "?" for a process gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "?"


def _safe_ppid(pid: int) -> int:
    try:
        return _ppid(pid)
    except (OSError, AssertionError):
        return -1


def test_another_mount_namespace_is_not_served(rt: Runtime, running: str) -> None:
    """The server checks the caller's namespaces: from a mount namespace where
    --root is an empty tmpfs, `state` runs there and finds nothing."""
    warm_up(rt, running)
    if not shutil.which("unshare"):
        pytest.skip("unshare(1) missing")
    script = f'mount -t tmpfs none "{rt.root}" && exec "$@"'
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        *rt.cmd("state", running)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "does not exist" in p.stderr, p
    assert rt.state(running)["status"] == "running"


def test_server_lifetime(rt: Runtime, running: str) -> None:
    """Killed: the next command runs itself and starts a new one. Idle past
    PYRUNTIME_WARM_IDLE (0: never), or its --root gone: it exits."""
    first = warm_up(rt, running)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not servers(rt), what="the killed server to go")
    assert rt.state(running)["status"] == "running"  # stale socket: runs locally
    wait_for(lambda: len(servers(rt)) == 1, what="a new server")
    assert servers(rt) != [first]
    os.kill(servers(rt)[0], signal.SIGKILL)
    wait_for(lambda: not servers(rt), what="the second server to go")

    rt("state", running, env=env(PYRUNTIME_WARM_IDLE="0.5"))
    wait_for(lambda: len(servers(rt)) == 1, what="a server with a short idle time")
    wait_for(lambda: not servers(rt), timeout=10, what="the idle server to exit")

    # 0: it stays however long it idles, and goes with its root
    rt("state", running, env=env(PYRUNTIME_WARM_IDLE="0"))
    wait_for(lambda: len(servers(rt)) == 1, what="a server")
    time.sleep(2.5)
    assert len(servers(rt)) == 1, "a server with PYRUNTIME_WARM_IDLE=0 exited idle"
    must(rt("delete", "--force", running))
    shutil.rmtree(rt.root)
    wait_for(lambda: not servers(rt), timeout=10, what="the server of a removed --root to exit")


def test_warm_zero_turns_it_off(rt: Runtime, running: str) -> None:
    for _ in range(3):
        assert rt("state", running, env=env(**LOCAL)).returncode == 0
    time.sleep(0.3)
    assert servers(rt) == []


def test_root_of_a_user_namespace_starts_no_server(rt: Runtime, running: str) -> None:
    """uid 0 of another user namespace (rootless Podman runs the runtime so)
    gets its answer, and no server is left behind: one there could not leave
    the user's cgroups (launch/spawn.py _real_root). The control: the same
    command from the real root starts one."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux)")
    assert servers(rt) == []
    for _ in range(2):
        p = subprocess.run(["unshare", "--user", "--map-root-user", *rt.cmd("state", running)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and json.loads(p.stdout)["id"] == running, p.stderr
    time.sleep(0.3)
    assert servers(rt) == []
    assert rt("state", running).returncode == 0
    wait_for(lambda: len(servers(rt)) == 1, what="a server started by the real root")


# A process holding the server's abstract name, as anyone may: as nobody,
# or as root; it accepts connections and never answers.
_SQUATTER = """
import os, socket, sys, time
if sys.argv[2] == "nobody":
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind("\\0pyruntime-warm/" + sys.argv[1])
s.listen(8)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("who", ["nobody", "root"])
def test_a_server_that_is_not_ours_is_not_used(rt: Runtime, running: str, who: str) -> None:
    """Anyone may bind an abstract socket name: the client talks only to a
    root server (SO_PEERCRED), and a root one that does not answer within
    2 s is left too (until its "A" nothing has run). Under a squatter on
    the name, commands run themselves and a new server cannot start (the
    name is taken)."""
    server = warm_up(rt, running)
    key = server_key(server)
    os.kill(server, signal.SIGKILL)
    wait_for(lambda: not servers(rt), what="the killed server to go")
    squatter = subprocess.Popen([sys.executable, "-c", _SQUATTER, key, who], stdout=subprocess.PIPE, text=True)
    try:
        assert squatter.stdout is not None and squatter.stdout.readline() == "ready\n"
        for _ in range(2):
            t0 = time.monotonic()
            assert rt.state(running)["status"] == "running"
            assert time.monotonic() - t0 < (1.0 if who == "nobody" else 4.0)
        time.sleep(0.3)
        assert servers(rt) == []
    finally:
        squatter.kill()
        squatter.wait()


def _run_probe(rt: Runtime, make_bundle: MakeBundle, cid: str, script: str, **kw: Any) -> subprocess.Popen[str]:
    bundle = make_bundle(["sh", "-c", script])
    return subprocess.Popen(rt.cmd("run", "--bundle", str(bundle), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


# A container process that says "ready", then waits for SIGTERM and exits 7.
_TRAP = 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'


def _term_reaches_the_trap(p: subprocess.Popen[str], mode: str) -> None:
    """SIGTERM to the runtime's process p (served: the client) reaches _TRAP's
    process, whose exit status p returns."""
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 7, (mode, err)
    assert out.strip() == "got-term", mode


def test_run_is_served_and_forwards_signals(rt: Runtime, make_bundle: MakeBundle, cid: str) -> None:
    """A foreground `run` runs in a worker of the (sealed) server: the
    container's parent is that worker; a signal to the caller reaches the
    container; its exit status is the caller's, and the container is deleted."""
    server = warm_up(rt, cid)
    assert os.readlink(f"/proc/{server}/exe").startswith("/memfd:pyruntime"), "the server is not sealed"
    for mode, sub in (("served", {}), ("local", LOCAL)):
        name = f"{cid}-{mode}"
        p = _run_probe(rt, make_bundle, name, _TRAP, env=env(**sub))
        try:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready"
            init = json.loads(rt("state", name).stdout)["pid"]
            runner = _ppid(init)
            if mode == "served":
                assert _ppid(runner) == server, "run's process is not a worker of the server"
                assert _is_client(p.pid)
            else:
                assert runner == p.pid
            _term_reaches_the_trap(p, mode)
        finally:
            if p.poll() is None:
                p.kill()
        assert not (rt.root / name).exists()


def test_exec_is_served_and_forwards_signals(rt: Runtime, running: str) -> None:
    """A foreground `exec` runs in a worker of the (sealed) server, as `run`:
    the process's parent is that worker (a subreaper, as the local exec's
    process is); a signal to the caller reaches the process; its exit status
    is the caller's. Local: the exec's own process is the parent."""
    server = warm_up(rt, running)
    for mode, sub in (("served", {}), ("local", LOCAL)):
        p = subprocess.Popen(rt.cmd("exec", running, "sh", "-c", _TRAP), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(**sub))
        try:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "ready", mode
            waiter = p.pid
            if mode == "served":
                assert _is_client(p.pid)
                workers = [int(c) for c in Path(f"/proc/{server}/task/{server}/children").read_text().split()]
                assert len(workers) == 1, workers
                waiter = workers[0]
            # (T1, which forked the process into the container, may be a zombie yet)
            procs = [int(c) for c in Path(f"/proc/{waiter}/task/{waiter}/children").read_text().split()
                     if _safe_state(int(c)) not in ("Z", "?")]
            assert len(procs) == 1, (mode, procs)
            _term_reaches_the_trap(p, mode)
        finally:
            if p.poll() is None:
                p.kill()
    assert rt.state(running)["status"] == "running"


_EXEC_D = """
import ctypes, json, os, subprocess, sys
cmd, env, pid_file = json.loads(sys.argv[1])
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER, as containerd's shim
subprocess.run(cmd, env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
pid = int(open(pid_file).read())
ppid = int([l for l in open(f"/proc/{pid}/status") if l.startswith("PPid:")][0].split()[1])
os.kill(pid, 9)
os.waitpid(pid, 0)  # ours to reap
print(json.dumps({"me": os.getpid(), "parent": ppid}))
"""


@pytest.mark.parametrize("command", ["exec", "run"])
def test_a_foreground_command_that_found_no_server_starts_one(rt: Runtime, running: str,
                                                              make_bundle: MakeBundle, command: str) -> None:
    """exec and run make their own process a subreaper (for the container
    process, reaped when they return): the server they start afterwards is
    still init's child, not an orphan they adopted and lost."""
    argv = ["exec", running, "true"] if command == "exec" else \
        ["run", "--bundle", str(make_bundle(["true"], name="once")), f"{running}-once"]
    p = subprocess.run(rt.cmd(*argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: len(servers(rt)) == 1, what="a server started by the foreground command")
    assert _ppid(servers(rt)[0]) == 1


def test_detached_exec_is_not_served(rt: Runtime, running: str, tmp_path: Path) -> None:
    """exec -d leaves its process to the caller: under a subreaper (the
    shim, which reaps it for its exit status) the process is the
    subreaper's child, with a server running (a worker's orphan would be
    init's)."""
    server = warm_up(rt, running)
    pid_file = tmp_path / "exec.pid"
    arg = json.dumps([rt.cmd("exec", "-d", "--pid-file", str(pid_file), running, "sleep", "30"), env(),
                      str(pid_file)])
    p = subprocess.run([sys.executable, "-c", _EXEC_D, arg], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got["parent"] == got["me"], got
    assert servers(rt) == [server]


def test_detached_run_is_not_served(rt: Runtime, make_bundle: MakeBundle, cid: str) -> None:
    """run -d leaves the init to the caller: never served."""
    warm_up(rt, cid)
    must(run_nocapture(rt, "run", "-d", "--bundle", str(make_bundle(["sleep", "300"])), cid))
    init = rt.state(cid)["pid"]
    assert _ppid(init) != servers(rt)[0]
    assert all(_safe_ppid(init) != w for w in servers(rt))
    must(rt("delete", "--force", cid))


# --- create: served only where its container ends up with the same parent ----

# A subreaper caller (as containerd's shim, conmon or the benchmark). It
# ignores SIGUSR1 and blocks SIGUSR2, runs `state` first (which may start a
# server), creates, starts and reaps one container, and writes what it saw
# as JSON.
_CALLER = CHILDREN + """
import ctypes, json, os, signal, subprocess, sys
cmd, env, bundle, cid, pid_file, out = json.loads(sys.argv[1])
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)

def reap_all():
    reaped = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if not pid:
            break
        reaped.append(pid)
    return reaped

got = {"me": os.getpid()}
subprocess.run(cmd + ["state", "warm-up"], **quiet)
got["after_state"] = children()
got["reaped"] = reap_all()
created = subprocess.run(cmd + ["create", "--bundle", bundle, "--pid-file", pid_file, cid], **quiet)
got["create"] = created.returncode
if not created.returncode:
    init = int(open(pid_file).read())
    got["init_parent"] = int([l for l in open(f"/proc/{init}/status") if l.startswith("PPid:")][0].split()[1])
    subprocess.run(cmd + ["start", cid], check=True, **quiet)
    _, status = os.waitpid(init, 0)  # ours to reap
    got["exit"] = os.waitstatus_to_exitcode(status)
    got["reaped"] += reap_all()
    got["after"] = children()
with open(out, "w") as f:
    json.dump(got, f)
"""


def _subreaper(rt: Runtime, bundle: Path, cid: str, tmp_path: Path, extra: dict[str, str]) -> dict[str, Any]:
    rt.root.mkdir(exist_ok=True)
    out = tmp_path / f"{cid}.json"
    arg = json.dumps([rt.cmd(), env(**extra), str(bundle), cid, str(tmp_path / f"{cid}.pid"), str(out)])
    p = subprocess.run([sys.executable, "-c", _CALLER, arg], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _signals_probe(hook_out: Path) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        _create_probe(hook_out)(cfg)
        cfg["root"]["readonly"] = False  # for /signals.txt
    return mutate


_SIGNALS = "grep -E '^Sig(Ign|Blk)' /proc/self/status > /signals.txt; exit 3"


def _create_probe(out: Path) -> Callable[[dict[str, Any]], None]:
    """A createRuntime hook (run by the `create` process itself) recording
    its parent's parent: the parent is create's process."""
    script = f"awk '/^PPid:/ {{print $2}}' /proc/$PPID/status > {out}"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg.setdefault("hooks", {})["createRuntime"] = [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    return mutate


def test_a_subreaper_caller_never_adopts_a_server(rt: Runtime, make_bundle: MakeBundle, cid: str,
                                                  tmp_path: Path) -> None:
    """A subreaper (containerd's shim, conmon, tini, a harness) whose command
    finds no server: the server's process sees it was adopted by the
    subreaper, not by init, and exits before the command returns (a zombie
    the subreaper reaps, once: the subreaper is recorded). Its create runs in
    its own process and the container is its child, reaped there with its
    exit code; nothing else of ours is its child at any point. The signals
    are as runc gives them: the caller's blocked SIGUSR2 stays blocked, its
    ignored SIGUSR1 is back at SIG_DFL (test_signal_delivery.py)."""
    hook_out = tmp_path / "hook.txt"
    bundle = make_bundle(["sh", "-c", _SIGNALS], mutate=_signals_probe(hook_out))
    got = _subreaper(rt, bundle, cid, tmp_path, {})
    assert [c for c in got["after_state"] if c[2] != "Z"] == [], got
    assert len(got["reaped"]) <= 1, got  # the one that found it was adopted by us
    assert int(hook_out.read_text()) == got["me"], "create did not run in the caller's process"
    assert got["init_parent"] == got["me"], "the created container was not left to the subreaper"
    assert got["exit"] == 3
    assert got["after"] == [], got
    assert servers(rt) == [], "a server started under a subreaper"
    masks = {line.split(":")[0]: int(line.split()[1], 16)
             for line in (bundle / "rootfs" / "signals.txt").read_text().splitlines()}
    assert not masks["SigIgn"] >> (signal.SIGUSR1 - 1) & 1, "the caller's ignored SIGUSR1 reached the container"
    assert masks["SigBlk"] >> (signal.SIGUSR2 - 1) & 1, "the caller's blocked SIGUSR2 did not reach the container"
    must(rt("delete", cid))


def test_a_subreaper_caller_is_served_by_a_server_init_adopted(rt: Runtime, make_bundle: MakeBundle, cid: str,
                                                               tmp_path: Path) -> None:
    """A server started from outside any subreaper (pytest is none: init
    adopted it) serves the subreaper's `state` and `start`, and is still not
    its child; `create` is not served (its container would go to init)."""
    server = warm_up(rt, cid)
    assert _ppid(server) == 1
    hook_out = tmp_path / "hook.txt"
    bundle = make_bundle(["sh", "-c", _SIGNALS], mutate=_signals_probe(hook_out))
    got = _subreaper(rt, bundle, cid, tmp_path, {})
    assert got["reaped"] == [] and got["after_state"] == [], got
    assert int(hook_out.read_text()) == got["me"], "create was served although its container would be lost"
    assert got["init_parent"] == got["me"] and got["exit"] == 3 and got["after"] == [], got
    assert servers(rt) == [server]
    must(rt("delete", cid))


def test_create_is_never_served(rt: Runtime, make_bundle: MakeBundle, cid: str, tmp_path: Path) -> None:
    """A created container's init is left to whoever adopts the orphans of
    the caller's `create` process (the nearest subreaper above it: the shim,
    conmon). A worker's orphans go to the server's reaper, init: so create
    runs in the caller's process."""
    server = warm_up(rt, cid)
    assert _ppid(server) != os.getpid()
    hook_out = tmp_path / "hook.txt"
    must(create(rt, make_bundle(["sleep", "300"], mutate=_create_probe(hook_out)), cid))
    assert int(hook_out.read_text()) == os.getpid(), "create was served although its container would be lost"
    must(rt("delete", "--force", cid))


def _listening(name: str) -> bool:
    """An abstract unix socket of that name is bound (/proc/net/unix: "@name")."""
    return any(line.split()[-1] == "@" + name for line in Path("/proc/net/unix").read_text().splitlines()[1:]
               if len(line.split()) > 7)


def test_a_killed_server_leaves_no_socket_behind(rt: Runtime, running: str) -> None:
    """The server's socket is an abstract name, which the kernel drops with
    the socket: a SIGKILLed server leaves nothing that later commands trip
    over (4,600 dead socket files had piled up in /run/pyruntime-warm over a
    day of test runs when they were files). The next command finds no
    server, runs itself and starts one under the same name."""
    server = warm_up(rt, running)
    key = server_key(server)
    assert _listening("pyruntime-warm/" + key)
    os.kill(server, signal.SIGKILL)
    wait_for(lambda: not servers(rt), what="the killed server to go")
    assert not _listening("pyruntime-warm/" + key)
    assert rt.state(running)["status"] == "running"
    wait_for(lambda: len(servers(rt)) == 1, what="a new server")
    assert server_key(servers(rt)[0]) == key
    wait_for(lambda: _listening("pyruntime-warm/" + key), what="the new server to listen")
