"""Which runtime a test runs against (RUNTIME=/usr/sbin/runc runs the
integration tests against runc 1.1.5; its differences are xfailed there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def is_runc(rt: Any) -> bool:
    """rt (a Runtime, or anything with the binary's .path) is runc."""
    return Path(str(getattr(rt, "path", ""))).name.startswith("runc")
