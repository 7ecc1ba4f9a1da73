"""A create that fails, or is killed half-way, leaves nothing behind: no
state dir entry, no cgroup dir, no mount, no process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import (
    alive,
    cgroup_dirs,
    cgroup_pids,
    cmdline,
    container_processes,
    create,
    descendants,
    kill_pids,
    mounts_mentioning,
    must,
    remove_cgroups,
    root_entries,
    wait_for,
)
from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]


@pytest.fixture
def leftovers(cid: str) -> Iterator[None]:
    """After the test, remove what a faulty runtime left for this id (only
    cgroup dirs named after the test's own id, and the processes in them)."""
    yield
    remove_cgroups(cid)


def _wrong_ns_type(cfg: dict[str, Any]) -> None:
    for ns in cfg["linux"]["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = "/proc/self/ns/uts"


def _missing_exe(cfg: dict[str, Any]) -> None:
    cfg["process"]["args"] = ["/bin/no-such-program"]


def _cwd_is_file(cfg: dict[str, Any]) -> None:
    cfg["process"]["cwd"] = "/etc/passwd"


CASES: dict[str, Callable[[dict[str, Any]], None] | None] = {
    "missing-rootfs": None,
    "namespace-path-of-wrong-type": _wrong_ns_type,
    "nonexistent-executable": _missing_exe,
    "cwd-is-a-file": _cwd_is_file,
}


def assert_nothing_left(rt: Any, cid: str, bundle: Path, mounts_before: list[str]) -> None:
    assert cid not in root_entries(rt), f"state dir entry left: {sorted(root_entries(rt))}"
    assert cgroup_dirs(cid) == [], f"cgroup dirs left: {cgroup_dirs(cid)}"
    assert mounts_mentioning(bundle) == mounts_before, "mounts left behind"
    # a process may take a moment to be reaped after the runtime returns
    try:
        wait_for(lambda: not container_processes(cid, bundle), timeout=3,
                 what="container processes to go away")
    except AssertionError:
        procs = container_processes(cid, bundle)
        raise AssertionError(f"processes left: {[(p, cmdline(p)) for p in procs]}") from None


@pytest.mark.usefixtures("leftovers")
@pytest.mark.parametrize("case", list(CASES))
def test_failed_create_leaves_nothing(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path,
                                      case: str) -> None:
    bundle = make_bundle(["sleep", "30"], mutate=CASES[case])
    if case == "missing-rootfs":
        shutil.rmtree(bundle / "rootfs")
    pid_file = tmp_path / "pid"
    mounts_before = mounts_mentioning(bundle)

    p = create(rt, bundle, cid, "--pid-file", str(pid_file))

    assert p.returncode != 0
    assert p.stderr.strip(), "no error message"
    assert not pid_file.exists()
    assert_nothing_left(rt, cid, bundle, mounts_before)
    s = rt("state", cid)
    assert s.returncode != 0 and "container does not exist" in s.stderr


def _hook_pid(create_pid: int) -> int | None:
    for pid in descendants(create_pid):
        if cmdline(pid) == ["sleep", "30"]:
            return pid
    return None


@pytest.mark.usefixtures("leftovers")
def test_create_killed_midway_is_cleaned_by_delete_force(rt: Any, cid: str, make_bundle: MakeBundle,
                                                         tmp_path: Path) -> None:
    def prestart_sleeps(cfg: dict[str, Any]) -> None:
        cfg["hooks"] = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"]}]}

    bundle = make_bundle(["true"], mutate=prestart_sleeps)
    mounts_before = mounts_mentioning(bundle)
    out = (tmp_path / "create.out").open("w")
    proc = subprocess.Popen(rt.cmd("create", "--bundle", str(bundle), "--pid-file",
                                   str(tmp_path / "pid"), cid),
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    hook: int | None = None
    others: set[int] = set()
    try:
        wait_for(lambda: (rt.root / cid).is_dir(), what="the state dir")
        wait_for(lambda: _hook_pid(proc.pid) is not None, what="the prestart hook to run")
        hook = _hook_pid(proc.pid)
        assert hook is not None
        # everything the create started apart from the hook: the container's processes
        others = (descendants(proc.pid) | cgroup_pids(cid)) - {hook}
        assert others, "no container process found while the prestart hook runs"

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

        must(rt("delete", "--force", cid))

        assert cid not in root_entries(rt)
        assert mounts_mentioning(bundle) == mounts_before
        wait_for(lambda: not any(alive(p) for p in others), timeout=5,
                 what=f"the container's processes {sorted(others)} to die")
        wait_for(lambda: not (container_processes(cid, bundle) - {hook}), timeout=3,
                 what="no process of the container")
        s = rt("state", cid)
        assert s.returncode != 0 and "container does not exist" in s.stderr
        if is_runc(rt):
            # (the leftovers fixture removes them)
            assert cgroup_dirs(cid) != [], "runc 1.1.5 removed the cgroup dirs"
            pytest.xfail("runc 1.1.5 delete --force of a container without state.json removes the state dir "
                         "only: the cgroup paths are in the state.json the killed create never wrote, so its "
                         "cgroup dirs stay")
        assert cgroup_dirs(cid) == [], f"cgroup dirs left: {cgroup_dirs(cid)}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        if hook is not None and cmdline(hook) == ["sleep", "30"]:
            kill_pids([hook])
        kill_pids(p for p in others if alive(p))
