"""`kill --all` after the init has exited, as containerd's shim sends it for
pods that share a PID namespace or use the host's: runc 1.1.5's Signal
with all=true signals whatever is left in the cgroup whatever the init's
state (and returns nil when a stopped container's cgroup is gone); without
--all only a live init is signalled ("container not running" otherwise).
Each test runs the same caller pattern on `rt` (RUNTIME) and on runc side
by side and requires the same results.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import create_detached, start_detached, stdio_log

MakeBundle = Callable[..., Path]


def no_pidns(script: str, cgroups_path: str | None = None) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["process"]["args"] = ["sh", "-c", script]
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
        if cgroups_path:
            c["linux"]["cgroupsPath"] = cgroups_path
    return mutate


def alive(pid: int) -> bool:
    """A process, not a zombie (a reaped or dead one is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_for(cond: Callable[[], bool], timeout: float = 5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def status(rt: Any, cid: str) -> str:
    p = rt("state", cid)
    return "gone" if p.returncode else json.loads(p.stdout)["status"]


def init_gone_child_left(rt: Any, make_bundle: MakeBundle, cid: str, name: str,
                         cgroups_path: str | None = None) -> tuple[Path, int]:
    """A container without its own pid namespace whose init exits leaving
    a background child in the cgroup; returns (bundle, child's host pid)."""
    b = make_bundle(name=name, mutate=no_pidns("sleep 300 >/dev/null 2>&1 & echo $!; exit 0", cgroups_path))
    start_detached(rt, b, cid)
    assert wait_for(lambda: stdio_log(b, cid).strip().isdigit())
    child = int(stdio_log(b, cid).strip())
    assert wait_for(lambda: status(rt, cid) == "stopped"), status(rt, cid)
    assert alive(child)
    return b, child


def outcome_kill_all_after_init_exit(rt: Any, make_bundle: MakeBundle, cid: str, name: str) -> dict[str, Any]:
    _b, child = init_gone_child_left(rt, make_bundle, cid, name)
    plain = rt("kill", cid, "9")
    still = alive(child)
    t0 = time.monotonic()
    p = rt("kill", "--all", cid, "9")
    gone = wait_for(lambda: not alive(child), 2)
    took = time.monotonic() - t0
    d = rt("delete", cid)
    return {"plain_rc": plain.returncode, "plain_err": "container not running" in plain.stderr,
            "alive_after_plain": still, "all_rc": p.returncode, "all_err": p.stderr.strip()[-200:],
            "child_killed": gone, "fast": took < 1.0, "delete_rc": d.returncode,
            "state_after": status(rt, cid)}


def test_kill_all_after_init_exit_kills_leftover_children(rt: Any, runc: Any, make_bundle: MakeBundle,
                                                          cid: str) -> None:
    """The shim's `kill --all ID 9` on a stopped container (init gone, a child
    left in the cgroup): rc 0 and the child dies; plain `kill` is refused;
    delete afterwards succeeds. Before the fix pyruntime answered
    "container not running" and the child lived on."""
    got = outcome_kill_all_after_init_exit(rt, make_bundle, cid, "b1")
    ref = outcome_kill_all_after_init_exit(runc, make_bundle, cid + "r", "b2")
    assert ref == {**ref, "all_rc": 0, "child_killed": True, "plain_rc": 1, "plain_err": True,
                   "alive_after_plain": True, "delete_rc": 0, "state_after": "gone"}, ref
    assert {k: v for k, v in got.items() if k != "all_err"} == \
        {k: v for k, v in ref.items() if k != "all_err"}, (got, ref)


def outcome_created(rt: Any, make_bundle: MakeBundle, cid: str, name: str) -> dict[str, Any]:
    b = make_bundle(["sleep", "300"], name=name)
    pid = create_detached(rt, b, cid)
    p = rt("kill", "--all", cid, "KILL")
    dead = wait_for(lambda: not alive(pid))
    st = status(rt, cid)
    d = rt("delete", cid)
    return {"rc": p.returncode, "init_dead": dead, "status": st, "delete_rc": d.returncode}


def test_kill_all_on_created_container(rt: Any, runc: Any, make_bundle: MakeBundle, cid: str) -> None:
    """`kill --all` on a created container kills the init blocked on the
    exec fifo; the container is stopped and deletes."""
    got = outcome_created(rt, make_bundle, cid, "b1")
    ref = outcome_created(runc, make_bundle, cid + "r", "b2")
    assert ref == {"rc": 0, "init_dead": True, "status": "stopped", "delete_rc": 0}
    assert got == ref


def _rmdir_cgroups(name: str) -> int:
    n = 0
    for top in [Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")]:
        for d in top.glob(f"*/{name}") if top.name == "cgroup" else [top / name]:
            if d.is_dir():
                os.rmdir(d)
                n += 1
    return n


def outcome_cgroup_gone(rt: Any, make_bundle: MakeBundle, cid: str, name: str) -> dict[str, Any]:
    cg = f"pyrt-killall-{uuid.uuid4().hex[:8]}"
    b = make_bundle(name=name, mutate=no_pidns("exit 0", "/" + cg))
    start_detached(rt, b, cid)
    assert wait_for(lambda: status(rt, cid) == "stopped")
    removed = _rmdir_cgroups(cg)
    p = rt("kill", "--all", cid, "9")
    plain = rt("kill", cid, "9")
    d = rt("delete", cid)
    return {"removed": removed > 0, "all_rc": p.returncode, "plain_rc": plain.returncode,
            "delete_rc": d.returncode, "state_after": status(rt, cid)}


def test_kill_all_on_stopped_container_whose_cgroup_is_gone(rt: Any, runc: Any, make_bundle: MakeBundle,
                                                            cid: str) -> None:
    """runc: Stopped && !cgroupManager.Exists() → nothing to signal, rc 0
    (a systemd unit's cgroup goes when its last process exits); delete after."""
    got = outcome_cgroup_gone(rt, make_bundle, cid, "b1")
    ref = outcome_cgroup_gone(runc, make_bundle, cid + "r", "b2")
    assert ref == {"removed": True, "all_rc": 0, "plain_rc": 1, "delete_rc": 0, "state_after": "gone"}
    assert got == ref


def outcome_stopped_empty(rt: Any, make_bundle: MakeBundle, cid: str, name: str) -> dict[str, Any]:
    b = make_bundle(["true"], name=name)
    start_detached(rt, b, cid)
    assert wait_for(lambda: status(rt, cid) == "stopped")
    p = rt("kill", "--all", cid, "TERM")
    d = rt("delete", cid)
    return {"all_rc": p.returncode, "delete_rc": d.returncode}


def test_kill_all_on_stopped_container_with_empty_cgroup(rt: Any, runc: Any, make_bundle: MakeBundle,
                                                         cid: str) -> None:
    """A container with its own pid namespace that exited: `kill --all`
    finds nothing in the cgroup and succeeds (rc 0 on runc too)."""
    got = outcome_stopped_empty(rt, make_bundle, cid, "b1")
    ref = outcome_stopped_empty(runc, make_bundle, cid + "r", "b2")
    assert ref == {"all_rc": 0, "delete_rc": 0}
    assert got == ref


@pytest.mark.parametrize("sig", ["TERM", "KILL"])
def test_kill_all_running_without_pidns_reaches_children(rt: Any, runc: Any, make_bundle: MakeBundle,
                                                         cid: str, sig: str) -> None:
    """While the init runs, `kill --all` reaches its children too (no pid
    namespace: the init's death would not take them along)."""
    def outcome(r: Any, c: str, name: str) -> dict[str, Any]:
        b = make_bundle(name=name, mutate=no_pidns("sleep 300 >/dev/null 2>&1 & echo $!; exec sleep 300"))
        start_detached(r, b, c)
        assert wait_for(lambda: stdio_log(b, c).strip().isdigit())
        child = int(stdio_log(b, c).strip())
        p = r("kill", "--all", c, sig)
        gone = wait_for(lambda: not alive(child))
        r("delete", "--force", c)
        return {"rc": p.returncode, "child_gone": gone}

    got = outcome(rt, cid, "b1")
    ref = outcome(runc, cid + "r", "b2")
    assert ref == {"rc": 0, "child_gone": True}
    assert got == ref
