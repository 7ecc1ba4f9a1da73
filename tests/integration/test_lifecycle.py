"""create → start → kill → delete, the state JSON, flag spellings, and every
lifecycle error, checked the way runc behaves (runc 1.1.5 messages)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    RFC3339,
    alive,
    cgroup_pids,
    cmdline,
    create,
    descendants,
    must,
    proc_state,
    root_entries,
    run_nocapture,
    status_of,
    wait_for,
    wait_status,
)

MakeBundle = Callable[..., Path]

# runc 1.1.5's messages (libcontainer/error.go, utils_linux.go, delete.go, kill.go)
NOT_EXIST = "container does not exist"
ALREADY_RUNNING = "cannot start an already running container"
ALREADY_STOPPED = "cannot start a container that has stopped"
NOT_STOPPED = "that is not stopped"  # "cannot delete container ID that is not stopped: running"
NOT_RUNNING = "container not running"
ID_EXISTS = "container with given ID already exists"
ID_INVALID = "invalid container ID format"
ID_EMPTY = "container id cannot be empty"


def bind_tmp(host_dir: Path) -> Callable[[dict[str, Any]], None]:
    """mutate(): bind-mount host_dir read-write on the container's /tmp."""
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(host_dir),
                              "options": ["rbind", "rw"]})
    return mutate


# ---------------------------------------------------------------- happy path


