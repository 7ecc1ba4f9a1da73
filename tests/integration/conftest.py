"""Fixtures for integration tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cgfiles import remove_test_cgroups
from tests.support.isolation import build_probe


@pytest.fixture
def cgpath(rt: Any, cid: str) -> Iterator[str]:
    """An absolute linux.cgroupsPath of this test's own; after the runtime's
    cleanup (delete --force, so the cgroups are empty), whatever is left of it
    in any hierarchy is removed."""
    path = f"/pyrt-test-{cid}"
    yield path
    rt.cleanup()
    remove_test_cgroups(path)


@pytest.fixture
def sleep_bundle(make_bundle: Callable[..., Path]) -> Path:
    """A bundle whose process sleeps long enough to be seen running."""
    return make_bundle(["sleep", "30"], name="sleep-bundle")


def _static_probe(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/support/probes/<name>.c built statically, once per session;
    scripts/guest/test.sh builds them on the host (gcc is slow in the guest)
    and passes their directory as PYRT_PROBES_DIR."""
    prebuilt = os.environ.get("PYRT_PROBES_DIR")
    if prebuilt and (Path(prebuilt) / name).exists():
        return Path(prebuilt) / name
    return build_probe(name, tmp_path_factory.mktemp("probes"))


@pytest.fixture(scope="session")
def memhog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _static_probe("memhog", tmp_path_factory)


@pytest.fixture(scope="session")
def forkmany(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _static_probe("forkmany", tmp_path_factory)
