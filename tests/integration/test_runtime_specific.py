"""Behaviour pyruntime adds or decides for itself: the session keyring,
flags it refuses clearly, --debug, and the hot path's imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import pyruntime
from tests.conftest import Runtime
from tests.integration.probes import create, must, run_nocapture
from tests.support.isolation import build_probe, install_probe
from tests.support.warm import warm_up

MakeBundle = Callable[..., Path]


def _keys_bundle(make_bundle: MakeBundle) -> Path:
    def unmask(cfg: dict[str, Any]) -> None:
        cfg["linux"]["maskedPaths"] = [p for p in cfg["linux"]["maskedPaths"] if p != "/proc/keys"]
    return make_bundle(["cat", "/proc/keys"], mutate=unmask)


def test_new_session_keyring_per_container(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    p = must(rt("run", "--bundle", str(_keys_bundle(make_bundle)), cid))
    assert f"_ses.{cid}" in p.stdout


def _join_session_keyring(name: str) -> Callable[[], None]:
    def join() -> None:  # keyctl(KEYCTL_JOIN_SESSION_KEYRING, name) in the runtime's process
        import ctypes

        if ctypes.CDLL(None, use_errno=True).syscall(250, 1, name.encode(), 0, 0, 0) < 0:
            raise OSError(ctypes.get_errno(), "keyctl")
    return join


def _keyring_serial(name: str) -> int:
    """The serial of the keyring called name, from the host's /proc/keys."""
    for line in Path("/proc/keys").read_text().splitlines():
        if line.split()[-2:-1] == [f"{name}:"]:
            return int(line.split()[0], 16)
    raise AssertionError(f"no keyring {name} in /proc/keys")


