"""What a container and its hooks inherit from the runtime's *caller*, with
pyruntime's warm server running (issue 17).

A served command runs in a worker forked from the server, not from the
caller: whatever crosses fork and exec comes from the server unless the
worker takes it over or the server refuses the caller
(pyruntime/launch/identity.py). Each case below is a caller that differs
from the process that started the server in one property (a python wrapper
that changes it in itself, or setpriv/unshare/ionice, then execs the
runtime). Its commands: `run` in the foreground (createRuntime, prestart,
poststart and poststop hooks, and the container's init), and `start` and
`delete` of a container created by a plain caller (poststart, poststop).
Each hook and the init run tests/support/probes/identity.c.

Three ways: pyruntime served (a plain caller warmed a server up first),
pyruntime local (PYRUNTIME_WARM=0), and runc. The hooks must see the
caller's own value (the wrapper runs the probe too, before it execs the
runtime); the container's init the same value served, local and under runc
(where runc sets something of its own, that). Under RUNTIME=/usr/sbin/runc
only runc's run is checked against the caller's values.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must, wait_for
from tests.support.isolation import build_probe, install_probe
from tests.support.runc import is_runc
from tests.support.warm import servers, warm_up

MakeBundle = Callable[..., Path]
LOCAL = {"PYRUNTIME_WARM": "0"}
RUN_HOOKS = ("createRuntime", "prestart", "poststart", "poststop")

# The wrapper: restores what python itself changed (it ignores SIGPIPE and
# SIGXFSZ, which an exec keeps), applies CHANGE, records its own identity
# with the probe (a child: fork+exec, as the runtime's hooks), execs the command.
_PRELUDE = """
import ctypes, json, os, signal, struct, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
probe, own, cmd = json.loads(sys.argv[1])
def ok(r, what):
    if r < 0:
        raise OSError(ctypes.get_errno(), what)
"""
_EXEC = """
subprocess.run([probe, own], check=True, restore_signals=False)
os.execv(cmd[0], cmd)
"""

# seccomp: acct(2) answers errno N; everything else allowed (root with
# CAP_SYS_ADMIN needs no no_new_privs to install a filter)
_SECCOMP = """
arch, nr = {"x86_64": (0xC000003E, 163), "aarch64": (0xC00000B7, 89)}[os.uname().machine]
ins = [(0x20, 0, 0, 4), (0x15, 0, 3, arch), (0x20, 0, 0, 0), (0x15, 0, 1, nr),
       (0x06, 0, 0, 0x00050000 | ERRNO), (0x06, 0, 0, 0x7FFF0000)]
buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in ins))
prog = struct.pack("HxxxxxxQ", len(ins), ctypes.addressof(buf))
ok(libc.prctl(22, 2, ctypes.c_char_p(prog), 0, 0), "PR_SET_SECCOMP")
"""

_CGROUP = """
for m in json.loads(os.environ["PYRT_TEST_CGROUP"]):
    with open(m, "w") as f:
        f.write("0")
