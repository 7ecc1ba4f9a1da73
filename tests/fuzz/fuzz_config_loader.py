"""Coverage-guided fuzzing of the config loader with atheris (libFuzzer for
Python; in the test extra of setup.cfg). Standalone, not part of the pytest
run (a fixed corpus of it is: tests/unit/test_security_config.py):

    .venv/bin/python tests/fuzz/fuzz_config_loader.py -atheris_runs=200000 [CORPUS_DIR]

Seeds: the test bundle's config and the official runtime-spec samples when
/work/shared/reference is present. A crash is any exception other than
PyruntimeError out of load() + create's checks (tests/fuzz/config_target.py);
libFuzzer then writes the input to crash-<sha1> in the working directory.
"""

from __future__ import annotations

import json
import os
import sys

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

with atheris.instrument_imports():
    from pyruntime.spec import load as _load  # noqa: F401 - instrumented for coverage
    from pyruntime.spec import validator as _validator  # noqa: F401
    from tests.fuzz.config_target import one_input


def seeds(corpus: str) -> None:
    """Write the seed configs into corpus (when it is empty)."""
    from pathlib import Path

    from tests.support.bundle import RUNC_SPEC

    d = Path(corpus)
    d.mkdir(parents=True, exist_ok=True)
    if any(d.iterdir()):
        return
    (d / "runc-spec.json").write_text(json.dumps(RUNC_SPEC))
    official = Path("/work/shared/reference/runtime-spec-v1.2.1-schema")
    for i, p in enumerate(sorted(official.rglob("*config*.json"))):
        (d / f"official-{i}.json").write_bytes(p.read_bytes())


def main() -> None:
    args = list(sys.argv)
    corpus = next((a for a in args[1:] if not a.startswith("-")), None)
    if corpus is None:
        corpus = os.path.join(os.path.dirname(__file__), "corpus-config")
        args.append(corpus)
    seeds(corpus)
    atheris.Setup(args, lambda data: one_input(bytes(data)))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
