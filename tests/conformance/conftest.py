"""Records, for each ledger sentence, what its tests gave on the runtime under
test (RUNTIME=..., default pyruntime), into CONFORMANCE_OUT (a JSON file;
default build/conformance-<runtime name>.json). report.py merges the files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import find_runtime

_results: dict[str, list[dict[str, str]]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(*ids): the ledger sentences this test checks")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    rep = outcome.get_result()
    marker = item.get_closest_marker("spec")
    if marker is None:
        return
    if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
        if rep.skipped:
            result = "skip"
            reason = str(rep.longrepr[2]) if isinstance(rep.longrepr, tuple) else ""
            if hasattr(rep, "wasxfail"):
                result, reason = "xfail", str(rep.wasxfail)
        else:
            result = "pass" if rep.passed else "fail"
            reason = ""
            if hasattr(rep, "wasxfail") and rep.passed:
                result, reason = "xpass", str(rep.wasxfail)
        for sid in marker.args:
            _results.setdefault(sid, []).append({"test": item.nodeid, "result": result, "reason": reason})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _results:
        return
    runtime = find_runtime()
    out = os.environ.get("CONFORMANCE_OUT") or f"build/conformance-{Path(runtime).name}.json"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps({"runtime": runtime, "results": _results}, indent=1))
