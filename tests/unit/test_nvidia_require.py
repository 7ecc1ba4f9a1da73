"""NVIDIA_REQUIRE_* expressions (hooks/nvidia/require.py): libnvidia-container's dsl.c rules."""

from __future__ import annotations

import pytest

from hooks.nvidia.errors import HookError
from hooks.nvidia.require import Facts, check, compare_versions

HOST = Facts(cuda="12.4", driver="550.54.14", arch="8.0", brand="Tesla")


@pytest.mark.parametrize("a,op,b,want", [
    ("12.4", ">=", "12.4", True), ("12.4", ">=", "12.4.0", True), ("12.4", ">", "12.4.0", False),
    ("12.4", "<", "12.10", True), ("550.54.14", ">=", "550", True), ("550.54.14", "=", "550.54", False),
    ("8.0", "=", "8", True), ("8.0", "!=", "8", False), ("7.5", "<=", "8.0", True)])
def test_versions_compare_part_by_part(a: str, op: str, b: str, want: bool) -> None:
    assert compare_versions(a, op, b) is want


@pytest.mark.parametrize("expr", ["cuda>=12.0", "cuda>=13.0 driver>=550", "arch>=8.0,brand=tesla",
                                  "brand!=geforce", "cuda>=12.0,driver>=545.0 cuda>=99", "  "])
def test_met(expr: str) -> None:
    check("NVIDIA_REQUIRE_X", expr, HOST)


@pytest.mark.parametrize("expr,msg", [
    ("cuda>=12.5", "unsatisfied condition: cuda>=12.5, please update your driver"),
    ("cuda>=13.0 driver>=560", "unsatisfied condition: cuda>=13.0,"),
    ("arch>=9.0,brand=tesla", "unsatisfied condition: arch>=9.0,brand=tesla"),
    ("brand=geforce", "unsatisfied condition: brand=geforce (this host: cuda 12.4, driver 550.54.14, arch 8.0, brand Tesla)")])
def test_unmet_names_the_condition(expr: str, msg: str) -> None:
    with pytest.raises(HookError) as e:
        check("NVIDIA_REQUIRE_X", expr, HOST)
    assert str(e.value).startswith("NVIDIA_REQUIRE_X: ") and msg in str(e.value)


@pytest.mark.parametrize("expr,msg", [("cuda~12", "no operator"), ("cuda=>12", "unknown operator '=>'"),
                                      ("gpu>=1", "unknown key 'gpu'"), ("cuda>=", "no value"),
                                      ("brand>=tesla", "brand compares with = or != only"),
                                      ("cuda>=12.0 arch>=x", "'x' is not a version")])
def test_invalid_expressions_are_errors(expr: str, msg: str) -> None:
    with pytest.raises(HookError, match="invalid requirement") as e:
        check("NVIDIA_REQUIRE_X", expr, HOST)
    assert msg in str(e.value)


def test_unknown_facts_satisfy() -> None:
    check("NVIDIA_REQUIRE_X", "cuda>=99,arch>=99,brand=geforce", Facts(driver="550.54.14"))
