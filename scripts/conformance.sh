#!/usr/bin/env bash
# The conformance suite against pyruntime and runc, then the merged table in
# docs/CONFORMANCE.md. Run after scripts/setup.sh, as root:
#
#   bash scripts/conformance.sh
#
# Fails when pyruntime fails a test, or when pyruntime and runc differ on a
# sentence without an explanation in the ledger.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
RUNC="${RUNC:-/usr/sbin/runc}"
mkdir -p build
rc=0
echo "==> conformance: pyruntime"
CONFORMANCE_OUT=build/conformance-pyruntime.json .venv/bin/python -m pytest tests/conformance -q -rs -p no:cacheprovider || rc=1
echo "==> conformance: runc ($RUNC) — failures here are runc's, explained in the ledger"
RUNTIME="$RUNC" CONFORMANCE_OUT=build/conformance-runc.json .venv/bin/python -m pytest tests/conformance -q -rs -p no:cacheprovider >build/conformance-runc.log 2>&1
tail -n 3 build/conformance-runc.log
echo "==> conformance: table"
.venv/bin/python -m tests.conformance.report build/conformance-pyruntime.json build/conformance-runc.json \
    --write docs/CONFORMANCE.md || rc=1
exit $rc
