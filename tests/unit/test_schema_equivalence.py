"""The generated validator (specs/ compiled by gen_validator) says valid/invalid
exactly when jsonschema does, with the official runtime-spec v1.2.1 schemas
(/work/shared/reference) as the oracle; the deliberate differences of our
specs/ are each named in a test of their own at the end."""

from __future__ import annotations

import copy
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from pyruntime.spec import gen_validator
from pyruntime.spec.default import default_spec
from pyruntime.spec.validator import validate, validate_features, validate_state
from tests.support.bundle import RUNC_SPEC

OFFICIAL = Path(os.environ.get("PYRUNTIME_SPEC_REFERENCE", "/work/shared/reference/runtime-spec-v1.2.1-schema"))
OURS = Path(gen_validator.SPECS)
RUNC = "/usr/sbin/runc"

needs_official = pytest.mark.skipif(not (OFFICIAL / "config-schema.json").exists(),
                                    reason="official runtime-spec schemas not present")


def _validators(root: Path) -> dict[str, Draft4Validator]:
    """jsonschema validators of config, state and features, with every file of
    `root` in the registry under its own name (how the official $refs name them)."""
    docs = {p.name: json.loads(p.read_text()) for p in sorted(root.glob("*.json"))}
    registry: Registry[Any] = Registry().with_resources(
        (name, DRAFT4.create_resource(doc)) for name, doc in docs.items())
    return {kind: Draft4Validator(docs[f"{kind}-schema.json"], registry=registry)
            for kind in ("config", "state", "features")}


_CACHE: dict[Path, dict[str, Draft4Validator]] = {}


def official(kind: str = "config") -> Draft4Validator:
    if OFFICIAL not in _CACHE:
        _CACHE[OFFICIAL] = _validators(OFFICIAL)
    return _CACHE[OFFICIAL][kind]


def ours_js(kind: str = "config") -> Draft4Validator:
    """Our specs/ read by jsonschema: checks the generator against jsonschema."""
    if OURS not in _CACHE:
        _CACHE[OURS] = _validators(OURS)
    return _CACHE[OURS][kind]


_GENERATED = {"config": validate, "state": validate_state, "features": validate_features}


def generated_ok(doc: Any, kind: str = "config") -> bool:
    return not _GENERATED[kind](doc)


def assert_same_verdict(doc: Any, kind: str = "config", *, with_official: bool = True) -> bool:
    """Generated == jsonschema(our specs) always; == jsonschema(official) too unless told."""
    ours = generated_ok(doc, kind)
    js = ours_js(kind).is_valid(doc)
    assert ours == js, f"generated {ours}, jsonschema on specs/ {js}: {_GENERATED[kind](doc)} / " \
                       f"{[e.message for e in ours_js(kind).iter_errors(doc)]}"
    if with_official:
        off = official(kind).is_valid(doc)
        assert ours == off, f"generated {ours}, official {off}: {_GENERATED[kind](doc)} / " \
                            f"{[e.message for e in official(kind).iter_errors(doc)]}"
    return ours


# ------------------------------------------------------------ fixed samples

def _samples(kind: str, verdict: str) -> list[Path]:
    d = OFFICIAL / "test" / kind / verdict
    return sorted(p for p in d.glob("*.json") if p.name != "invalid-json.json") if d.is_dir() else []


@needs_official
@pytest.mark.parametrize("kind", ["config", "state", "features"])
def test_official_good_samples_are_valid(kind: str) -> None:
    samples = _samples(kind, "good")
    assert samples
    for p in samples:
        assert assert_same_verdict(json.loads(p.read_text()), kind), p.name


@needs_official
@pytest.mark.parametrize("kind", ["config", "features"])
def test_official_bad_samples_are_invalid(kind: str) -> None:
    samples = _samples(kind, "bad")
    assert samples
    for p in samples:
        assert not assert_same_verdict(json.loads(p.read_text()), kind), p.name


