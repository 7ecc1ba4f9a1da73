"""Fixtures for integration tests (the shared ones are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def sleep_bundle(make_bundle: Callable[..., Path]) -> Path:
    """A bundle whose process sleeps long enough to be seen running."""
    return make_bundle(["sleep", "30"], name="sleep-bundle")
