"""Schema validation of config.json on the hot path.

`validate(config)` checks a parsed config.json against specs/config-schema.json
and returns every violation, each with its JSON path (`linux.namespaces[2].type`,
`mounts[0].destination`, `annotations["org.example"]`) and the problem in words.
The checks are plain Python generated from specs/ by gen_validator.py
(_schema_validator.py), so this imports no jsonschema, re, json or typing:
importing it and validating a `runc spec` config costs well under a millisecond.
"""

from __future__ import annotations

from pyruntime.spec import _schema_validator as _gen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ValidationError(ValueError):
    """One violation of the schema: where (`path`, a JSON path, "" for the
    document itself) and what (`problem`)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '(top level)'}: {problem}")
        self.path = path
        self.problem = problem

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ValidationError) and self.path == other.path
                and self.problem == other.problem)

    def __hash__(self) -> int:
        return hash((self.path, self.problem))

    def __repr__(self) -> str:
        return f"ValidationError({self.path!r}, {self.problem!r})"


def _run(check: Any, doc: Any) -> list[ValidationError]:
    errors: list[tuple[str, str]] = []
    check(doc, "", errors)
    return [ValidationError(p, m) for p, m in errors]


def validate(config: Any) -> list[ValidationError]:
    """Every violation of the config schema, in document order; [] when valid."""
    return _run(_gen.config, config)


def validate_state(state: Any) -> list[ValidationError]:
    """The same for the output of `state` (specs/state-schema.json)."""
    return _run(_gen.state, state)


def validate_features(features: Any) -> list[ValidationError]:
    """The same for the output of `features` (specs/features-schema.json)."""
    return _run(_gen.features, features)
