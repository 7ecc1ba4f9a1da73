"""cgroups/devices.v1_writes: the devices.allow/deny lines, in order."""

from __future__ import annotations

from typing import Any

from pyruntime.cgroups.devices import DEFAULT_ALLOWED, rule_line, v1_writes
from tests.support.bundle import RUNC_SPEC

DEFAULT_LINES = [
    ("devices.allow", "c *:* m"),
    ("devices.allow", "b *:* m"),
    ("devices.allow", "c 1:3 rwm"),
    ("devices.allow", "c 1:8 rwm"),
    ("devices.allow", "c 1:7 rwm"),
    ("devices.allow", "c 5:0 rwm"),
    ("devices.allow", "c 1:5 rwm"),
    ("devices.allow", "c 1:9 rwm"),
    ("devices.allow", "c 5:1 rwm"),
    ("devices.allow", "c 136:* rwm"),
    ("devices.allow", "c 5:2 rwm"),
    ("devices.allow", "c 10:200 rwm"),
]


def test_runc_spec_deny_all_first_then_defaults() -> None:
    rules: list[dict[str, Any]] = RUNC_SPEC["linux"]["resources"]["devices"]
    out = v1_writes(rules, DEFAULT_ALLOWED)
    assert out[0] == ("devices.deny", "a")
    assert out[1:] == DEFAULT_LINES


def test_no_rules_gives_only_defaults() -> None:
    assert v1_writes([], DEFAULT_ALLOWED) == DEFAULT_LINES
    assert v1_writes([], []) == []


def test_allow_rules_with_wildcards_in_order() -> None:
    rules: list[dict[str, Any]] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 10, "access": "rw"},
        {"allow": True, "type": "b", "major": 8, "minor": -1, "access": "r"},
        {"allow": True, "type": "c", "minor": 4, "access": "m"},
        {"allow": False, "type": "c", "major": 1, "minor": 3},
    ]
    assert v1_writes(rules, []) == [
        ("devices.deny", "a"),
        ("devices.allow", "c 10:* rw"),
        ("devices.allow", "b 8:* r"),
        ("devices.allow", "c *:4 m"),
        ("devices.deny", "c 1:3 rwm"),  # access defaults to rwm
    ]


def test_allow_all() -> None:
    assert v1_writes([{"allow": True}], []) == [("devices.allow", "a")]
    assert v1_writes([{"allow": True, "type": "a", "access": "rwm"}], []) == [("devices.allow", "a")]


def test_type_a_with_major_minor_expands_to_char_and_block() -> None:
    out = v1_writes([{"allow": True, "type": "a", "major": 7, "minor": 0, "access": "rwm"}], [])
    assert out == [("devices.allow", "c 7:0 rwm"), ("devices.allow", "b 7:0 rwm")]


def test_type_a_with_partial_access_expands() -> None:
    out = v1_writes([{"allow": False, "type": "a", "access": "w"}], [])
    assert out == [("devices.deny", "c *:* w"), ("devices.deny", "b *:* w")]


def test_rule_line() -> None:
    assert rule_line("a", 1, 2, "r") == "a"
    assert rule_line("c", None, None, "rwm") == "c *:*" + " rwm"
    assert rule_line("b", -1, 5, "m") == "b *:5 m"
    assert rule_line("c", "4", "64", "rw") == "c 4:64 rw"