def _runc_spec(tmp: Path, *flags: str) -> dict[str, Any]:
    if not os.access(RUNC, os.X_OK):
        pytest.skip("runc not installed")
    tmp.mkdir(parents=True, exist_ok=True)
    subprocess.run([RUNC, "spec", *flags], cwd=tmp, check=True, capture_output=True)
    doc: dict[str, Any] = json.loads((tmp / "config.json").read_text())
    return doc


@needs_official
@pytest.mark.parametrize("flags", [(), ("--rootless",)], ids=["root", "rootless"])
def test_runc_spec_output_is_valid(tmp_path: Path, flags: tuple[str, ...]) -> None:
    assert assert_same_verdict(_runc_spec(tmp_path, *flags))


@needs_official
def test_our_configs_are_valid() -> None:
    assert assert_same_verdict(RUNC_SPEC)
    assert assert_same_verdict(default_spec())


@needs_official
def test_state_of_a_container() -> None:
    st_ = {"ociVersion": "1.2.1", "id": "c1", "status": "running", "pid": 42, "bundle": "/b",
           "annotations": {"a": "b"}}
    assert assert_same_verdict(st_, "state")
    for bad in ({**st_, "status": "paused"}, {**st_, "pid": -1}, {k: v for k, v in st_.items() if k != "id"}):
        assert not assert_same_verdict(bad, "state")


# ------------------------------------------------------------ hypothesis

def _bases() -> list[dict[str, Any]]:
    bases = [copy.deepcopy(RUNC_SPEC), default_spec()]
    for p in _samples("config", "good"):
        bases.append(json.loads(p.read_text()))
    return bases


# Names whose schema differs on purpose (see the tests at the end): mutations
# never add them, so ours and the official schema must agree on everything else.
DIFFERENT = {"solaris", "windows", "vm", "zos", "netDevices", "memoryPolicy", "schemata", "enableMonitoring",
             "fileMode", "rootfsPropagation"}

EDGE_INTS = [-1, 0, 1, -2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -2**63, -2**63 - 1,
             2**64 - 1, 2**64, 100, 101, 127, 128, 255, 256, 512, 513, 65535, 65536]
EDGE_STRS = ["", "rootfs", "/abs/path", "rel/path", "pid", "bogus", "network", "RLIMIT_NOFILE", "RLIMIT_nofile",
             "RLIMIT_", "RLIMIT_CPU\n", "64KB", "64kB", "2MB\n", "0MB", "MB:0=20", "MB:0=1\nL3:0=f", "MB:\n",
             "c", "b", "p\n", "cb", "x", "0-3,5", "1 - 2", "a", "private", "rslave", "SCMP_ACT_ALLOW",
             "SCMP_ACT_NOPE", "IOPRIO_CLASS_BE", "SCHED_RR", "LINUX32", "SECCOMP_FILTER_FLAG_LOG", "\n", "é"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from(EDGE_INTS), st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_STRS), st.text(max_size=6),
)
VALUES = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=5).filter(lambda k: k not in DIFFERENT), c, max_size=3), max_leaves=6)
KEYS = st.one_of(st.sampled_from(["type", "path", "limit", "major", "minor", "allow", "names", "mode",
                                  "destination", "uid", "rate", "weight", "x-extra", "", "\n"]),
                 st.text(max_size=5)).filter(lambda k: k not in DIFFERENT)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def mutated_configs(draw: st.DrawFn, bases: list[dict[str, Any]]) -> Any:
    doc: Any = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "replace", "add", "edge", "edge", "edge", "empty", "dup"]))
        paths = [p for p in _paths(doc) if not (p and p[-1] in DIFFERENT)]
        if op == "edge":  # leaves: scalars
            paths = [p for p in paths if not isinstance(_at(doc, p), (dict, list))] or paths
        path = draw(st.sampled_from(paths))
        node = _at(doc, path)
        if op == "delete" and path:
            parent = _at(doc, path[:-1])
            del parent[path[-1]]
        elif op == "replace" or (op == "delete" and not path):
            value: Any = draw(VALUES)
            if path:
                _at(doc, path[:-1])[path[-1]] = value
            else:
                doc = value
        elif op == "add" and isinstance(node, dict):
            node[draw(KEYS)] = draw(VALUES)
        elif op == "add" and isinstance(node, list):
            again: bool = bool(node) and draw(st.booleans())
            node.append(copy.deepcopy(node[0]) if again else draw(VALUES))
        elif op == "edge" and path:
            # mostly a value of the same type that sits on or past a limit
            if type(node) is int and draw(st.booleans()):
                value = draw(st.sampled_from(EDGE_INTS))
            elif isinstance(node, str) and draw(st.booleans()):
                value = draw(st.sampled_from(EDGE_STRS))
            else:
                value = draw(st.sampled_from(EDGE_INTS) | st.sampled_from(EDGE_STRS))
            _at(doc, path[:-1])[path[-1]] = value
        elif op == "empty" and isinstance(node, (dict, list)):
            node.clear()
        elif op == "dup" and isinstance(node, list) and node:
            node.append(copy.deepcopy(node[-1]))
    return doc


