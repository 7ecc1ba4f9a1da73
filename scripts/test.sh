#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run), as root:
#
#   sudo bash scripts/test.sh [extra pytest args]
#
# 1. scripts/setup.sh (Debian packages, .venv, pip install '.[test]')
# 2. pytest on tests/unit and tests/integration, verbose, with the reason of every skip
# 2a. the client tests: private containerd + dockerd, Podman and ctr running the
#     same scenarios with runc and with pyruntime (tests/clients)
# 2b. the conformance suite against pyruntime and runc (scripts/conformance.sh)
# 2c. the cgroup v2 lane in a qemu guest (scripts/guest/test.sh)
# 3. ruff check pyruntime hooks tests bench
# 4. mypy pyruntime hooks
# Every step runs; the script exits non-zero if any of them failed. pytest's exit
# code 5 (no tests collected) counts as a failure.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if ! bash scripts/setup.sh; then
    echo "test.sh: setup.sh failed" >&2
    exit 1
fi

failed=()

echo
echo "==> pytest tests/unit tests/integration $*"
.venv/bin/python -m pytest tests/unit tests/integration -v -rs "$@"
rc=$?
case $rc in
    0) ;;
    5) echo "test.sh: pytest collected no tests (exit 5): counted as a failure" >&2
       failed+=("pytest(no tests)") ;;
    *) failed+=("pytest(rc=$rc)") ;;
esac

echo
echo "==> client tests: docker, podman and ctr with runc and pyruntime (tests/clients)"
.venv/bin/python -m pytest tests/clients -v -rs -p no:cacheprovider
rc=$?
case $rc in
    0) ;;
    5) echo "test.sh: the client tests collected nothing (exit 5): counted as a failure" >&2
       failed+=("clients(no tests)") ;;
    *) failed+=("clients(rc=$rc)") ;;
esac

echo
echo "==> conformance suite against pyruntime and runc (scripts/conformance.sh)"
if bash scripts/conformance.sh; then :; else failed+=("conformance(rc=$?)"); fi

echo
echo "==> cgroup v2 lane: a qemu guest with cgroup_no_v1=all (scripts/guest/test.sh)"
if bash scripts/guest/test.sh; then :; else failed+=("guest-v2(rc=$?)"); fi

lint_paths=()
for p in pyruntime hooks tests bench; do
    if [ -e "$p" ]; then lint_paths+=("$p"); else echo "test.sh: note: $p/ does not exist, not linted"; fi
done
echo
echo "==> ruff check ${lint_paths[*]}"
if .venv/bin/ruff check "${lint_paths[@]}"; then :; else failed+=("ruff(rc=$?)"); fi

echo
echo "==> mypy pyruntime hooks"
if .venv/bin/mypy pyruntime hooks; then :; else failed+=("mypy(rc=$?)"); fi

echo
if [ "${#failed[@]}" -ne 0 ]; then
    echo "test.sh: FAILED: ${failed[*]}"
    exit 1
fi
echo "test.sh: all passed (pytest, ruff, mypy)"
