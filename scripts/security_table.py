#!/usr/bin/env python3
"""Run the security tests against pyruntime and against runc, and write the
comparison table of docs/SECURITY.md (between its table markers) from what
the two runs observed. As root, from the repository root:

    .venv/bin/python scripts/security_table.py            # rewrites docs/SECURITY.md's table
    .venv/bin/python scripts/security_table.py --print    # prints it instead

Each test is one attack: its docstring's first line names it, and the test
records what it saw as the junit property "observed" (pytest's
record_property). A cell is "✔ <observed>" when the test passed (the
attack was refused or contained), "✘ fails: <assertion>" when it failed,
"– skipped: <reason>" otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "SECURITY.md"
BEGIN, END = "<!-- security-table:begin -->", "<!-- security-table:end -->"
RUNC = "/usr/sbin/runc"

# The security tests, plus the older ones they extend (same attack classes).
TESTS = [
    "tests/integration/test_security_exe.py",
    "tests/integration/test_security_caps.py",
    "tests/integration/test_security_privileges.py",
    "tests/integration/test_security_rootfs.py",
    "tests/integration/test_mount_security.py",
    "tests/integration/test_security_userns.py",
    "tests/integration/test_security_rootless.py",
    "tests/integration/test_security_lsm.py",
    "tests/integration/test_process_fields.py::test_apparmor_profile_without_apparmor_refused",
    "tests/integration/test_process_fields.py::test_selinux_label_without_selinux_refused",
    "tests/integration/test_security_config.py",
    "tests/integration/test_security_hygiene.py",
]


def run(runtime: str | None, xml: Path) -> None:
    env = dict(os.environ)
    env.pop("RUNTIME", None)
    if runtime:
        env["RUNTIME"] = runtime
    subprocess.run([sys.executable, "-m", "pytest", *TESTS, "-q", "-p", "no:cacheprovider",
                    "-o", "junit_family=legacy", f"--junitxml={xml}"], cwd=REPO, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)


def results(xml: Path) -> dict[str, str]:
    """{test id: cell}"""
    out: dict[str, str] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        tid = f"{case.get('classname')}::{case.get('name')}"
        props = {p.get("name"): p.get("value") or "" for p in case.iter("property")}
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            msg = failure.get("message") or "failed"
            out[tid] = f"✘ **fails**: {_clean(msg)}"
        elif skipped is not None:
            out[tid] = f"– skipped: {_clean(skipped.get('message') or '')}"
        else:
            out[tid] = f"✔ {_clean(props['observed'])}" if props.get("observed") else "✔"
    return out


def _clean(s: str) -> str:
    s = re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/ ]+/", "<tmp>/", s)  # the run's own temp dirs
    s = re.sub(r"/tmp/pyrt-[a-z]+-[0-9a-f_]+", "<tmp>", s)
    s = re.sub(r"\s+", " ", s).replace("|", "\\|").strip()
    return s[:220] + ("…" if len(s) > 220 else "")


def attack_of(tid: str) -> str:
    """The test's docstring, first line (its parametrization appended)."""
    mod, _, name = tid.rpartition("::")
    base, _, param = name.partition("[")
    try:
        fn = getattr(importlib.import_module(mod), base)
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
    except (ImportError, AttributeError):
        doc = ""
    doc = doc or base.removeprefix("test_").replace("_", " ")
    doc = doc.replace("|", "\\|")
    return f"{doc} [{param.rstrip(']')}]" if param else doc


def table(ours: dict[str, str], theirs: dict[str, str]) -> str:
    rows = ["| attack | test | pyruntime | runc 1.1.5 |", "|---|---|---|---|"]
    for tid in sorted(set(ours) | set(theirs), key=lambda t: (_order(t), t)):
        mod, _, name = tid.partition("::")
        test = f"{mod.rsplit('.', 1)[-1]}: {name}"
        rows.append(f"| {attack_of(tid)} | `{test}` | {ours.get(tid, 'not run')} | {theirs.get(tid, 'not run')} |")
    return "\n".join(rows) + "\n"


def _order(tid: str) -> int:
    for i, t in enumerate(TESTS):
        if t.split("::")[0].replace("/", ".").removesuffix(".py") in tid:
            return i
    return len(TESTS)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--print", action="store_true", help="print the table instead of rewriting the doc")
    ap.add_argument("--runc", default=RUNC)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (the tests make containers)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as d:
        run(None, Path(d) / "pyruntime.xml")
        run(args.runc, Path(d) / "runc.xml")
        text = table(results(Path(d) / "pyruntime.xml"), results(Path(d) / "runc.xml"))
    if args.print:
        sys.stdout.write(text)
        return 0
    doc = DOC.read_text()
    head, _, rest = doc.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
    print(f"wrote the table of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
