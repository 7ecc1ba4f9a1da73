"""config-linux.md "IntelRdt". Most sentences need a mounted resctrl
filesystem (a CPU with Intel RDT or AMD PQoS): those tests skip without one.
Without resctrl, the required error and the "hands off resctrl" rule are
still checked. pyruntime refuses intelRdt by name for now (a known gap)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.util import known_gap
from tests.conftest import Runtime
from tests.integration.probes import create, must, remove_cgroups
from tests.support.config_fields import create_refused
from tests.support.isolation import parse_mountinfo, run_ok

MakeBundle = Callable[..., Path]
RDT_GAP = "pyruntime refuses linux.intelRdt by name: not implemented yet"


def resctrl_mount() -> Path | None:
    for m in parse_mountinfo(Path("/proc/self/mountinfo").read_text()):
        if m.fstype == "resctrl":
            return Path(m.mount_point)
    return None


@pytest.fixture
def resctrl(request: pytest.FixtureRequest, rt: Runtime) -> Path:
    root = resctrl_mount()
    if root is None:
        pytest.skip("no resctrl filesystem is mounted on this host (no Intel RDT / AMD PQoS here)")
    known_gap(request, rt, RDT_GAP)
    return root


@pytest.fixture
def leftovers(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


def rdt(**fields: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["intelRdt"] = fields
    return mutate


def _snapshot(root: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in root.rglob("*"):
        if p.name in ("tasks", "schemata", "cpus", "mode") and p.is_file():
            try:
                out[str(p.relative_to(root))] = p.read_text()
            except OSError:
                pass
        elif p.is_dir():
            out[str(p.relative_to(root))] = "<dir>"
    return out


def _l3_line(root: Path) -> str:
    line = next((ln for ln in (root / "schemata").read_text().splitlines() if ln.strip().startswith("L3:")), None)
    if line is None:
        pytest.skip("this resctrl has no L3 allocation")
    return line.strip()


# ---------------------------------------------------------------- without resctrl too

@pytest.mark.spec("config-linux-intelrdt-2")
@pytest.mark.parametrize("fields", [{"closID": "pyrt-conf"}, {"l3CacheSchema": "L3:0=f"}],
                         ids=["closID", "l3CacheSchema"])
def test_intel_rdt_without_resctrl_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                               leftovers: None, fields: dict[str, Any]) -> None:
    if resctrl_mount() is not None:
        pytest.skip("resctrl is mounted here: the error case cannot be shown")
    create_refused(rt, make_bundle(["true"], mutate=rdt(**fields)), cid)


@pytest.mark.spec("config-linux-intelrdt-3")
def test_no_intel_rdt_leaves_resctrl_alone(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    root = resctrl_mount()
    before = _snapshot(root) if root else {}
    run_ok(rt, make_bundle(["true"]), cid)
    after_root = resctrl_mount()
    assert after_root == root, "the runtime mounted (or unmounted) resctrl on the host"
    if root is not None:
        after = {k: v for k, v in _snapshot(root).items() if not k.endswith("tasks")}
        assert after == {k: v for k, v in before.items() if not k.endswith("tasks")}
        assert cid not in " ".join(after), after


# ---------------------------------------------------------------- with resctrl

@pytest.mark.spec("config-linux-intelrdt-1", "config-linux-intelrdt-14", "config-linux-intelrdt-18")
def test_no_clos_id_uses_the_container_id(rt: Runtime, cid: str, make_bundle: MakeBundle, resctrl: Path) -> None:
    line = _l3_line(resctrl)
    b = make_bundle(["sleep", "30"], mutate=rdt(l3CacheSchema=line))
    must(create(rt, b, cid))
    pid = rt.state(cid)["pid"]
    assert (resctrl / cid).is_dir()
    assert str(pid) in (resctrl / cid / "tasks").read_text().split()
    rt("delete", "--force", cid)
    assert not (resctrl / cid).exists(), "the runtime left the sub-directory it made"


@pytest.mark.spec("config-linux-intelrdt-4")
def test_clos_id_slash_is_the_default_clos(rt: Runtime, cid: str, make_bundle: MakeBundle, resctrl: Path) -> None:
    must(create(rt, make_bundle(["sleep", "30"], mutate=rdt(closID="/")), cid))
    assert str(rt.state(cid)["pid"]) in (resctrl / "tasks").read_text().split()


@pytest.mark.spec("config-linux-intelrdt-10", "config-linux-intelrdt-11", "config-linux-intelrdt-15",
                  "config-linux-intelrdt-19")
def test_schemas_written_to_a_new_clos(rt: Runtime, cid: str, make_bundle: MakeBundle, resctrl: Path) -> None:
    line = _l3_line(resctrl)
    clos = f"pyrt-conf-{uuid.uuid4().hex[:6]}"
    mb = next((ln.strip() for ln in (resctrl / "schemata").read_text().splitlines()
               if ln.strip().startswith("MB:")), None)
    fields: dict[str, Any] = {"closID": clos, "l3CacheSchema": line}
    if mb:
        fields["memBwSchema"] = mb
    try:
        must(create(rt, make_bundle(["sleep", "30"], mutate=rdt(**fields)), cid))
        schemata = (resctrl / clos / "schemata").read_text()
        assert line.split(":", 1)[1].strip() in schemata
        if mb:
            assert mb.split(":", 1)[1].strip() in schemata
        assert str(rt.state(cid)["pid"]) in (resctrl / clos / "tasks").read_text().split()
        rt("delete", "--force", cid)
        assert (resctrl / clos).is_dir(), "the runtime removed a closID directory"
    finally:
        if (resctrl / clos).is_dir():
            (resctrl / clos).rmdir()


@pytest.mark.spec("config-linux-intelrdt-12")
def test_schemata_array_written(rt: Runtime, cid: str, make_bundle: MakeBundle, resctrl: Path) -> None:
    line = _l3_line(resctrl)
    must(create(rt, make_bundle(["sleep", "30"], mutate=rdt(schemata=[line])), cid))
    assert line.split(":", 1)[1].strip() in (resctrl / cid / "schemata").read_text()


@pytest.mark.spec("config-linux-intelrdt-13", "config-linux-intelrdt-17")
def test_preconfigured_clos_is_joined_untouched(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                resctrl: Path) -> None:
    clos = resctrl / f"pyrt-conf-{uuid.uuid4().hex[:6]}"
    clos.mkdir()
    try:
        before = (clos / "schemata").read_text()
        must(create(rt, make_bundle(["sleep", "30"], mutate=rdt(closID=clos.name)), cid))
        assert str(rt.state(cid)["pid"]) in (clos / "tasks").read_text().split()
        assert (clos / "schemata").read_text() == before
        rt("delete", "--force", cid)
        p = create(rt, make_bundle(["sleep", "30"], mutate=rdt(closID=clos.name + "-missing"), name="m"), cid)
        assert p.returncode != 0, "a missing pre-configured closID was accepted"
    finally:
        clos.rmdir()


@pytest.mark.spec("config-linux-intelrdt-16")
def test_existing_clos_with_other_schema_is_an_error(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                     resctrl: Path) -> None:
    line = _l3_line(resctrl)
    clos = resctrl / f"pyrt-conf-{uuid.uuid4().hex[:6]}"
    clos.mkdir()
    try:
        cache_id, mask = line.split(":", 1)[1].split(";")[0].split("=")
        other = f"L3:{cache_id}={int(mask, 16) >> 1 or 1:x}"
        (clos / "schemata").write_text(line + "\n")
        p = create(rt, make_bundle(["true"], mutate=rdt(closID=clos.name, l3CacheSchema=other)), cid)
        assert p.returncode != 0, "a schema differing from the existing closID's was accepted"
    finally:
        clos.rmdir()


@pytest.mark.spec("config-linux-intelrdt-20", "config-linux-intelrdt-21")
def test_monitoring_group(rt: Runtime, cid: str, make_bundle: MakeBundle, resctrl: Path) -> None:
    if not (resctrl / "mon_groups").is_dir():
        pytest.skip("this resctrl has no monitoring")
    must(create(rt, make_bundle(["sleep", "30"], mutate=rdt(enableMonitoring=True)), cid))
    mon = resctrl / cid / "mon_groups" / cid
    assert mon.is_dir()
    assert str(rt.state(cid)["pid"]) in (mon / "tasks").read_text().split()
    rt("delete", "--force", cid)
    assert not mon.exists()
