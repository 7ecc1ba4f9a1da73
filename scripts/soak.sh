#!/bin/sh
# Soak (issue 10): 1,000 sequential `run --keep` + `delete` cycles of a busybox
# `true` container, checking that nothing grows on the host: state dirs, cgroup
# dirs, mounts, processes, zombies, fds, memory charged to the soak's own memory
# cgroup (tests/support/soak.py says what and how). As root, after setup.sh.
#   sudo sh scripts/soak.sh                       # 1,000 cycles of pyruntime
#   sudo sh scripts/soak.sh --cycles 200 --runtime /usr/sbin/runc --json
# Exit status 1 when something grew. CI runs 100 cycles
# (tests/integration/test_reliability_soak.py).
set -e
cd "$(dirname "$0")/.."
exec .venv/bin/python -m tests.support.soak --cycles 1000 "$@"
