"""Helpers for conformance tests."""

from __future__ import annotations

import pytest

from tests.conftest import Runtime


def is_pyruntime(rt: Runtime) -> bool:
    return "pyruntime" in rt.name


def is_runc(rt: Runtime) -> bool:
    return rt.name == "runc"


def known_gap(request: pytest.FixtureRequest, rt: Runtime, reason: str, *, runtime: str = "pyruntime") -> None:
    """The test runs and is expected to fail on `runtime` ("pyruntime" or
    "runc"): strict xfail with the reason (shown in docs/CONFORMANCE.md), so
    the day the gap closes the test says so."""
    if (runtime == "pyruntime" and is_pyruntime(rt)) or (runtime == "runc" and is_runc(rt)):
        request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))
