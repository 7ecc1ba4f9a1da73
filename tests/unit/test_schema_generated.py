"""gen_validator: the committed _schema_validator.py is what specs/ compile to,
the compiler handles every keyword it claims (checked against jsonschema on a
synthetic schema), its pattern matcher equals re.search, and the hot path
stays light."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from pyruntime.spec import gen_validator
from pyruntime.spec.validator import ValidationError, validate
from tests.support.bundle import RUNC_SPEC, base_config

REPO = Path(__file__).resolve().parents[2]


def test_committed_validator_is_up_to_date() -> None:
    with open(gen_validator.OUTPUT, encoding="utf-8") as f:
        committed = f.read()
    assert committed == gen_validator.generate(), \
        "pyruntime/spec/_schema_validator.py is stale: run python -m pyruntime.spec.gen_validator"


def test_generated_code_uses_no_re_fallback() -> None:
    # Every pattern in specs/ is within the matcher's subset: `re` is never imported.
    assert "_re_search(" not in gen_validator.generate().split("def _anyof")[1]


# ------------------------------------------------------------ patterns

SPEC_PATTERNS = sorted({m for p in Path(gen_validator.SPECS).glob("*.json")
                        for m in re.findall(r'"pattern": "([^"]*)"', p.read_text())}
                       | {".{1,}"})
MORE_PATTERNS = ["^a{2,3}b?$", "x.y", "^[^\\n]*$", "[a-c]+d", "^\\.\\-$", "ab*c", "^$", "q{2}", "[-a]z", "^[]a]$"]


def test_spec_patterns_seen() -> None:
    assert {"^RLIMIT_[A-Z]+$", "^[1-9][0-9]*[KMG]B$", "^MB:[^\\\\n]*$", "^[cbup]$"} <= set(SPEC_PATTERNS)


@pytest.mark.parametrize("raw", SPEC_PATTERNS + MORE_PATTERNS)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_matcher_equals_re_search(raw: str, data: st.DataObject) -> None:
    pat = json.loads(f'"{raw}"') if raw in SPEC_PATTERNS else raw
    parsed = gen_validator.parse_pattern(pat)
    assert parsed is not None, pat
    alphabet = sorted(set(re.sub(r"[\\^$\[\]{}*+?]", "", pat)) | set("aAzZ09_:\n -,BKMG"))
    s = data.draw(st.one_of(st.text(alphabet=alphabet, max_size=8), st.from_regex(pat)))
    assert gen_validator.search(s, *parsed) == (re.search(pat, s) is not None), (pat, s)


@pytest.mark.parametrize("pat", ["a|b", "(ab)", "\\d+", "a*?", "[[:alpha:]]", "\\w"])
def test_patterns_outside_the_subset_fall_back_to_re(pat: str) -> None:
    assert gen_validator.parse_pattern(pat) is None


# ------------------------------------------------------------ the compiler on every keyword

SYNTHETIC: dict[str, Any] = {
    "root.json": {
        "type": "object",
        "required": ["a"],
        "properties": {
            "a": {"type": ["string", "integer"], "minLength": 2, "maxLength": 4, "minimum": 1, "maximum": 9},
            "b": {"anyOf": [{"type": "integer", "exclusiveMinimum": True, "minimum": 0}, {"$ref": "#/definitions/s"}]},
            "c": {"oneOf": [{"type": "integer"}, {"type": "number", "maximum": 5}]},
            "d": {"type": "object", "properties": {"x": {"type": "null"}},
                  "patternProperties": {"^p": {"type": "boolean"}}, "additionalProperties": False},
            "e": {"type": "object", "properties": {"x": {"type": "null"}},
                  "additionalProperties": {"$ref": "other.json#/defs/n"}},
            "f": {"type": "array", "items": {"enum": ["u", "v"]}, "minItems": 1, "maxItems": 2},
            "g": {"allOf": [{"$ref": "other.json#/defs/n"}, {"exclusiveMaximum": True, "maximum": 3}]},
            "h": {"patternProperties": {"^[a-c]+$": {"type": "integer"}, "b": {"minimum": 5}}},
            "i": {"enum": ["x", "y"], "description": "letter"},
        },
    },
    "other.json": {"defs": {"n": {"type": "number"}}},
}
SYNTHETIC["root.json"]["definitions"] = {"s": {"type": "string", "pattern": "^s"}}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Draft4Validator]:
    d = tmp_path_factory.mktemp("specs")
    for name, doc in SYNTHETIC.items():
        (d / name).write_text(json.dumps(doc))
    code = gen_validator.generate(str(d), {"root": "root.json"})
    ns: dict[str, Any] = {}
    exec(compile(code, "synthetic", "exec"), ns)
    registry: Registry[Any] = Registry().with_resources(
        (n, DRAFT4.create_resource(doc)) for n, doc in SYNTHETIC.items())
    return ns["root"], Draft4Validator(SYNTHETIC["root.json"], registry=registry)


VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(-2, 10, allow_nan=False)
    | st.sampled_from(["", "s", "sx", "abcd", "abcde", "u", "v", "x", "y", "pq", "q"]),
    lambda c: st.lists(c, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c", "x", "p", "pz", "ab", "z", "bb"]), c, max_size=4),
    max_leaves=8)
DOC = st.fixed_dictionaries({}, optional={k: VALUE for k in "abcdefghi"})


@settings(max_examples=300, deadline=None)
@given(doc=DOC | VALUE)
def test_compiler_equals_jsonschema_on_every_keyword(synthetic: tuple[Any, Draft4Validator], doc: Any) -> None:
    check, oracle = synthetic
    errors: list[tuple[str, str]] = []
    check(doc, "", errors)
    assert (not errors) == oracle.is_valid(doc), (errors, [e.message for e in oracle.iter_errors(doc)])


def test_unsupported_keyword_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "root.json").write_text(json.dumps({"type": "array", "uniqueItems": True}))
    with pytest.raises(gen_validator.SchemaError, match="uniqueItems"):
        gen_validator.generate(str(tmp_path), {"root": "root.json"})


# ------------------------------------------------------------ messages

def test_errors_carry_json_path_and_problem() -> None:
    cfg = base_config()
    cfg["linux"]["namespaces"][2]["type"] = "net"
    del cfg["mounts"][0]["destination"]
    cfg["annotations"] = {"org.example.key": 1}
    cfg["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2mb", "limit": -1}]
    errors = validate(cfg)
    assert [(e.path, e.problem) for e in errors] == [
        ("mounts[0].destination", "required string is missing"),
        ("linux.resources.hugepageLimits[0].pageSize", "must match ^[1-9][0-9]*[KMG]B$, got '2mb'"),
        ("linux.resources.hugepageLimits[0].limit", "must be at least 0, got -1"),
        ("linux.namespaces[2].type", "unknown namespace type 'net'"),
        ('annotations["org.example.key"]', "must be a string"),
    ]
    assert isinstance(errors[0], ValueError)
    assert str(errors[0]) == "mounts[0].destination: required string is missing"
    assert validate([]) == [ValidationError("", "must be an object")]
    assert validate(RUNC_SPEC) == []


# ------------------------------------------------------------ the hot path

_PROBE = """
import sys
from pyruntime import jsonfast
from pyruntime.spec import validator
cfg = jsonfast.loads(sys.stdin.read())
assert validator.validate(cfg) == []
print(" ".join(sorted(sys.modules)))
"""


def test_hot_path_imports_nothing_heavy() -> None:
    """Validation runs on every create: it must not pull in jsonschema or the
    stdlib modules measured at several ms each (its cost belongs in bench/)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-S", "-c", _PROBE], input=json.dumps(RUNC_SPEC), env=env,
                       capture_output=True, text=True, check=True, cwd=REPO)
    heavy = set(p.stdout.split()) & {"jsonschema", "re", "json", "typing", "dataclasses", "enum", "referencing"}
    assert not heavy
    assert "pyruntime.spec._schema_validator" in p.stdout.split()