"""


@dataclass
class Caller:
    """One differing caller: python CHANGE run in the wrapper (or a tool
    prefix), and the probe keys it shows in."""

    keys: tuple[str, ...]
    change: str = ""
    prefix: tuple[str, ...] = ()
    # keys the container's init gets from the runtime itself, not compared
    # across runs (new namespaces, its own cgroups, a new session keyring)
    container_keys: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, list[Caller]] = {
    # two filtered callers on one --root, one after the other
    "seccomp": [Caller(("Seccomp", "acct"), _SECCOMP.replace("ERRNO", "71")),
                Caller(("Seccomp", "acct"), _SECCOMP.replace("ERRNO", "72"))],
    "supplementary groups": [Caller(("Groups",), "os.setgroups([1234, 5678])")],
    "gid": [Caller(("Gid",), "os.setresgid(1234, 1234, 1234)")],
    "bounding set": [Caller(("CapBnd",), "ok(libc.prctl(24, 13, 0, 0, 0), 'PR_CAPBSET_DROP net_raw')")],
    "ambient capabilities": [Caller(("CapInh", "CapAmb"),
                                    prefix=("setpriv", "--inh-caps", "+net_admin", "--ambient-caps", "+net_admin"))],
    "securebits": [Caller(("securebits",), prefix=("setpriv", "--securebits", "+no_setuid_fixup"))],
    "no_new_privs": [Caller(("NoNewPrivs",), prefix=("setpriv", "--no-new-privs"))],
    "umask": [Caller(("Umask",), "os.umask(0o027)")],
    "rlimits": [Caller(("limit.11", "limit.12"),
                       "import resource\nresource.setrlimit(resource.RLIMIT_MEMLOCK, (65536, 131072))\n"
                       "resource.setrlimit(resource.RLIMIT_SIGPENDING, (1000, 2000))")],
    "cgroups": [Caller(("cgroup",), _CGROUP, container_keys=())],
    "mount namespace": [Caller(("ns.mnt",), "ok(libc.unshare(0x00020000), 'unshare(CLONE_NEWNS)')",
                               container_keys=())],
    "ipc namespace": [Caller(("ns.ipc",), "ok(libc.unshare(0x08000000), 'unshare(CLONE_NEWIPC)')",
                             container_keys=())],
    "uts namespace": [Caller(("ns.uts",), "ok(libc.unshare(0x04000000), 'unshare(CLONE_NEWUTS)')",
                             container_keys=())],
    # unshare(CLONE_NEWTIME) without a fork: the caller's children are born in
    # a new time namespace, and so is the runtime (execve enters the caller's
    # time_for_children); the server's children are not
    "time namespace": [Caller(("ns.time",), "ok(libc.unshare(0x80), 'unshare(CLONE_NEWTIME)')",
                                           container_keys=())],
    # a session of its own with a pty as its controlling terminal (an
    # interactive shell's): hooks share it; the container's init makes its own
    "controlling terminal": [Caller(("tty",), "import fcntl, pty, termios\nmaster, slave = pty.openpty()\n"
                                              "os.setsid()\nfcntl.ioctl(slave, termios.TIOCSCTTY, 0)\n"
                                              "os.set_inheritable(master, True)  # open: no hangup")],
    "loginuid": [Caller(("loginuid", "sessionid"), "open('/proc/self/loginuid', 'w').write('4321')")],
    "session keyring": [Caller(("keyring",), f"ok(libc.syscall(250, 1, b'pyrt-caller-{uuid.uuid4().hex[:8]}', 0, 0), "
                                             "'KEYCTL_JOIN_SESSION_KEYRING')", container_keys=())],
    "signals": [Caller(("SigIgn", "SigBlk"), "signal.signal(signal.SIGUSR1, signal.SIG_IGN)\n"
                                             "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})")],
    "personality": [Caller(("personality",), "libc.personality(0x0040000)")],  # ADDR_NO_RANDOMIZE
    "nice": [Caller(("nice",), "os.nice(7)")],
    "ioprio": [Caller(("ioprio",), prefix=("ionice", "-c", "2", "-n", "5"))],
    "oom_score_adj": [Caller(("oom_score_adj",), "open('/proc/self/oom_score_adj', 'w').write('345')")],
    "timerslack": [Caller(("timerslack",), "ok(libc.prctl(29, 123457, 0, 0, 0), 'PR_SET_TIMERSLACK')")],
    "cpu affinity": [Caller(("Cpus_allowed",), "os.sched_setaffinity(0, {0})")],
    "thp disable": [Caller(("THP_enabled",), "ok(libc.prctl(41, 1, 0, 0, 0), 'PR_SET_THP_DISABLE')")],
    # PR_SET_SPECULATION_CTRL(PR_SPEC_STORE_BYPASS, PR_SPEC_DISABLE): kept across exec
    "speculation": [Caller(("Speculation_Store_Bypass",), "ok(libc.prctl(53, 0, 4, 0, 0), 'PR_SET_SPECULATION_CTRL')")],
}


def _skip_reason(name: str) -> str | None:
    if name == "cpu affinity" and len(os.sched_getaffinity(0)) < 2:
        return "one CPU: nothing to narrow the affinity to"
    if name == "loginuid" and not Path("/proc/self/loginuid").exists():
        return "no audit (CONFIG_AUDITSYSCALL): no loginuid"
    if name == "speculation" and "thread" not in Path("/proc/self/status").read_text().partition(
            "Speculation_Store_Bypass:")[2].partition("\n")[0]:
        return "no per-thread speculative store bypass control on this CPU"
    if name == "seccomp" and platform.machine() not in ("x86_64", "aarch64"):
        return "the filter knows x86_64 and aarch64 only"
    return None


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = " ".join(value.split())
    return out


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = os.environ.get("PYRT_PROBES_DIR")
    if prebuilt and (Path(prebuilt) / "identity").exists():
        return Path(prebuilt) / "identity"
    out = tmp_path_factory.mktemp("identity-probe")
    path = build_probe("identity", out)
    out.chmod(0o755)  # reachable for a hook run under another gid
    return path


@pytest.fixture
def caller_cgroup(cid: str) -> Iterator[str]:
    """A cgroup of the caller's own in every hierarchy, removed afterwards."""
    from tests.support.cgfiles import cgroup_mounts, remove_test_cgroups

    cgpath = f"/pyrt-identity-{cid}"
    files = []
    try:
        for m in (str(m) for m in cgroup_mounts()):
            os.mkdir(f"{m}{cgpath}")
            if os.path.exists(f"{m}/cpuset.cpus") and not os.path.exists(f"{m}/cgroup.subtree_control"):
                for f in ("cpuset.cpus", "cpuset.mems"):  # v1 cpuset: empty until filled
                    Path(f"{m}{cgpath}/{f}").write_text(Path(f"{m}/{f}").read_text())
            files.append(f"{m}{cgpath}/cgroup.procs")
        yield json.dumps(files)
    finally:
        remove_test_cgroups(cgpath)


