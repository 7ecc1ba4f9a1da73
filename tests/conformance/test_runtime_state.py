"""runtime.md "State" and "Operations: state"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must

MakeBundle = Callable[..., Path]


@pytest.mark.spec("runtime-state-1")
def test_id_is_unique_on_the_host(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    bundle = make_bundle(["sleep", "30"])
    must(create(rt, bundle, cid))
    second = create(rt, make_bundle(["true"], name="other"), cid)
    assert second.returncode != 0
    assert rt.state(cid)["id"] == cid
