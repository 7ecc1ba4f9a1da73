"""Hostile configs at the unit level: any document (hypothesis-generated
from the schema-shaped samples, valid and invalid) and malformed JSON
(NaN, Infinity, deep nesting, invalid UTF-8, duplicate keys, huge) goes
through the loader and create's checks (tests/fuzz/config_target.py) to
either a config or one clear PyruntimeError, never another exception
(which the CLI would report as an internal error). The same through the
real binary: tests/integration/test_security_config.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyruntime import jsonfast
from tests.fuzz.config_target import one_input
from tests.support.bundle import RUNC_SPEC
from tests.unit.test_schema_equivalence import VALUES, _bases, mutated_configs

_HYP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = json.dumps(RUNC_SPEC).encode()


@_HYP
@given(mutated_configs(_bases()))
def test_mutated_configs_load_or_fail_cleanly(doc: Any) -> None:
    one_input(json.dumps(doc).encode())


@_HYP
@given(VALUES)
def test_arbitrary_json_fails_cleanly(doc: Any) -> None:
    one_input(json.dumps(doc).encode())


@_HYP
@given(st.binary(max_size=512))
def test_arbitrary_bytes_fail_cleanly(data: bytes) -> None:
    one_input(data)


@_HYP
@given(st.integers(0, len(VALID) - 1), st.binary(min_size=1, max_size=8))
def test_corrupted_valid_config_fails_cleanly(at: int, junk: bytes) -> None:
    one_input(VALID[:at] + junk + VALID[at + len(junk):])


def test_valid_config_passes() -> None:
    assert one_input(VALID) == "ok"


MALFORMED = {
    "nan": (VALID.replace(b'"terminal": false', b'"terminal": false, "x": NaN'), "NaN is not a JSON value"),
    "infinity": (VALID.replace(b'"terminal": false', b'"terminal": false, "x": -Infinity'),
                 "-Infinity is not a JSON value"),
    "deep-array": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep-object": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested too deeply"),
    "unclosed-deep": (b"[" * 100_000, "nested too deeply"),
    "invalid-utf8": (VALID.replace(b'"sh"', b'"s\xff\xfeh"'), "invalid JSON: 'utf-8' codec can't decode"),
    "lone-surrogate": (VALID.replace(b'"sh"', b'"\\ud800"'), None),
    "nul-in-string": (VALID.replace(b'"sh"', b'"s\\u0000h"'), None),
    "empty": (b"", "invalid JSON"),
    "whitespace": (b" \n\t " * 1000, "invalid JSON"),
    "trailing-garbage": (VALID + b"}", "Extra data"),
    "two-documents": (VALID + VALID, "Extra data"),
    "top-level-array": (b"[]", "the top level must be an object"),
    "bom-then-garbage": (b"\xef\xbb\xbf\xef\xbb\xbf{}", "invalid JSON"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_is_a_clear_error(case: str) -> None:
    data, words = MALFORMED[case]
    msg = one_input(data)
    assert msg != "ok"
    if words is not None:
        assert words in msg, msg


def test_duplicate_keys_the_last_wins_as_in_go() -> None:
    """encoding/json (runc) keeps the last of duplicate keys; so do we: a
    config means the same to both runtimes."""
    assert jsonfast.loads('{"a": 1, "a": 2}') == {"a": 2}
    doc = VALID.replace(b'"args": ["sh"]', b'"args": ["first"], "args": ["sh"]')
    assert one_input(doc) == "ok"


def test_huge_config_is_read_and_refused() -> None:
    """100 MB of JSON: parsed (or refused) in one piece, a clear error."""
    big = b'{"ociVersion": "1.2.1", "x": "' + b"a" * (100 << 20) + b'"}'
    msg = one_input(big)
    assert "root.path" in msg or "process" in msg, msg[:200]