def test_no_new_keyring_keeps_the_callers(rt: Runtime, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    """The container's session keyring is the one of the runtime's caller
    (tests/support/probes/keyring.c), also with pyruntime's warm server
    running, which must not serve it (its worker's keyring is the server's)."""
    if _is_pyruntime(rt) and os.geteuid() == 0:
        warm_up(rt, cid)
    bundle = make_bundle(["/bin/keyring", "session"])
    install_probe(build_probe("keyring", tmp_path), bundle)
    for i in range(2):
        name = f"pyrt-caller-{cid}-{i}"
        p = must(rt("run", "--no-new-keyring", "--bundle", str(bundle), f"{cid}-{i}",
                    preexec_fn=_join_session_keyring(name)))
        assert p.stdout.strip() == f"session: {_keyring_serial(name)}", p.stdout


def _is_pyruntime(rt: Runtime) -> bool:
    return "pyruntime" in rt.name


def test_systemd_cgroup_is_refused_clearly(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("pyruntime-specific: runc supports --systemd-cgroup")
    bundle = make_bundle(["true"])
    p = subprocess.run([rt.path, "--root", str(rt.root), "--systemd-cgroup", "run", "--bundle", str(bundle),
                        cid], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    # this host has no systemd as PID 1: the driver's clear error (cgroups/systemd.py)
    if not Path("/run/systemd/system").is_dir():
        assert "--systemd-cgroup: systemd is not running on this host" in p.stderr, p.stderr
    else:
        assert "--systemd-cgroup" in p.stderr, p.stderr
    assert not (rt.root / cid).exists()


def test_debug_logs_the_init_pid(rt: Runtime, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("pyruntime-specific debug messages")
    log = tmp_path / "log.json"
    bundle = make_bundle(["true"])
    p = subprocess.run([rt.path, "--root", str(rt.root), "--debug", "--log", str(log), "--log-format", "json",
                        "run", "--bundle", str(bundle), cid], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert {d["level"] for d in lines} == {"debug"}
    assert any("init pid" in d["msg"] for d in lines)


# Modules that must not load on the commands containerd runs all the time
# (DESIGN.md §4): heavy libraries, and stdlib modules measured at 3-20 ms here.
HOT_DENY = {"jsonschema", "pyroute2", "cgroupspy", "logging", "subprocess", "json", "re", "enum",
            "dataclasses", "socket", "shutil", "typing", "argparse", "datetime"}

_PROBE = """
import sys
sys.path[:0] = sys.argv[1].split(":")
from pyruntime.cli import main
rc = main(sys.argv[3:])
with open(sys.argv[2], "w") as f:
    f.write("\\n".join(sorted(sys.modules)))
sys.exit(rc)
"""


def _modules_after(rt: Runtime, tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    # Where the launcher looks (site-packages), and where this pyruntime is.
    paths = f"{Path(pyruntime.__file__).parent.parent}:{sysconfig.get_paths()['purelib']}"
    argv = [sys.executable, "-I", "-S", "-c", _PROBE, paths, str(out), "--root", str(rt.root), *args]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=(tmp_path / "stderr.txt").open("w"), timeout=30)
    assert p.returncode == 0, (tmp_path / "stderr.txt").read_text()
    return set(out.read_text().split())


def test_hot_commands_import_nothing_heavy(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                           tmp_path: Path) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("checks pyruntime's own imports")
    bundle = make_bundle(["sleep", "30"])
    seen: dict[str, set[str]] = {}
    seen["create"] = _modules_after(rt, tmp_path, "create", "--bundle", str(bundle), cid)
    seen["start"] = _modules_after(rt, tmp_path, "start", cid)
    seen["state"] = _modules_after(rt, tmp_path, "state", cid)
    seen["kill"] = _modules_after(rt, tmp_path, "kill", cid, "KILL")
    seen["delete"] = _modules_after(rt, tmp_path, "delete", "--force", cid)
    for cmd, mods in seen.items():
        heavy = {m for m in mods if m.split(".")[0] in HOT_DENY}
        assert not heavy, f"{cmd} imported {sorted(heavy)}"
    assert not (rt.root / cid).exists()


def test_launcher_runs_from_a_symlink(tmp_path: Path, runtime_path: str) -> None:
    """dockerd and people link the runtime elsewhere: the launcher still finds its Python."""
    if "pyruntime" not in Path(runtime_path).name:
        pytest.skip("pyruntime's launcher")
    link = tmp_path / "my-runtime"
    link.symlink_to(os.path.realpath(runtime_path))
    p = subprocess.run([str(link), "--version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0].startswith("pyruntime version ")


def test_create_run_from_module(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """`python -m pyruntime` is the same CLI."""
    if not _is_pyruntime(rt):
        pytest.skip("pyruntime's module entry")
    bundle = make_bundle(["sh", "-c", "echo from-module"])
    p = subprocess.run([sys.executable, "-m", "pyruntime", "--root", str(rt.root), "run", "--bundle",
                        str(bundle), cid], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from-module\n"


def test_state_of_created_container_names_pid_file_pid(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                       tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "30"])
    pid_file = tmp_path / "init.pid"
    must(create(rt, bundle, cid, "--pid-file", str(pid_file)))
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["pid"] == int(pid_file.read_text())
    must(run_nocapture(rt, "delete", "--force", cid))


def test_config_without_proc_fails_create_cleanly(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """The init reaches the exec fifo through /proc/self/fd after pivot_root:
    without a proc mount, create fails (before reporting ready) and leaves nothing."""
    if not _is_pyruntime(rt):
        pytest.skip("pyruntime's error for this case")

    def no_proc(cfg: dict[str, Any]) -> None:
        cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "proc"]
        cfg["linux"]["maskedPaths"] = []
        cfg["linux"]["readonlyPaths"] = []
    bundle = make_bundle(["true"], mutate=no_proc)
    p = create(rt, bundle, cid)
    assert p.returncode == 1
    assert "no procfs at /proc" in p.stderr
    assert not (rt.root / cid).exists()
    assert not [d for d in Path("/sys/fs/cgroup").glob(f"*/**/{cid}") if d.is_dir()]


# Loaded by nothing on create now (each measured ~30-290 KiB of create's peak
# RSS): the syscalls, the sync channel, flock and lo go through
# pyruntime/syscalls/_kernel.c; hooks and select only with hooks, the less
# common cgroup limits only when asked for.
CREATE_DENY = {"_cffi_backend", "_socket", "fcntl", "_struct", "select", "resource", "pyruntime.hooks",
               "pyruntime.cgroups.v1_resources"}


def test_create_loads_no_extension_module_it_does_not_need(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                          tmp_path: Path) -> None:
    if not _is_pyruntime(rt):
        pytest.skip("checks pyruntime's own imports")
    mods = _modules_after(rt, tmp_path, "create", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    assert not mods & CREATE_DENY, sorted(mods & CREATE_DENY)
    must(rt("delete", "--force", cid))


@pytest.mark.parametrize("lc_all", [None, "", "fr_FR.UTF-8"])
def test_a_hook_without_env_gets_the_callers_lc_all(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                     tmp_path: Path, lc_all: str | None) -> None:
    """pyruntime's launchers start Python with LC_ALL=C (no locale files
    mapped: pyruntime/launch/_pylocale.h); a hook without `env` gets the runtime's
    environment, which must be the caller's (runc: the same)."""
    out = tmp_path / "env.txt"

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": [
            "sh", "-c", f"env > {out}"]}]}

    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "PYRUNTIME_LC_ALL")}
    if lc_all is not None:
        env["LC_ALL"] = lc_all
    p = subprocess.run(rt.cmd("create", "--bundle", str(make_bundle(["sleep", "30"], mutate=mutate)), cid),
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=(tmp_path / "err").open("w"), timeout=60)
    assert p.returncode == 0, (tmp_path / "err").read_text()
    seen = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert seen.get("LC_ALL") == lc_all
    assert "PYRUNTIME_LC_ALL" not in seen
    must(rt("delete", "--force", cid))