class Way:
    """One of served / local / runc: a runtime, an environment, a directory
    for what the probes wrote."""

    def __init__(self, name: str, rt: Runtime, env: dict[str, str], out: Path) -> None:
        self.name, self.rt, self.env, self.out = name, rt, env, out
        out.mkdir(parents=True, exist_ok=True)


def _hooks(probe: Path, out: Path, kinds: tuple[str, ...], tag: str) -> Callable[[dict[str, Any]], None]:
    """Each hook kind runs the probe, writing to out/<tag>.<kind>."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {k: [{"path": str(probe), "args": ["identity", str(out / f"{tag}.{k}")]}] for k in kinds}
    return mutate


def _as_caller(way: Way, c: Caller, probe: Path, own: Path, cmd: list[str],
               extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = _PRELUDE + c.change + "\n" + _EXEC
    argv = [*c.prefix, sys.executable, "-c", code, json.dumps([str(probe), str(own), cmd])]
    return subprocess.run(argv, env=dict(os.environ, **way.env, **extra_env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def _views(way: Way, c: Caller, i: int, probe: Path, make_bundle: MakeBundle, cid: str,
           extra_env: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """Caller c's commands in way: {view: its values for c's keys, relative
    to those of the caller that ran the command}."""
    tag = f"{way.name}-{i}"
    d = way.out / tag
    d.mkdir()
    views: dict[str, dict[str, str | None]] = {}
    # run, in the foreground: four hooks and the init
    bundle = make_bundle(["/bin/identity"], mutate=_hooks(probe, d, RUN_HOOKS, "run"), name=f"run-{tag}")
    install_probe(probe, bundle)
    p = _as_caller(way, c, probe, d / "own", way.rt.cmd("run", "--bundle", str(bundle), f"{cid}-{tag}"), extra_env)
    assert p.returncode == 0, (way.name, p.stderr)
    own = parse((d / "own").read_text())
    views["run.container"] = _relative(parse(p.stdout), own, c, "run.container")
    for k in RUN_HOOKS:
        views[f"run.{k}"] = _relative(parse((d / f"run.{k}").read_text()), own, c, k)
    # start and delete of a container a plain caller created
    name = f"{cid}-{tag}-s"
    bundle = make_bundle(["true"], mutate=_hooks(probe, d, ("poststart", "poststop"), "start"), name=f"start-{tag}")
    must(create(way.rt, bundle, name))
    p = _as_caller(way, c, probe, d / "own.start", way.rt.cmd("start", name), extra_env)
    assert p.returncode == 0, (way.name, p.stderr)
    views["start.poststart"] = _relative(parse((d / "start.poststart").read_text()),
                                         parse((d / "own.start").read_text()), c, "poststart")
    wait_for(lambda: way.rt.state(name)["status"] == "stopped", what="the container to exit")
    p = _as_caller(way, c, probe, d / "own.delete", way.rt.cmd("delete", name), extra_env)
    assert p.returncode == 0, (way.name, p.stderr)
    views["delete.poststop"] = _relative(parse((d / "start.poststop").read_text()),
                                         parse((d / "own.delete").read_text()), c, "poststop")
    return views


CALLERS = "the caller's"
# Hooks that runc gives values of its own, not the caller's (its Go
# runtime resets every ignored signal and starts hooks with none blocked;
# pyruntime does the same on purpose: sigstate.for_hook).
RUNC_OWN = {("signals", "SigIgn"), ("signals", "SigBlk")}
# Cases runc cannot run here: with gid 1234 runc's parent may not prlimit its
# init (gid 0) without CAP_SYS_RESOURCE, which this VM lacks ("error
# setting rlimit type 7: operation not permitted"): compared served/local only.
RUNC_FAILS = {"gid"}


def _relative(values: dict[str, str], own: dict[str, str], c: Caller, view: str) -> dict[str, str | None]:
    """A view's values for c's keys: CALLERS where they are the caller's own."""
    keys = c.keys if view != "run.container" or c.container_keys is None else c.container_keys
    return {k: CALLERS if values.get(k) == own.get(k) else values.get(k) for k in keys}


