"""runtime.md "State" and "Operations: Query State": the state document at each
step of the lifecycle, checked against the runtime-spec state schema and
against what the host shows (the pid, the bundle directory)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT4

from tests.conftest import Runtime
from tests.integration.probes import (
    alive,
    cmdline,
    create,
    must,
    remove_cgroups,
    root_entries,
    run_nocapture,
    wait_for,
    wait_status,
)

MakeBundle = Callable[..., Path]
REPO = Path(__file__).resolve().parents[2]
# The official v1.2.1 schemas when this machine has them, else pyruntime's own specs/
# (tests/unit/test_schema_equivalence.py proves those give the official verdicts).
OFFICIAL = Path(os.environ.get("PYRUNTIME_SPEC_REFERENCE", "/work/shared/reference/runtime-spec-v1.2.1-schema"))
STANDARD = {"creating", "created", "running", "stopped"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def state_validator() -> Draft4Validator:
    root = OFFICIAL if (OFFICIAL / "state-schema.json").exists() else REPO / "specs"
    docs = {p.name: json.loads(p.read_text()) for p in root.glob("*.json")}
    registry: Registry[Any] = Registry().with_resources(
        (name, DRAFT4.create_resource(doc)) for name, doc in docs.items())
    return Draft4Validator(docs["state-schema.json"], registry=registry)


def check_schema(state: dict[str, Any]) -> None:
    errors = [e.message for e in state_validator().iter_errors(state)]
    assert not errors, f"state does not match state-schema.json: {errors}\n{state}"


@pytest.fixture(autouse=True)
def _no_leftover_cgroups(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


@pytest.mark.spec("runtime-state-1")
def test_id_is_unique_on_the_host(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "30"])
    must(create(rt, bundle, cid))
    second = create(rt, make_bundle(["true"], name="other"), cid)
    assert second.returncode != 0
    assert rt.state(cid)["id"] == cid
    assert rt.state(cid)["bundle"] == str(bundle)


@pytest.mark.spec("runtime-state-2", "runtime-state-3", "runtime-state-4", "runtime-state-5",
                  "runtime-state-6", "runtime-state-7", "runtime-query-3")
def test_state_through_the_lifecycle(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """create (with a relative bundle path), start, kill: at each step the
    state matches the schema, names the standard status for the standard
    state, the host pid of the container process and the absolute bundle."""
    def annotate(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"org.example.conformance": "state"}

    bundle = make_bundle(["sleep", "30"], mutate=annotate)
    pid_file = bundle.parent / "init.pid"
    must(run_nocapture(rt, "create", "--bundle", bundle.name, "--pid-file", str(pid_file), cid,
                       cwd=bundle.parent))
    host_pid = int(pid_file.read_text())

    created = rt.state(cid)
    check_schema(created)
    assert SEMVER.match(created["ociVersion"]), created["ociVersion"]
    assert created["id"] == cid
    assert created["status"] == "created"
    assert isinstance(created["pid"], int) and created["pid"] == host_pid and alive(host_pid)
    # the pid as seen by the host: its pid namespace is not ours, the container's pid 1
    assert os.readlink(f"/proc/{host_pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    assert created["bundle"] == str(bundle) and os.path.isabs(created["bundle"])
    assert (Path(created["bundle"]) / "config.json").is_file()
    assert created.get("annotations") == {"org.example.conformance": "state"}

    must(rt("start", cid))
    running = rt.state(cid)
    check_schema(running)
    assert running["status"] == "running"
    assert running["pid"] == host_pid
    # the container process itself (not a helper beside it): the one that
    # executed the user program, pid 1 of the container's pid namespace
    wait_for(lambda: cmdline(host_pid) == ["sleep", "30"], what="the program in the state's pid")
    nspid = [ln for ln in Path(f"/proc/{host_pid}/status").read_text().splitlines() if ln.startswith("NSpid:")]
    assert nspid and nspid[0].split()[-1] == "1", nspid
    assert running["ociVersion"] == created["ociVersion"]
    assert running["bundle"] == str(bundle)

    must(rt("kill", cid, "KILL"))
    wait_status(rt, cid, "stopped")
    stopped = rt.state(cid)
    check_schema(stopped)
    assert stopped["status"] == "stopped"
    assert stopped["id"] == cid and stopped["bundle"] == str(bundle)
    assert not alive(host_pid)
    for s in (created, running, stopped):
        assert s["status"] in STANDARD


@pytest.mark.spec("runtime-state-3", "runtime-state-4", "runtime-query-3")
def test_exited_process_is_stopped(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    """A process that exits on its own (not by kill) is `stopped`, not a runtime-specific name."""
    must(create(rt, make_bundle(["true"]), cid))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    s = rt.state(cid)
    check_schema(s)
    assert s["status"] == "stopped"


@pytest.mark.spec("runtime-query-1")
def test_state_without_an_id_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    p = rt("state")
    assert p.returncode != 0
    assert not p.stdout.strip().startswith("{"), p.stdout
    assert rt.state(cid)["status"] == "created"  # no effect on the container


@pytest.mark.spec("runtime-query-2")
def test_state_of_an_unknown_container_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    p = rt("state", cid)
    assert p.returncode != 0
    assert cid not in root_entries(rt)
    # also after it was deleted
    must(create(rt, make_bundle(["true"]), cid))
    must(rt("delete", "--force", cid))
    p = subprocess.run(rt.cmd("state", cid), capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
