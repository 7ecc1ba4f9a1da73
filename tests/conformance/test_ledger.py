"""The ledger itself: every sentence is claimed by a test or says why it
cannot be; every test claims only sentences that exist."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conformance.ledger import all_sentences

HERE = Path(__file__).parent


def claimed_ids() -> dict[str, list[str]]:
    """{sentence id: [test function names]} from @pytest.mark.spec(...) in tests/conformance."""
    out: dict[str, list[str]] = {}
    for f in HERE.glob("test_*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                        and dec.func.attr == "spec"):
                    for a in dec.args:
                        if isinstance(a, ast.Constant) and isinstance(a.value, str):
                            out.setdefault(a.value, []).append(f"{f.name}::{node.name}")
    return out


def test_every_sentence_is_tested_or_explained() -> None:
    claimed = claimed_ids()
    missing = [sid for sid, (_, s) in all_sentences().items() if not s.untestable and sid not in claimed]
    assert not missing, f"sentences with neither a test nor a reason: {missing}"


def test_tests_claim_only_known_sentences() -> None:
    known = all_sentences()
    unknown = {sid: tests for sid, tests in claimed_ids().items() if sid not in known}
    assert not unknown, f"tests claim sentences missing from the ledger: {unknown}"


def test_untestable_sentences_are_not_also_claimed() -> None:
    claimed = claimed_ids()
    both = [sid for sid, (_, s) in all_sentences().items() if s.untestable and sid in claimed]
    assert not both, f"marked untestable but a test claims them: {both}"
