"""Concurrency: many containers at once, many commands on one container at
once. The state directory's flock (pyruntime/state/store.py) serialises the
commands that change a container; mkdir makes "exactly one create of an id
wins". Each test runs against pyruntime and against runc.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import alive, create, must, run_nocapture, wait_for
from tests.support.children import CHILDREN
from tests.support.runc import is_runc
from tests.support.traces import assert_no_traces, remove_leftovers, state_json

MakeBundle = Callable[..., Path]

# What a command may answer when another one got there first.
RACE_ERRORS = ("container does not exist", "container not running", "already exists",
               "cannot start a container that has stopped", "cannot start an already running container",
               "is not stopped", "not stopped", "cannot delete container")


@pytest.fixture(params=["pyruntime", "runc"])
def runtime(request: pytest.FixtureRequest, cid: str, tmp_path: Path) -> Iterator[Any]:
    """The runtime under test (RUNTIME=..., pyruntime by default), then runc."""
    yield request.getfixturevalue("rt" if request.param == "pyruntime" else "runc")
    remove_leftovers(cid, tmp_path)


def runc_falls_short(request: pytest.FixtureRequest, runtime: Any, why: str) -> None:
    """Mark the runc run of this test as an expected failure, saying why."""
    if Path(runtime.path).name == "runc":
        request.applymarker(pytest.mark.xfail(reason=f"runc 1.1.5: {why}", strict=False))


def _clean_failure(p: subprocess.CompletedProcess[str]) -> None:
    """A failed command failed with a message, never a traceback or an internal error."""
    text = p.stdout + p.stderr
    assert "Traceback" not in text and "internal error" not in text and "panic" not in text, text


def _lifecycle(rt: Any, bundle: Path, cid: str) -> None:
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    st = state_json(rt, cid)
    assert st is not None and st["status"] == "running", st
    must(rt("kill", cid, "KILL"))
    wait_for(lambda: (state_json(rt, cid) or {}).get("status") == "stopped", timeout=30,
             what=f"{cid} to stop")
    must(rt("delete", cid))


def test_fifty_containers_in_parallel(runtime: Any, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "300"])
    ids = [f"{cid}-{i}" for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: _try(_lifecycle, runtime, bundle, i), ids))
    failures = {i: r for i, r in zip(ids, results, strict=True) if r}
    assert not failures, failures
    for i in ids:
        assert_no_traces(runtime, i, bundle)
    assert not any(runtime.root.iterdir()) if runtime.root.exists() else True


def _try(fn: Callable[..., None], *args: Any) -> str:
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001 - collected, reported by the test
        return f"{type(e).__name__}: {e}"
    return ""


def _bundle_in(tmp_path: Path, rootfs: Path, cid: str, cgroups_path: str) -> Path:
    """A bundle of its own for container cid: the config next to rootfs, with
    that rootfs (read-only: many containers share it) and cgroupsPath."""
    b = tmp_path / f"b-{cid}"
    b.mkdir()
    cfg = json.loads((rootfs.parent / "config.json").read_text())
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["linux"]["cgroupsPath"] = cgroups_path
    (b / "config.json").write_text(json.dumps(cfg))
    return b


def _concurrently(n: int, fn: Callable[[int], subprocess.CompletedProcess[str]]
                  ) -> list[subprocess.CompletedProcess[str]]:
    """fn(0..n-1) in n threads released together by a barrier."""
    barrier = threading.Barrier(n)

    def go(i: int) -> subprocess.CompletedProcess[str]:
        barrier.wait(timeout=60)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def test_twenty_creates_of_one_id(runtime: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path,
                                  request: pytest.FixtureRequest) -> None:
    runc_falls_short(request, runtime, "create checks the id with stat() and then MkdirAll()s it: two "
                     "creates can both win, and a loser's cleanup removes the winner's state")
    bundle = make_bundle(["sleep", "300"])
    pid_files = [tmp_path / f"pid{i}" for i in range(20)]
    results = _concurrently(20, lambda i: create(runtime, bundle, cid, "--pid-file", str(pid_files[i])))

    winners = [i for i, p in enumerate(results) if p.returncode == 0]
    assert len(winners) == 1, [(p.returncode, p.stderr) for p in results]
    for i, p in enumerate(results):
        if i in winners:
            continue
        _clean_failure(p)
        assert "already exists" in p.stderr, p.stderr
        assert not pid_files[i].exists(), "a losing create wrote a pid file"
    st = state_json(runtime, cid)
    assert st is not None and st["status"] == "created"
    assert st["pid"] == int(pid_files[winners[0]].read_text())
    must(runtime("start", cid))  # the winner's container is whole
    assert state_json(runtime, cid)["status"] == "running"  # type: ignore[index]
    must(runtime("delete", "--force", cid))
    assert_no_traces(runtime, cid, bundle)


def _check_race_outputs(results: list[tuple[str, subprocess.CompletedProcess[str]]], runc: bool) -> None:
    """runc 1.1.5 answers a start that lost a race in its own words ("exec fifo:
    open ...", "remove .../exec.fifo: ...", "container process is already
    dead"): for it, only a clean one-line failure is required."""
    for what, p in results:
        _clean_failure(p)
        if what == "state" and p.returncode == 0:
            st = json.loads(p.stdout)
            # paused: for a moment, while a delete --force freezes the cgroup to
            # kill everything in it (runc too)
            assert st["status"] in ("created", "running", "paused", "stopped"), st
            if st["status"] == "stopped":
                assert st["pid"] == 0
        elif p.returncode != 0:
            assert len(p.stderr.strip().splitlines()) == 1, f"{what}: {p.stderr!r}"
            assert runc or any(e in p.stderr for e in RACE_ERRORS), f"{what}: {p.stderr!r}"


@pytest.mark.parametrize("started", [True, False], ids=["running", "created"])
def test_state_kill_delete_race_on_one_container(runtime: Any, cid: str, make_bundle: MakeBundle,
                                                 started: bool) -> None:
    bundle = make_bundle(["sleep", "300"])
    for round_ in range(3):
        c = f"{cid}-{round_}"
        must(create(runtime, bundle, c))
        if started:
            must(runtime("start", c))
        cmds: list[tuple[str, ...]] = (
            [("state", c)] * 6 + [("kill", c, "KILL")] * 3 + [("delete", c)] * 2
            + [("delete", "--force", c)] * 2 + [("start", c)] * (0 if started else 2))
        # a different order each round
        cmds = cmds[round_:] + cmds[:round_]
        results = _concurrently(len(cmds), lambda i, cmds=cmds: (cmds[i][0], run_nocapture(runtime, *cmds[i])))
        _check_race_outputs(results, runc=Path(runtime.path).name == "runc")
        # one `delete --force` always succeeds: nothing is left
        forced = [p for what, p in results if what == "delete" and p.args[-2:-1] == ["--force"]]
        assert any(p.returncode == 0 for p in forced)
        assert runtime("state", c).returncode != 0
        assert_no_traces(runtime, c, bundle)


def test_create_and_delete_force_race_on_one_id(runtime: Any, cid: str, make_bundle: MakeBundle,
                                                request: pytest.FixtureRequest) -> None:
    """Creates and forced deletes of one id at once: each create either wins or
    says "already exists"; afterwards there is at most one container, whole
    (state, its init alive, its cgroup), and nothing of a deleted one is left."""
    runc_falls_short(request, runtime, "no lock between create and delete: a delete --force during a "
                     "create removes its state dir and leaves its `runc init` and cgroups behind")
    bundle = make_bundle(["sleep", "300"])
    for _ in range(4):
        cmds = [("create", "--bundle", str(bundle), cid), ("delete", "--force", cid)] * 6
        results = _concurrently(len(cmds), lambda i, cmds=cmds: (cmds[i][0], run_nocapture(runtime, *cmds[i])))
        for what, p in results:
            _clean_failure(p)
            if what == "delete":
                assert p.returncode == 0, p.stderr
            elif p.returncode != 0:
                assert "already exists" in p.stderr, p.stderr
        st = state_json(runtime, cid)
        if st is not None:
            assert st["status"] == "created", st
            assert alive(st["pid"])
        must(runtime("delete", "--force", cid))
        assert_no_traces(runtime, cid, bundle)


def _cgroup_hierarchies() -> list[Path]:
    """Every mounted cgroup hierarchy (v1 controllers and the unified one)."""
    out: list[Path] = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        f = line.split()
        if f[2] in ("cgroup", "cgroup2"):
            out.append(Path(f[1]))
    return out


def test_parallel_lifecycles_under_one_new_parent(runtime: Any, cid: str, make_bundle: MakeBundle,
                                                   tmp_path: Path) -> None:
    """30 create/start/wait/delete lifecycles at once, all with cgroupsPath
    /<parent>/<id> under one parent that none of them finds made (pods are laid
    out this way), 10 rounds: every command rc 0, no state dir and no leaf
    cgroup left in any hierarchy. The parent stays, as runc 1.1.5 leaves it
    (its RemovePaths removes only the container's own leaf); a delete that
    removed parents raced with a create in the same parent (EBUSY, or ENOENT
    for the create's mkdir)."""
    from tests.support.cgfiles import remove_test_cgroups

    rootfs = make_bundle(["true"]) / "rootfs"
    parent = f"/pyrt-par-{cid}"
    n, rounds = 30, 10
    try:
        for r in range(rounds):
            ids = [f"{cid}-{r}-{i}" for i in range(n)]
            bundles = [_bundle_in(tmp_path, rootfs, i, f"{parent}/{i}") for i in ids]

            def life(i: str, b: Path) -> str:
                p = create(runtime, b, i)
                if p.returncode == 0:
                    p = runtime("start", i)
                if p.returncode:
                    return f"{p.args}: {p.stderr}"
                try:
                    wait_for(lambda: (state_json(runtime, i) or {}).get("status") == "stopped",
                             timeout=30, what=f"{i} to stop")
                except BaseException as e:  # noqa: BLE001 - reported below
                    return str(e)
                p = runtime("delete", i)
                return f"delete: {p.stderr}" if p.returncode else ""

            with ThreadPoolExecutor(max_workers=n) as pool:
                results = list(pool.map(life, ids, bundles))
            failures = {i: res for i, res in zip(ids, results, strict=True) if res}
            assert not failures, (r, failures)
            for i in ids:
                assert not (runtime.root / i).exists(), f"state dir of {i} left"
                for h in _cgroup_hierarchies():
                    leaf = h / parent.lstrip("/") / i
                    assert not leaf.exists(), f"cgroup {leaf} left"
    finally:
        remove_test_cgroups(parent)


def test_creates_racing_deletes_under_one_new_parent(runtime: Any, cid: str, make_bundle: MakeBundle,
                                                      tmp_path: Path) -> None:
    """The classic rmdir-vs-mkdir race on a pod's parent cgroup: while the
    containers under /<parent> are deleted (delete --force), new ones are
    created under the same /<parent>, all at once, 20 rounds of 5 deletes
    and 5 creates (200 commands), the first round's parent new. A delete
    that removed a parent it found empty (pyruntime before a94d4ed) made a
    create's mkdir of its leaf fail with ENOENT, or its own rmdir fail with
    EBUSY when a create got there first. Every create and delete answers 0,
    each created container is whole (created, in its own leaf under the
    parent), and at the end no leaf and no state dir is left; the parent
    stays, as runc 1.1.5 leaves it. Same on runc."""
    from tests.support.cgfiles import remove_test_cgroups

    rootfs = make_bundle(["sleep", "300"]) / "rootfs"
    parent = f"/pyrt-crd-{cid}"
    k, rounds = 5, 20

    live: list[str] = []
    try:
        for r in range(rounds + 1):
            new = [f"{cid}-{r}-{i}" for i in range(k)] if r < rounds else []
            bundles = {i: _bundle_in(tmp_path, rootfs, i, f"{parent}/{i}") for i in new}
            cmds = [("delete", "--force", i) for i in live] + [
                ("create", "--bundle", str(bundles[i]), i) for i in new]
            results = _concurrently(len(cmds), lambda n, cmds=cmds: run_nocapture(runtime, *cmds[n]))
            failed = [(c, p.returncode, p.stderr) for c, p in zip(cmds, results, strict=True) if p.returncode]
            assert not failed, (r, failed)
            for i in live:
                assert not (runtime.root / i).exists(), f"state dir of {i} left"
                for h in _cgroup_hierarchies():
                    assert not (h / parent.lstrip("/") / i).exists(), f"cgroup {h}{parent}/{i} left"
            for i in new:
                st = state_json(runtime, i)
                assert st is not None and st["status"] == "created", (i, st)
                cg = Path(f"/proc/{st['pid']}/cgroup").read_text()
                assert f":{parent}/{i}\n" in cg, cg
            live = new
        for h in _cgroup_hierarchies():
            par = h / parent.lstrip("/")
            if par.is_dir():  # runc and pyruntime leave the parent (pure v2: only the one tree)
                assert [d.name for d in par.iterdir() if d.is_dir()] == [], par
    finally:
        for i in live:
            runtime("delete", "--force", i)
        remove_test_cgroups(parent)


# A subreaper (as containerd's shim or conmon) running n create/start/wait/
# delete lifecycles at once: it reaps each container's init itself (left to
# it by `create`), then any other child it has, as a subreaper must. It
# reports each child that was not a container's init, with the state it was
# in before it was reaped, and its children after that.
_SUBREAPER_LIFECYCLES = CHILDREN + """
import ctypes, json, os, subprocess, sys, threading
from concurrent.futures import ThreadPoolExecutor
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
cmd, bundles, out = json.loads(sys.argv[1])
inits, lock = {}, threading.Lock()

def call(args, bundle):
    # the container's stdio is create's: a file, not a pipe read until EOF
    with open(f"{bundle}/{args[0]}.err", "w+") as err:
        p = subprocess.run(cmd + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        return f"{args[0]}: rc {p.returncode}: {err.read()}" if p.returncode else ""

def life(item):
    cid, bundle = item
    pid_file = bundle + "/init.pid"
    for args in (["create", "--bundle", bundle, "--pid-file", pid_file, cid], ["start", cid]):
        failed = call(args, bundle)
        if failed:
            return failed
        if args[0] == "create":
            with lock:
                inits[int(open(pid_file).read())] = cid
    init = [pid for pid, c in inits.items() if c == cid][0]
    os.waitpid(init, 0)
    return call(["delete", cid], bundle)

with ThreadPoolExecutor(max_workers=len(bundles)) as pool:
    results = list(pool.map(life, bundles))
foreign = [c for c in children() if c[0] not in inits]
for pid, *_ in foreign:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
after = children()
json.dump({"results": results, "foreign": foreign, "after": after}, open(out, "w"))
"""


def test_a_subreaper_finds_only_its_containers(runtime: Any, cid: str, make_bundle: MakeBundle,
                                              tmp_path: Path) -> None:
    """A caller that is a child subreaper (containerd's shim, conmon, tini, a
    harness) runs 30 create/start/wait/delete lifecycles at once. Once they
    are done, nothing of the runtime runs among its children: no warm server
    (a server spawned under a subreaper would be adopted by it and stay
    ~10 s), no worker, no helper. What pyruntime may have left is the zombie
    of a server that found it was adopted by the subreaper and exited before
    its command returned (launch/spawn.py: whether an ancestor is a
    subreaper is not in /proc; once per subreaper, or a few when its first
    commands race), which the subreaper reaps. runc leaves nothing but the
    container."""
    rootfs = make_bundle(["sh", "-c", "sleep 0.2"]) / "rootfs"
    n = 30
    runtime.root.mkdir(exist_ok=True)
    bundles = [[f"{cid}-{i}", str(_bundle_in(tmp_path, rootfs, f"{cid}-{i}", f"/pyrt-sr-{cid}-{i}"))]
               for i in range(n)]
    out = tmp_path / "report.json"
    p = subprocess.run([sys.executable, "-c", _SUBREAPER_LIFECYCLES, json.dumps([runtime.cmd(), bundles, str(out)])],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads(out.read_text())
    assert [r for r in got["results"] if r] == [], got["results"]
    if is_runc(runtime):
        assert got["foreign"] == [], got
    assert all(state == "Z" for _pid, _comm, state, _argv in got["foreign"]), got
    assert len(got["foreign"]) <= 3, got
    assert got["after"] == [], got
    for i, _ in bundles:
        assert not (runtime.root / i).exists(), f"state dir of {i} left"
