"""The conformance ledger: every MUST, MUST NOT, SHOULD and SHOULD NOT sentence
of the runtime-spec documents runtime.md, runtime-linux.md, config.md and
config-linux.md (v1.2, plus the 1.3 changes), each mapped to the tests that
check it, or to a written reason why it cannot be tested from outside.

One module per document (ledger_<doc>.py) holds its SENTENCES. A test claims
a sentence with `@pytest.mark.spec("<id>")`; tests/conformance/conftest.py
records each sentence's outcome per runtime and report.py writes the table
to docs/CONFORMANCE.md.
"""

from __future__ import annotations

import importlib

LEVELS = ("MUST", "MUST NOT", "SHOULD", "SHOULD NOT")
DOCS = ("runtime", "runtime_linux", "config", "config_linux", "config_linux_cgroups")


class S:
    """One normative sentence.

    id:          stable, "<doc>-<section>-<n>", e.g. "config-linux-namespaces-3"
    level:       MUST | MUST NOT | SHOULD | SHOULD NOT
    text:        the sentence as the spec says it (shortened with "..." if long)
    section:     the heading it is under
    untestable:  why no test can check it from outside (None when tested)
    spec_vs_runc: where runc and the spec disagree, what the test follows and why
    since:       the spec version that added it ("1.3.0" for 1.3 changes), else ""
    until:       the last spec version that has it (a sentence a later version
                 replaced; tested with bundles that declare such a version), else ""
    """

    __slots__ = ("id", "level", "text", "section", "untestable", "spec_vs_runc", "since", "until")

    def __init__(self, id: str, level: str, text: str, section: str = "", *,
                 untestable: str | None = None, spec_vs_runc: str | None = None, since: str = "",
                 until: str = "") -> None:
        if level not in LEVELS:
            raise ValueError(f"{id}: level {level!r} is not one of {LEVELS}")
        self.id = id
        self.level = level
        self.text = text
        self.section = section
        self.untestable = untestable
        self.spec_vs_runc = spec_vs_runc
        self.since = since
        self.until = until


def all_sentences() -> dict[str, tuple[str, S]]:
    """{id: (doc, sentence)} over every ledger module; duplicate ids are an error."""
    out: dict[str, tuple[str, S]] = {}
    for doc in DOCS:
        try:
            mod = importlib.import_module(f"tests.conformance.ledger_{doc}")
        except ModuleNotFoundError as e:
            if e.name != f"tests.conformance.ledger_{doc}":
                raise
            continue
        for s in mod.SENTENCES:
            if s.id in out:
                raise ValueError(f"duplicate sentence id {s.id}")
            out[s.id] = (doc, s)
    return out
