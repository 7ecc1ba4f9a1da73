"""runtime.md "Lifecycle" steps 3-13 and "Warnings": which operation invokes
each kind of hook, and what a failing hook does to the operation and the
container. Hooks are /bin/sh scripts that append their name to a log file of
the test's (startContainer runs in the container, after pivot_root: it writes
through a bind mount of the log directory at /hooklog)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import (
    alive,
    cgroup_dirs,
    container_processes,
    create,
    mounts_mentioning,
    must,
    remove_cgroups,
    root_entries,
    status_of,
    wait_for,
    wait_status,
)

MakeBundle = Callable[..., Path]
KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


@pytest.fixture(autouse=True)
def _no_leftover_cgroups(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    d = tmp_path / "hooklog"
    d.mkdir()
    return d


def hook(kind: str, logdir: Path, fail: int = 0) -> dict[str, Any]:
    where = "/hooklog" if kind == "startContainer" else str(logdir)
    script = f'echo {kind} >> {where}/log' + (f"; exit {fail}" if fail else "")
    return {"path": "/bin/sh", "args": ["sh", "-c", script]}


def hooked_bundle(make_bundle: MakeBundle, logdir: Path, hooks: dict[str, list[dict[str, Any]]],
                  args: list[str] | None = None, oci_version: str | None = None) -> Path:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/hooklog", "type": "bind", "source": str(logdir),
                              "options": ["rbind", "rw"]})
        cfg["hooks"] = hooks
        if oci_version:
            cfg["ociVersion"] = oci_version
    return make_bundle(args or ["sh", "-c", "echo process >> /hooklog/log; exec sleep 30"], mutate=mutate)


def log(logdir: Path) -> list[str]:
    try:
        return (logdir / "log").read_text().split()
    except FileNotFoundError:
        return []


def all_gone(rt: Runtime, cid: str, bundle: Path, mounts_before: list[str]) -> None:
    assert cid not in root_entries(rt)
    assert cgroup_dirs(cid) == []
    wait_for(lambda: not container_processes(cid, bundle), timeout=5, what="no container process")
    assert mounts_mentioning(bundle) == mounts_before


@pytest.mark.spec("runtime-lifecycle-6", "runtime-lifecycle-8", "runtime-lifecycle-10",
                  "runtime-lifecycle-12", "runtime-lifecycle-18")
def test_each_operation_invokes_its_hooks(rt: Runtime, cid: str, make_bundle: MakeBundle, logdir: Path) -> None:
    """create: prestart, createRuntime, createContainer (in that order, before
    the program); start: startContainer, before the program; delete: poststop."""
    kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststop"]
    bundle = hooked_bundle(make_bundle, logdir, {k: [hook(k, logdir)] for k in kinds})
    must(create(rt, bundle, cid))
    assert log(logdir) == ["prestart", "createRuntime", "createContainer"]
    must(rt("start", cid))
    wait_for(lambda: "process" in log(logdir), what="the program")
    assert log(logdir)[3:] == ["startContainer", "process"]
    must(rt("kill", cid, "KILL"))
    wait_status(rt, cid, "stopped")
    assert "poststop" not in log(logdir)
    must(rt("delete", cid))
    assert log(logdir)[-1] == "poststop"
    assert log(logdir).count("poststop") == 1


@pytest.mark.spec("runtime-lifecycle-15")
def test_start_invokes_poststart_after_the_program(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                   logdir: Path) -> None:
    bundle = hooked_bundle(make_bundle, logdir, {"poststart": [hook("poststart", logdir)]},
                           args=["sh", "-c", "echo process >> /hooklog/log; exec sleep 30"])
    must(create(rt, bundle, cid))
    created = log(logdir)
    must(rt("start", cid))
    started = log(logdir)  # poststart has run by the time start returns
    assert created == []
    assert "poststart" in started
    wait_for(lambda: "process" in log(logdir), what="the program")
    # after step 8: the program was started (it is the container process) when poststart ran
    assert status_of(rt, cid) == "running"


@pytest.mark.spec("runtime-lifecycle-7", "runtime-lifecycle-9", "runtime-lifecycle-11", "runtime-errors-1")
@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_is_an_error_and_leaves_nothing(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                            logdir: Path, kind: str) -> None:
    """An error; the container is stopped and destroyed (step 12): nothing of it is left."""
    bundle = hooked_bundle(make_bundle, logdir, {kind: [hook(kind, logdir, fail=3)]})
    before = mounts_mentioning(bundle)
    p = create(rt, bundle, cid)
    assert p.returncode != 0
    all_gone(rt, cid, bundle, before)
    assert log(logdir) == [kind]  # the program never ran


@pytest.mark.spec("runtime-lifecycle-7", "runtime-lifecycle-9", "runtime-lifecycle-11", "runtime-lifecycle-18")
@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_goes_on_to_poststop(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                 logdir: Path, kind: str) -> None:
    """To "continue the lifecycle at step 12" is steps 12 and 13: the poststop
    hooks run, within the failed create (no container is left to delete)."""
    hooks = {kind: [hook(kind, logdir, fail=3)], "poststop": [hook("poststop", logdir)]}
    p = create(rt, hooked_bundle(make_bundle, logdir, hooks), cid)
    assert p.returncode != 0
    assert cid not in root_entries(rt)
    assert log(logdir) == [kind, "poststop"]


def destroyed_by_start(rt: Runtime, cid: str, bundle: Path, mounts_before: list[str], logdir: Path) -> None:
    """"Continue the lifecycle at step 12" is steps 12 and 13 without step 11
    (`delete`): when the failed `start` has returned, the container is
    destroyed (no process, cgroup or mount of it) and its poststop hooks have
    run. (A state record may stay for `delete`; then that delete must not run
    poststop again.)"""
    assert "process" not in log(logdir)
    assert log(logdir)[-1:] == ["poststop"], log(logdir)
    assert status_of(rt, cid) in (None, "stopped")
    assert cgroup_dirs(cid) == []
    wait_for(lambda: not container_processes(cid, bundle), timeout=5, what="no container process")
    assert mounts_mentioning(bundle) == mounts_before
    rt("delete", cid)
    assert log(logdir).count("poststop") == 1, log(logdir)
    all_gone(rt, cid, bundle, mounts_before)


@pytest.mark.spec("runtime-lifecycle-13")
def test_failing_start_container_hook(rt: Runtime, cid: str,
                                      make_bundle: MakeBundle, logdir: Path) -> None:
    """`start` is an error, the program never runs, and the lifecycle goes on
    at step 12 within the failed start (destroyed_by_start)."""
    hooks = {"startContainer": [hook("startContainer", logdir, fail=4)], "poststop": [hook("poststop", logdir)]}
    bundle = hooked_bundle(make_bundle, logdir, hooks)
    before = mounts_mentioning(bundle)
    must(create(rt, bundle, cid))
    pid = rt.state(cid)["pid"]
    p = rt("start", cid)
    assert p.returncode != 0
    wait_for(lambda: not alive(pid), what="the container process to stop")
    assert log(logdir)[:1] == ["startContainer"], log(logdir)
    destroyed_by_start(rt, cid, bundle, before, logdir)


@pytest.mark.spec("runtime-lifecycle-16")
def test_failing_poststart_hook(rt: Runtime, cid: str,
                                make_bundle: MakeBundle, logdir: Path) -> None:
    """A 1.3 bundle: the 1.3 rule (an error, the container stopped, the
    lifecycle on at step 12 within the failed start: destroyed_by_start)."""
    hooks = {"poststart": [hook("poststart", logdir, fail=5)], "poststop": [hook("poststop", logdir)]}
    bundle = hooked_bundle(make_bundle, logdir, hooks, oci_version="1.3.0",
                           args=["sh", "-c", "exec sleep 30"])
    before = mounts_mentioning(bundle)
    c = create(rt, bundle, cid)
    assert c.returncode == 0, "poststart hooks belong to start, not create"
    pid = rt.state(cid)["pid"]
    p = rt("start", cid)
    assert p.returncode != 0
    wait_for(lambda: not alive(pid), what="the container to be stopped")
    assert log(logdir)[:1] == ["poststart"], log(logdir)
    destroyed_by_start(rt, cid, bundle, before, logdir)


@pytest.mark.spec("runtime-lifecycle-16-v1.2", "runtime-warnings-1")
@pytest.mark.parametrize("oci_version", ["1.0.2-dev", "1.2.1"])
def test_failing_poststart_hook_before_1_3_is_only_a_warning(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                             logdir: Path, tmp_path: Path,
                                                             oci_version: str) -> None:
    """A bundle written for 1.0-1.2 (runc spec and containerd 1.6 write
    1.0.2-dev): the failure is a warning, the next poststart hook runs,
    `start` succeeds and the program goes on running."""
    hooks = {"poststart": [hook("first", logdir, fail=5), hook("second", logdir)]}
    bundle = hooked_bundle(make_bundle, logdir, hooks, oci_version=oci_version)
    runlog = tmp_path / "runtime.log"
    must(create(rt, bundle, cid))
    pid = rt.state(cid)["pid"]
    p = rt("--log", str(runlog), "start", cid)
    assert p.returncode == 0, p.stderr
    assert [n for n in log(logdir) if n != "process"] == ["first", "second"]
    wait_for(lambda: "process" in log(logdir), what="the program")
    assert alive(pid) and status_of(rt, cid) == "running"
    text = runlog.read_text() if runlog.exists() else ""
    assert "level=warning" in text and "poststart" in text, text
    must(rt("delete", "--force", cid))


@pytest.mark.spec("runtime-lifecycle-19", "runtime-warnings-1")
def test_failing_poststop_hook_is_only_a_warning(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                 logdir: Path, tmp_path: Path) -> None:
    """The failure is logged as a warning (in the runtime's --log, naming the
    hook kind), the next poststop hook runs and `delete` succeeds."""
    hooks = {"poststop": [hook("first", logdir, fail=7), hook("second", logdir)]}
    bundle = hooked_bundle(make_bundle, logdir, hooks, args=["true"])
    runlog = tmp_path / "runtime.log"
    before = mounts_mentioning(bundle)
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    p = rt("--log", str(runlog), "delete", cid)
    all_gone(rt, cid, bundle, before)
    assert log(logdir) == ["first", "second"]
    assert p.returncode == 0, p.stderr
    text = runlog.read_text() if runlog.exists() else ""
    assert "level=warning" in text and "poststop" in text, text