def _as_runc_sees_it(views: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str | None]]:
    """The views runc's can be compared with: not `start`'s poststart hook
    (runc 1.1 runs poststart hooks in `create`, the plain caller's)."""
    return {v: keys for v, keys in views.items() if v != "start.poststart"}


@pytest.mark.parametrize("name", list(CASES))
def test_a_differing_caller_gets_what_it_would_locally_and_from_runc(
        rt: Runtime, make_bundle: MakeBundle, cid: str, tmp_path: Path, probe: Path, name: str,
        request: pytest.FixtureRequest) -> None:
    """Served == local (every view); local == runc (every view runc has);
    under RUNTIME=runc, runc's hooks get the caller's values but for RUNC_OWN."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    reason = _skip_reason(name)
    if reason:
        pytest.skip(reason)
    if is_runc(rt) and name in RUNC_FAILS:
        pytest.skip(f"runc 1.1.5 fails on this host for a {name} caller (RUNC_FAILS)")
    extra_env: dict[str, str] = {}
    if name == "cgroups":
        extra_env["PYRT_TEST_CGROUP"] = request.getfixturevalue("caller_cgroup")
    ways: list[Way] = []
    if is_runc(rt):
        ways.append(Way("runc", rt, {}, tmp_path / "runc"))
    else:
        ways += [Way("served", rt, {}, tmp_path / "served"), Way("local", rt, LOCAL, tmp_path / "local")]
        if name not in RUNC_FAILS:
            runc: Runtime = request.getfixturevalue("runc")
            runc.root.mkdir(exist_ok=True)
            ways.append(Way("runc", runc, {}, tmp_path / "runc"))
        warm_up(rt, cid)  # by a plain caller
    seen = {way.name: [_views(way, c, i, probe, make_bundle, cid, extra_env) for i, c in enumerate(CASES[name])]
            for way in ways}
    if is_runc(rt):
        for views in seen["runc"]:
            for view, got in _as_runc_sees_it(views).items():
                if view.startswith("run.container"):
                    continue
                want = {k: got[k] if (name, k) in RUNC_OWN else CALLERS for k in got}
                assert got == want, f"{name}: runc's {view} hook got {got}, not its caller's"
        return
    assert seen["served"] == seen["local"], f"{name}: served {seen['served']}, local {seen['local']}"
    if "runc" in seen:
        mine = [_as_runc_sees_it(v) for v in seen["local"]]
        runcs = [_as_runc_sees_it(v) for v in seen["runc"]]
        assert mine == runcs, f"{name}: pyruntime {mine}, runc {runcs}"
    assert servers(rt), "the warm server went away"


def test_a_plain_wrapper_is_served(rt: Runtime, make_bundle: MakeBundle, cid: str, tmp_path: Path,
                                   probe: Path) -> None:
    """The control: the wrapper itself (python, exec) changes nothing the
    server compares, so its `start` is served (the hook's grandparent is the
    server), and the cases above test the served path."""
    if is_runc(rt) or os.geteuid() != 0:
        pytest.skip("pyruntime's warm server, as root")
    server = warm_up(rt, cid)
    out = tmp_path / "pp"
    script = f"awk '/^PPid:/ {{print $2}}' /proc/$PPID/status > {out}"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]}
    name = f"{cid}-plain"
    must(create(rt, make_bundle(["true"], mutate=mutate), name))
    p = _as_caller(Way("served", rt, {}, tmp_path / "w"), Caller(()), probe, tmp_path / "own", rt.cmd("start", name),
                   {})
    assert p.returncode == 0, p.stderr
    assert int(out.read_text()) == server
    wait_for(lambda: rt.state(name)["status"] == "stopped", what="the container to exit")
    must(rt("delete", name))