def test_create_blocks_before_user_process_then_start_runs_it(
        rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    marker = shared / "marker"
    args = ["sh", "-c", "echo x > /tmp/marker; exec sleep 30"]
    bundle = make_bundle(args, mutate=bind_tmp(shared))
    pid_file = tmp_path / "init.pid"

    must(create(rt, bundle, cid, "--pid-file", str(pid_file)))

    st = rt.state(cid)
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert int(pid_file.read_text().strip()) == st["pid"]
    pid = st["pid"]
    assert alive(pid), f"init {pid} is not alive (state {proc_state(pid)})"
    # blocked: not running the user's command yet, and it has not had its effect
    assert cmdline(pid) != args
    time.sleep(0.3)
    assert not marker.exists(), "the user's process ran before start"
    assert rt.state(cid)["status"] == "created"

    must(rt("start", cid))
    wait_for(marker.exists, what="the user's process to run after start")
    st = rt.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == pid
    wait_for(lambda: cmdline(pid) == ["sleep", "30"], what="init to exec the user's process")


@pytest.mark.parametrize("signal_args", [["9"], ["KILL"], ["SIGKILL"], []],
                         ids=["number", "name", "SIGname", "default-TERM"])
def test_kill_stops_and_delete_removes(rt: Any, cid: str, make_bundle: MakeBundle,
                                       signal_args: list[str]) -> None:
    # PID 1 of a pid namespace only gets SIGTERM when it has a handler for it.
    bundle = make_bundle(["sh", "-c", "trap 'exit 143' TERM; sleep 30 & wait"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    assert rt.state(cid)["status"] == "running"
    time.sleep(0.1)  # let sh install its trap

    must(rt("kill", cid, *signal_args))
    wait_status(rt, cid, "stopped")
    st = rt.state(cid)
    assert st["pid"] == 0
    assert st["id"] == cid

    must(rt("delete", cid))
    p = rt("state", cid)
    assert p.returncode != 0
    assert NOT_EXIST in p.stderr
    assert cid not in root_entries(rt)


def test_state_json_keys(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "30"])
    must(create(rt, bundle, cid))
    st = rt.state(cid)
    for key in ("ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"):
        assert key in st, f"state has no {key}: {st}"
    assert isinstance(st["ociVersion"], str) and st["ociVersion"]
    assert st["id"] == cid
    assert st["status"] == "created"
    assert st["bundle"] == str(bundle)
    assert st["rootfs"] == str(bundle / "rootfs")
    assert RFC3339.match(st["created"]), st["created"]
    assert isinstance(st["owner"], str)
    assert not st.get("annotations"), "annotations in state although the config has none"


def test_state_has_annotations(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    notes = {"org.example.key": "value", "org.example.other": "2"}

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = notes

    must(create(rt, make_bundle(["sleep", "30"], mutate=mutate), cid))
    assert rt.state(cid)["annotations"] == notes


def test_state_output_is_only_json(rt: Any, cid: str, sleep_bundle: Path) -> None:
    """Callers merge stdout and stderr of `state` and parse the result."""
    must(create(rt, sleep_bundle, cid))
    p = subprocess.run(rt.cmd("state", cid), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 0, p.stdout
    assert json.loads(p.stdout)["id"] == cid


@pytest.mark.parametrize("spelling", ["--bundle", "-b", "--bundle=", "-bundle", "-bundle="])
def test_bundle_flag_spellings(rt: Any, cid: str, sleep_bundle: Path, spelling: str) -> None:
    flag = [spelling + str(sleep_bundle)] if spelling.endswith("=") else [spelling, str(sleep_bundle)]
    must(run_nocapture(rt, "create", *flag, cid))
    st = rt.state(cid)
    assert st["bundle"] == str(sleep_bundle)
    assert st["status"] == "created"


def test_pid_file_flag_spellings(rt: Any, cid: str, sleep_bundle: Path, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    must(run_nocapture(rt, "create", "-bundle", str(sleep_bundle), f"-pid-file={pid_file}", cid))
    assert int(pid_file.read_text().strip()) == rt.state(cid)["pid"]


def test_kill_all(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sh", "-c", "sleep 31 & sleep 32 & exec sleep 30"])
    must(run_nocapture(rt, "run", "--detach", "--bundle", str(bundle), cid))
    init = rt.state(cid)["pid"]
    wait_for(lambda: len(descendants(init)) >= 2, what="the init's two children")
    pids = descendants(init) | {init}
    assert pids <= cgroup_pids(cid) or not cgroup_pids(cid)

    must(rt("kill", "--all", cid, "KILL"))
    wait_status(rt, cid, "stopped")
    wait_for(lambda: not any(alive(p) for p in pids), what="every container process to die")
    assert rt.state(cid)["pid"] == 0


# ---------------------------------------------------------------- errors


def test_start_twice(rt: Any, cid: str, sleep_bundle: Path) -> None:
    must(create(rt, sleep_bundle, cid))
    must(rt("start", cid))
    p = rt("start", cid)
    assert p.returncode != 0
    assert ALREADY_RUNNING in p.stderr
    assert rt.state(cid)["status"] == "running"
    assert root_entries(rt) == {cid}


def test_start_after_stop(rt: Any, cid: str, sleep_bundle: Path) -> None:
    must(create(rt, sleep_bundle, cid))
    must(rt("start", cid))
    must(rt("kill", cid, "KILL"))
    wait_status(rt, cid, "stopped")
    p = rt("start", cid)
    assert p.returncode != 0
    assert ALREADY_STOPPED in p.stderr
    assert rt.state(cid)["status"] == "stopped"
    assert root_entries(rt) == {cid}


def test_delete_running_fails_and_force_works(rt: Any, cid: str, sleep_bundle: Path) -> None:
    must(run_nocapture(rt, "run", "-d", "-b", str(sleep_bundle), cid))
    pid = rt.state(cid)["pid"]

    p = rt("delete", cid)
    assert p.returncode != 0
    assert NOT_STOPPED in p.stderr
    assert rt.state(cid)["status"] == "running"
    assert alive(pid)

    must(rt("delete", "--force", cid))
    wait_for(lambda: not alive(pid), what="the init to die")
    p = rt("state", cid)
    assert p.returncode != 0 and NOT_EXIST in p.stderr
    assert root_entries(rt) == set()


def test_delete_force_created(rt: Any, cid: str, sleep_bundle: Path) -> None:
    must(create(rt, sleep_bundle, cid))
    pid = rt.state(cid)["pid"]
    must(rt("delete", "-f", cid))
    wait_for(lambda: not alive(pid), what="the init to die")
    assert root_entries(rt) == set()


def test_kill_stopped(rt: Any, cid: str, sleep_bundle: Path) -> None:
    must(create(rt, sleep_bundle, cid))
    must(rt("start", cid))
    must(rt("kill", cid, "9"))
    wait_status(rt, cid, "stopped")
    p = rt("kill", cid, "9")
    assert p.returncode != 0
    assert NOT_RUNNING in p.stderr
    assert root_entries(rt) == {cid}


@pytest.mark.parametrize("command", [["state"], ["start"], ["kill"], ["kill", "@", "9"], ["delete"]],
                         ids=["state", "start", "kill", "kill-9", "delete"])
def test_unknown_id(rt: Any, cid: str, command: list[str]) -> None:
    args = [cid if a == "@" else a for a in command]
    if "@" not in command:
        args.append(cid)
    p = rt(*args)
    assert p.returncode != 0
    assert NOT_EXIST in p.stderr
    assert root_entries(rt) == set()


def test_duplicate_id(rt: Any, cid: str, sleep_bundle: Path, make_bundle: MakeBundle,
                      tmp_path: Path) -> None:
    must(create(rt, sleep_bundle, cid))
    first = rt.state(cid)
    other = make_bundle(["true"], name="other")
    pid_file = tmp_path / "second.pid"
    p = create(rt, other, cid, "--pid-file", str(pid_file))
    assert p.returncode != 0
    assert ID_EXISTS in p.stderr
    assert not pid_file.exists()
    # the first container is untouched
    assert rt.state(cid) == first
    assert alive(first["pid"])
    assert root_entries(rt) == {cid}


@pytest.mark.parametrize("bad_id, message", [
    ("../x", ID_INVALID),
    ("a/b", ID_INVALID),
    ("", ID_EMPTY),
    ("a" * 1024, None),
], ids=["dotdot", "slash", "empty", "1KiB"])
def test_invalid_id(rt: Any, sleep_bundle: Path, tmp_path: Path, bad_id: str,
                    message: str | None) -> None:
    outside = rt.root.parent / "x"
    existed = outside.exists()
    pid_file = tmp_path / "pid"
    p = create(rt, sleep_bundle, bad_id, "--pid-file", str(pid_file))
    assert p.returncode != 0
    if message is not None:
        assert message in p.stderr
    else:  # runc: "lstat ROOT/aaa...: file name too long"; a clearer one is fine
        low = p.stderr.lower()
        assert "too long" in low or "invalid container id" in low, p.stderr
    assert root_entries(rt) == set()
    assert outside.exists() == existed
    assert not pid_file.exists()


def test_init_dies_between_create_and_start(rt: Any, cid: str, sleep_bundle: Path,
                                             tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    must(create(rt, sleep_bundle, cid, "--pid-file", str(pid_file)))
    pid = int(pid_file.read_text().strip())
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), what="the init to die")

    wait_for(lambda: status_of(rt, cid) == "stopped", what="state to say stopped")
    assert rt.state(cid)["pid"] == 0

    p = rt("start", cid)
    assert p.returncode != 0
    assert ALREADY_STOPPED in p.stderr

    must(rt("delete", cid))
    assert root_entries(rt) == set()
    p = rt("state", cid)
    assert p.returncode != 0 and NOT_EXIST in p.stderr


def test_delete_force_unknown_id_succeeds(rt: Any, cid: str) -> None:
    """runc: `delete --force` of an id that does not exist is not an error
    (callers use it to make sure a container is gone)."""
    p = rt("delete", "--force", cid)
    assert p.returncode == 0, p.stderr
    assert root_entries(rt) == set()


# How containerd's shim and its `containerd-shim-runc-v2 delete` cleanup call it
# (the cleanup's `delete --force` of a container the shim deleted already is
# answered by the C launcher, _warm.c deleted_already), and forms it must leave
# to the interpreter (which answers the same).
FORCE_FORMS = {
    "shim": ["--log", "{log}", "--log-format", "json", "delete", "--force", "{id}"],
    "systemd-cgroup, -f, --log=": ["--log={log}", "--log-format=text", "--systemd-cgroup", "delete", "-f", "{id}"],
    "debug": ["--debug", "--log", "{log}", "delete", "--force", "{id}"],
    "root missing": ["--root", "{root}/gone", "--log", "{log}", "delete", "--force", "{id}"],
}


@pytest.mark.parametrize("warm", ["1", "0"])
@pytest.mark.parametrize("form", list(FORCE_FORMS))
def test_delete_force_of_nothing_as_runc(rt: Any, runc: Any, cid: str, tmp_path: Path, form: str,
                                         warm: str) -> None:
    """rc 0, nothing on stdout or stderr, the --log file created and empty:
    pyruntime (served, local) and runc alike. Then the same id created and
    deleted with the same form: really deleted (the quick answer is only
    for a container that is not there)."""
    seen = {}
    for r in (runc, rt):
        log = tmp_path / f"{r.name}.log"
        args = [a.format(log=log, id=cid, root=r.root) for a in FORCE_FORMS[form]]
        p = subprocess.run([r.path, *([] if form == "root missing" else ["--root", str(r.root)]), *args],
                           capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
                           env={**os.environ, "PYRUNTIME_WARM": warm})
        not_debug = [ln for ln in p.stderr.splitlines() if "level=debug" not in ln]
        seen[r.name] = (p.returncode, p.stdout, not_debug, log.exists(),
                        [ln for ln in log.read_text().splitlines() if "debug" not in ln] if log.exists() else None)
    assert seen[rt.name] == seen["runc"] == (0, "", [], True, []), seen


def test_delete_force_after_delete_takes_what_exists(rt: Any, cid: str, sleep_bundle: Path) -> None:
    """The shim's order: `delete` (here of a running container, refused),
    then `delete --force`, which must see the container and remove it."""
    must(create(rt, sleep_bundle, cid))
    must(rt("start", cid))
    pid = rt.state(cid)["pid"]
    assert rt("delete", cid).returncode != 0
    must(rt("--log", str(sleep_bundle / "log.json"), "--log-format", "json", "delete", "--force", cid))
    assert cid not in root_entries(rt)
    wait_for(lambda: not alive(pid), what="the init to be gone")


def test_delete_force_invalid_id_is_an_error(rt: Any) -> None:
    """The quick answer to `delete --force` of an unknown id still checks the
    id first: `../x` is refused, not looked up outside --root."""
    p = rt("delete", "--force", "../x")
    assert p.returncode != 0 and "invalid container ID format" in p.stderr, p.stderr
