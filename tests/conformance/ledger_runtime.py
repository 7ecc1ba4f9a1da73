"""runtime.md (runtime-spec v1.2, plus 1.3 changes)."""

from tests.conformance.ledger import S

SENTENCES = [
    S("runtime-state-1", "MUST", "id (string, REQUIRED) is the container's ID. This MUST be unique across all "
      "containers on this host.", "State"),
]