_HYP = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@needs_official
@_HYP
@given(mutated_configs(_bases()))
def test_mutated_configs_same_verdict_as_official(doc: Any) -> None:
    assert_same_verdict(doc)


def _with_13_fields() -> dict[str, Any]:
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["linux"]["netDevices"] = {"eth0": {"name": "ctr0"}, "ens4": {}}
    cfg["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}
    cfg["linux"]["intelRdt"] = {"closID": "g", "schemata": ["L3:0=7f0", "MB:0=20"], "enableMonitoring": True}
    return cfg


@_HYP
@given(mutated_configs([_with_13_fields()]))
def test_mutated_13_configs_generated_equals_jsonschema_on_our_specs(doc: Any) -> None:
    # No official oracle for 1.3 here: the generator must agree with jsonschema
    # reading our own specs/.
    assert_same_verdict(doc, with_official=False)


@_HYP
@given(VALUES)
def test_arbitrary_json_generated_equals_jsonschema_on_our_specs(doc: Any) -> None:
    for kind in ("config", "state", "features"):
        assert_same_verdict(doc, kind, with_official=False)


# ------------------------------------------------------------ deliberate differences

@needs_official
@pytest.mark.parametrize("section", ["solaris", "windows", "vm", "zos"])
def test_difference_non_linux_sections_are_not_described(section: str) -> None:
    """Ours leaves out the Solaris, Windows, VM and z/OS sections: a malformed
    one is refused by the official schema and ignored by ours (a Linux runtime
    does not read them)."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg[section] = 5
    assert not official().is_valid(cfg)
    assert generated_ok(cfg) and ours_js().is_valid(cfg)


@needs_official
def test_difference_well_formed_13_fields_valid_in_both() -> None:
    """The 1.3 fields are unknown to 1.2.1, which has no additionalProperties:
    false, so 1.2.1 accepts them (it rejects no 1.3 config); ours accepts them too."""
    assert assert_same_verdict(_with_13_fields())


@needs_official
@pytest.mark.parametrize(("field", "value", "path", "problem"), [
    ("netDevices", {"eth0": {"name": 5}}, "linux.netDevices.eth0.name", "must be a string"),
    ("netDevices", ["eth0"], "linux.netDevices", "must be an object"),
    ("memoryPolicy", {"nodes": "0"}, "linux.memoryPolicy.mode", "required string is missing"),
    ("memoryPolicy", {"mode": "MPOL_FAST"}, "linux.memoryPolicy.mode", "unknown memory policy mode 'MPOL_FAST'"),
    ("memoryPolicy", {"mode": "MPOL_BIND", "flags": ["MPOL_F_X"]}, "linux.memoryPolicy.flags[0]",
     "unknown memory policy flag 'MPOL_F_X'"),
    ("intelRdt", {"schemata": "L3:0=f"}, "linux.intelRdt.schemata", "must be an array"),
    ("intelRdt", {"enableMonitoring": "yes"}, "linux.intelRdt.enableMonitoring", "must be a boolean"),
])
def test_difference_malformed_13_fields_refused_only_by_ours(field: str, value: Any, path: str,
                                                             problem: str) -> None:
    """Ours checks the runtime-spec 1.3 fields (linux.netDevices, memoryPolicy,
    intelRdt.schemata, intelRdt.enableMonitoring); 1.2.1 lets anything through there."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["linux"][field] = value
    assert official().is_valid(cfg)
    assert not ours_js().is_valid(cfg)
    errors = validate(cfg)
    assert [(e.path, e.problem) for e in errors] == [(path, problem)]


@needs_official
@pytest.mark.parametrize(("mode", "ours_ok"), [(0o20600, True), (0o1666, True), (2**32, False), (-1, False)])
def test_difference_device_file_mode_is_uint32(mode: int, ours_ok: bool) -> None:
    """config-linux.md makes linux.devices[].fileMode a uint32; the official
    schema caps it at 512, which refuses mode bits above 0o1000 and Podman's S_IFCHR|0600
    (8576). runc (no schema) takes the permission bits; so do we."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["linux"]["devices"] = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": mode}]
    assert not official().is_valid(cfg)
    assert generated_ok(cfg) is ours_ok and ours_js().is_valid(cfg) is ours_ok


@needs_official
@pytest.mark.parametrize("prop", ["rprivate", "rshared", "rslave", "runbindable"])
def test_difference_rootfs_propagation_recursive_forms(prop: str) -> None:
    """linux.rootfsPropagation: the official schema allows private, shared,
    slave, unbindable; runc takes their recursive forms too (specconv
    mountPropagationMapping) and containerd 1.6 writes rshared or rslave for
    pods with Bidirectional or HostToContainer mounts. So do we."""
    cfg = copy.deepcopy(RUNC_SPEC)
    cfg["linux"]["rootfsPropagation"] = prop
    assert not official().is_valid(cfg)
    assert generated_ok(cfg) and ours_js().is_valid(cfg)
    for plain in ("private", "shared", "slave", "unbindable"):
        cfg["linux"]["rootfsPropagation"] = plain
        assert official().is_valid(cfg) and generated_ok(cfg)
    for bad in ("", "Rshared", "rshared ", "bogus", 1):
        cfg["linux"]["rootfsPropagation"] = bad
        assert not official().is_valid(cfg) and not generated_ok(cfg)


def test_no_other_difference_in_property_names() -> None:
    """Apart from the sections named above, ours describes the same fields as
    1.2.1 (a field missing from ours would go unchecked)."""
    if not (OFFICIAL / "config-schema.json").exists():
        pytest.skip("official runtime-spec schemas not present")

    def names(root: Path) -> set[str]:
        out: set[str] = set()

        def walk(node: Any, at: str) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k == "properties" and isinstance(v, dict):
                        for name, sub in v.items():
                            out.add(f"{at}.{name}")
                            walk(sub, f"{at}.{name}")
                    else:
                        walk(v, at if k in ("items", "allOf", "anyOf", "definitions") else f"{at}/{k}")
            elif isinstance(node, list):
                for v in node:
                    walk(v, at)

        for p in root.glob("*.json"):
            if not p.name.startswith(("config-solaris", "config-windows", "config-vm", "config-zos", "defs-")):
                walk(json.loads(p.read_text()), p.stem)
        return {n.rsplit(".", 1)[-1] for n in out}

    official_names = names(OFFICIAL) - {"solaris", "windows", "vm", "zos"}
    ours = names(OURS)
    assert official_names <= ours, sorted(official_names - ours)
    assert ours - official_names <= {"netDevices", "memoryPolicy", "schemata", "enableMonitoring", "mode",
                                     "nodes", "flags"}, sorted(ours - official_names)

