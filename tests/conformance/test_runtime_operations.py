"""runtime.md "Scope of a Container", "Errors" and "Operations": create,
start, kill and delete, their errors (and that an error changes nothing),
checked from the host: exit codes, the state, processes, cgroups, mounts and
what the container's program wrote into a directory of the test's."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.integration.probes import (
    alive,
    cgroup_dirs,
    cmdline,
    container_processes,
    create,
    kill_pids,
    mounts_mentioning,
    must,
    remove_cgroups,
    root_entries,
    run_nocapture,
    status_of,
    wait_for,
    wait_status,
)

MakeBundle = Callable[..., Path]


@pytest.fixture(autouse=True)
def _no_leftover_cgroups(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    """A host directory the container sees, writable, at /out."""
    d = tmp_path / "out"
    d.mkdir()
    d.chmod(0o777)
    return d


def with_out(outdir: Path, extra: Callable[[dict[str, Any]], None] | None = None
             ) -> Callable[[dict[str, Any]], None]:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(outdir),
                              "options": ["rbind", "rw"]})
        if extra is not None:
            extra(cfg)
    return mutate


def lines(p: Path) -> list[str]:
    try:
        return p.read_text().split()
    except FileNotFoundError:
        return []


def nothing_left(rt: Runtime, cid: str, bundle: Path, mounts_before: list[str]) -> None:
    """What a create that did not happen leaves: no state, cgroup, process or mount."""
    assert cid not in root_entries(rt)
    assert subprocess.run(rt.cmd("state", cid), capture_output=True, timeout=30).returncode != 0
    assert cgroup_dirs(cid) == []
    wait_for(lambda: not container_processes(cid, bundle), timeout=5, what="no container process")
    assert mounts_mentioning(bundle) == mounts_before


# ---------------------------------------------------------------- scope, operations

@pytest.mark.spec("runtime-scope-1", "runtime-operations-1", "runtime-create-3", "runtime-kill-3")
def test_the_creator_can_use_every_operation(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                             tmp_path: Path) -> None:
    """state, create, start, kill, delete, each from another working directory
    (the runtime finds the container by id and --root alone)."""
    bundle = make_bundle(["sleep", "30"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    must(create(rt, bundle, cid))
    assert cid in root_entries(rt)
    s = rt.state(cid)
    assert s["status"] == "created" and alive(s["pid"])
    must(rt("start", cid, cwd=elsewhere))
    assert rt("state", cid, cwd="/").returncode == 0
    assert status_of(rt, cid) == "running"
    must(rt("kill", cid, "KILL", cwd=elsewhere))
    wait_status(rt, cid, "stopped")
    assert not alive(s["pid"])
    must(rt("delete", cid, cwd="/"))
    assert cid not in root_entries(rt)


# ---------------------------------------------------------------- create

@pytest.mark.spec("runtime-create-1", "runtime-errors-1")
def test_create_needs_an_id_and_a_bundle(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                         tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "30"])
    before = mounts_mentioning(bundle)
    p = run_nocapture(rt, "create", "--bundle", str(bundle))
    assert p.returncode != 0
    assert root_entries(rt) == set()
    # no usable bundle: a path that does not exist, or (no --bundle) a cwd without config.json
    p = run_nocapture(rt, "create", "--bundle", str(tmp_path / "no-such-bundle"), cid)
    assert p.returncode != 0
    nothing_left(rt, cid, bundle, before)
    empty = tmp_path / "empty"
    empty.mkdir()
    p = run_nocapture(rt, "create", cid, cwd=empty)
    assert p.returncode != 0
    nothing_left(rt, cid, bundle, before)


@pytest.mark.spec("runtime-create-2", "runtime-state-1", "runtime-errors-1")
def test_create_with_a_duplicate_id_changes_nothing(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    outdir: Path) -> None:
    first = make_bundle(["sleep", "30"])
    must(create(rt, first, cid))
    s = rt.state(cid)
    other = make_bundle(["sh", "-c", "echo second > /out/ran"], mutate=with_out(outdir), name="other")
    p = create(rt, other, cid)
    assert p.returncode != 0
    assert rt.state(cid) == s
    assert alive(s["pid"])
    assert container_processes(cid, other) <= {s["pid"]}  # (found by the first one's cgroup)
    must(rt("start", cid))
    time.sleep(0.2)
    assert not (outdir / "ran").exists()
    assert rt.state(cid)["bundle"] == str(first)


@pytest.mark.spec("runtime-create-2", "runtime-errors-1")
@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "has space", "", "-flag-like/x"])
def test_create_with_an_invalid_id_creates_nothing(rt: Runtime, make_bundle: MakeBundle, bad_id: str,
                                                   tmp_path: Path) -> None:
    bundle = make_bundle(["sleep", "30"])
    before = mounts_mentioning(bundle)
    p = run_nocapture(rt, "create", "--bundle", str(bundle), "--", bad_id)
    assert p.returncode != 0
    assert root_entries(rt) == set()
    assert not (rt.root.parent / "escape").exists()  # "../escape" made nothing beside the root
    wait_for(lambda: not container_processes("no-such-id", bundle), timeout=5, what="no process")
    assert mounts_mentioning(bundle) == before


@pytest.mark.spec("runtime-create-6", "runtime-lifecycle-2", "runtime-errors-1")
@pytest.mark.parametrize("what", ["bind-source", "sysctl", "cwd-in-file"])
def test_create_that_cannot_apply_a_property_creates_nothing(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                             tmp_path: Path, what: str) -> None:
    def broken(cfg: dict[str, Any]) -> None:
        if what == "bind-source":
            cfg["mounts"].append({"destination": "/data", "type": "bind",
                                  "source": str(tmp_path / "missing"), "options": ["rbind"]})
        elif what == "sysctl":
            cfg["linux"]["sysctl"] = {"kernel.no_such_sysctl_for_conformance": "1"}
        else:  # a mount destination under a regular file of the rootfs
            cfg["mounts"].append({"destination": "/bin/busybox/sub", "type": "tmpfs", "source": "tmpfs"})

    bundle = make_bundle(["sleep", "30"], mutate=broken)
    before = mounts_mentioning(bundle)
    p = create(rt, bundle, cid)
    assert p.returncode != 0, p.stderr
    nothing_left(rt, cid, bundle, before)


@pytest.mark.spec("runtime-create-5", "runtime-lifecycle-4", "runtime-start-3", "runtime-lifecycle-14")
def test_args_run_only_at_start(rt: Runtime, cid: str, make_bundle: MakeBundle, outdir: Path) -> None:
    args = ["sh", "-c", "echo ran >> /out/ran; exec sleep 30"]
    bundle = make_bundle(args, mutate=with_out(outdir))
    must(create(rt, bundle, cid))
    pid = rt.state(cid)["pid"]
    time.sleep(0.3)
    assert not (outdir / "ran").exists()
    assert cmdline(pid) != args
    assert rt.state(cid)["status"] == "created"
    must(rt("start", cid))
    wait_for(lambda: lines(outdir / "ran") == ["ran"], what="the program to run")
    assert rt.state(cid)["pid"] == pid


@pytest.mark.spec("runtime-start-3", "runtime-lifecycle-14")
def test_start_runs_the_process_as_specified(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                             tmp_path: Path) -> None:
    """args, env, cwd and user, as the program itself sees them."""
    script = 'echo "$0|$1|$FOO|$(pwd)|$(id -u):$(id -g)"'

    def proc(cfg: dict[str, Any]) -> None:
        cfg["process"]["env"].append("FOO=bar baz")
        cfg["process"]["cwd"] = "/tmp"
        cfg["process"]["user"] = {"uid": 1234, "gid": 4321}

    bundle = make_bundle(["sh", "-c", script, "zero", "one"], mutate=proc)
    log = tmp_path / "stdout"
    must(create(rt, bundle, cid, stdout=log))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    assert log.read_text().strip() == "zero|one|bar baz|/tmp|1234:4321"


# ---------------------------------------------------------------- start

@pytest.mark.spec("runtime-start-1")
def test_start_needs_an_id(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    p = rt("start")
    assert p.returncode != 0
    assert rt.state(cid)["status"] == "created"


@pytest.mark.spec("runtime-start-2", "runtime-errors-1")
def test_start_of_a_running_container_has_no_effect(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    outdir: Path) -> None:
    bundle = make_bundle(["sh", "-c", "echo ran >> /out/ran; exec sleep 30"], mutate=with_out(outdir))
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    wait_for(lambda: lines(outdir / "ran") == ["ran"], what="the program to run")
    before = rt.state(cid)
    p = rt("start", cid)
    assert p.returncode != 0
    time.sleep(0.3)
    assert lines(outdir / "ran") == ["ran"]
    assert rt.state(cid) == before
    assert alive(before["pid"])


@pytest.mark.spec("runtime-start-2", "runtime-errors-1")
def test_start_of_a_stopped_container_has_no_effect(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                    outdir: Path) -> None:
    bundle = make_bundle(["sh", "-c", "echo ran >> /out/ran"], mutate=with_out(outdir))
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    before = rt.state(cid)
    p = rt("start", cid)
    assert p.returncode != 0
    time.sleep(0.3)
    assert lines(outdir / "ran") == ["ran"]
    assert rt.state(cid) == before
    # and a container that does not exist is not made by start
    p = rt("start", cid + "x")
    assert p.returncode != 0
    assert cid + "x" not in root_entries(rt)


@pytest.mark.spec("runtime-start-4")
def test_start_without_process_is_an_error(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                           make_bundle: MakeBundle) -> None:
    """`process` is OPTIONAL at create (config-process-1), so the error is
    start's own: `create` must succeed (a runtime that refused the config at
    create would never reach the sentence), then `start` fails, names
    `process`, and leaves the container as it was (created, the same init
    alive, nothing run). runc 1.1.5 refuses the config at create."""
    known_gap(request, rt, "runc 1.1.5 refuses a config without process at create", runtime="runc")

    def no_process(cfg: dict[str, Any]) -> None:
        del cfg["process"]

    bundle = make_bundle(["touch", "/ran"], mutate=no_process)
    must(create(rt, bundle, cid))
    before = rt.state(cid)
    assert before["status"] == "created" and alive(before["pid"]), before
    s = rt("start", cid)
    assert s.returncode != 0, (s.stdout, s.stderr)
    assert "process" in s.stderr + s.stdout, (s.stdout, s.stderr)
    assert rt.state(cid) == before and alive(before["pid"])
    assert not (bundle / "rootfs" / "ran").exists()
    must(rt("delete", "--force", cid))


# ---------------------------------------------------------------- kill

@pytest.mark.spec("runtime-kill-1")
def test_kill_needs_an_id(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    must(rt("start", cid))
    p = rt("kill")
    assert p.returncode != 0
    s = rt.state(cid)
    assert s["status"] == "running" and alive(s["pid"])


@pytest.mark.spec("runtime-kill-2", "runtime-errors-1")
def test_kill_of_a_stopped_container_has_no_effect(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["true"]), cid))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    before = rt.state(cid)
    p = rt("kill", cid, "KILL")
    assert p.returncode != 0
    assert rt.state(cid) == before
    must(rt("delete", cid))  # still an ordinary stopped container
    p = rt("kill", cid, "KILL")
    assert p.returncode != 0
    assert cid not in root_entries(rt)


@pytest.mark.spec("runtime-kill-3")
def test_kill_sends_the_named_signal(rt: Runtime, cid: str, make_bundle: MakeBundle, outdir: Path) -> None:
    """The program traps SIGUSR1 and says so: the signal reached it, as that signal."""
    script = ("trap 'echo usr1 > /out/sig; exit 0' USR1; trap 'echo term > /out/sig; exit 0' TERM; "
              "echo ready > /out/ready; while :; do sleep 0.05; done")
    must(create(rt, make_bundle(["sh", "-c", script], mutate=with_out(outdir)), cid))
    pid = rt.state(cid)["pid"]
    must(rt("start", cid))
    wait_for(lambda: (outdir / "ready").exists(), what="the trap to be set")
    must(rt("kill", cid, "USR1"))
    wait_for(lambda: lines(outdir / "sig") == ["usr1"], what="SIGUSR1 to arrive")
    wait_status(rt, cid, "stopped")
    assert not alive(pid)


@pytest.mark.spec("runtime-kill-3")
def test_kill_reaches_a_created_container(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    pid = rt.state(cid)["pid"]
    must(rt("kill", cid, str(int(signal.SIGKILL))))
    wait_status(rt, cid, "stopped")
    assert not alive(pid)


# ---------------------------------------------------------------- delete

@pytest.mark.spec("runtime-delete-1")
def test_delete_needs_an_id(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["true"]), cid))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    p = rt("delete")
    assert p.returncode != 0
    assert rt.state(cid)["status"] == "stopped"
    assert cid in root_entries(rt)


@pytest.mark.spec("runtime-delete-2", "runtime-errors-1")
def test_delete_of_a_running_container_has_no_effect(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "30"])
    must(create(rt, bundle, cid))
    must(rt("start", cid))
    before = rt.state(cid)
    cgroups = cgroup_dirs(cid)
    p = rt("delete", cid)
    assert p.returncode != 0
    assert rt.state(cid) == before
    assert alive(before["pid"])
    assert cgroup_dirs(cid) == cgroups


@pytest.mark.spec("runtime-delete-2", "runtime-errors-1")
def test_delete_of_a_created_container_has_no_effect(request: pytest.FixtureRequest, rt: Runtime, cid: str,
                                                     make_bundle: MakeBundle) -> None:
    known_gap(request, rt, "pyruntime follows runc: `delete` without --force kills and removes a "
              "`created` container (runtime-spec: only a `stopped` one)")
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    before = rt.state(cid)
    p = rt("delete", cid)
    after = status_of(rt, cid)
    assert p.returncode != 0
    assert after == "created"
    assert alive(before["pid"])


@pytest.mark.spec("runtime-delete-3", "runtime-lifecycle-17")
def test_delete_undoes_create(rt: Runtime, cid: str, make_bundle: MakeBundle, outdir: Path) -> None:
    """After delete: no state, no process, no cgroup named after the id, no mount
    of the bundle's left on the host; the id is free again."""
    def extra(cfg: dict[str, Any]) -> None:
        cfg["linux"]["cgroupsPath"] = f"/{cid}"
        cfg["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"})

    bundle = make_bundle(["sh", "-c", "sleep 30 & exec sleep 30"], mutate=with_out(outdir, extra))
    before = mounts_mentioning(bundle)
    must(create(rt, bundle, cid))
    pid = rt.state(cid)["pid"]
    must(rt("start", cid))
    assert cgroup_dirs(cid), "the container's cgroup"
    wait_for(lambda: len(container_processes(cid, bundle)) >= 2, what="both sleeps")
    procs = container_processes(cid, bundle)
    must(rt("kill", cid, "KILL"))
    wait_status(rt, cid, "stopped")
    must(rt("delete", cid))
    try:
        nothing_left(rt, cid, bundle, before)
        assert not any(alive(x) for x in procs | {pid})
        # the id may be used again
        must(create(rt, make_bundle(["true"], name="again"), cid))
        must(rt("delete", "--force", cid))
    finally:
        kill_pids(x for x in procs if alive(x))


@pytest.mark.spec("runtime-delete-4")
def test_delete_keeps_what_the_container_did_not_create(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                        outdir: Path) -> None:
    """A bind-mounted host directory (and what the container wrote into it) and
    a network namespace the container joined by path outlive the container."""
    (outdir / "host-file").write_text("host")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
                 what="the namespace holder")
        netns = os.readlink(f"/proc/{holder.pid}/ns/net")

        def join(cfg: dict[str, Any]) -> None:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
            cfg["linux"]["namespaces"].append({"type": "network", "path": f"/proc/{holder.pid}/ns/net"})

        bundle = make_bundle(["sh", "-c", "echo from-container > /out/written"], mutate=with_out(outdir, join))
        must(create(rt, bundle, cid))
        assert os.readlink(f"/proc/{rt.state(cid)['pid']}/ns/net") == netns
        must(rt("start", cid))
        wait_status(rt, cid, "stopped")
        must(rt("delete", cid))
        assert cid not in root_entries(rt)
        assert (outdir / "host-file").read_text() == "host"
        assert (outdir / "written").read_text().strip() == "from-container"
        assert holder.poll() is None and os.readlink(f"/proc/{holder.pid}/ns/net") == netns
    finally:
        holder.kill()
        holder.wait()
