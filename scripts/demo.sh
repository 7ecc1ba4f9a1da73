#!/usr/bin/env bash
# The main job, as root:  sudo bash scripts/demo.sh
#
# Sets the machine up (scripts/setup.sh), builds an OCI bundle from the host's
# busybox-static in a temporary directory, runs a shell script in it with
#   .venv/bin/pyruntime --root <tmp>/root run --bundle <tmp>/bundle demo-<random>
# that prints what the container sees, then prints the same from the host for
# comparison. Removes its temporary directory when it ends.
#
# RUNTIME=/usr/sbin/runc sudo -E bash scripts/demo.sh runs the same with runc.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

if [ "$(id -u)" -ne 0 ]; then
    echo "demo.sh: run as root (sudo bash scripts/demo.sh)" >&2
    exit 1
fi

bash scripts/setup.sh

RUNTIME="${RUNTIME:-$REPO/.venv/bin/pyruntime}"
TMP="$(mktemp -d /tmp/pyruntime-demo.XXXXXX)"
ROOT="$TMP/root"
BUNDLE="$TMP/bundle"
ID="demo-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"

cleanup() {
    if [ -d "$ROOT/$ID" ]; then
        "$RUNTIME" --root "$ROOT" delete --force "$ID" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# What the process inside prints. It runs as busybox sh, PID 1 of its own PID namespace.
# shellcheck disable=SC2016  # expanded inside the container, not here
SHOW='
echo "PID of this shell:     $$"
echo "processes visible:     $(ls -d /proc/[0-9]* | wc -l)"
echo "hostname:              $(hostname)"
echo "network interfaces:    $(ls /sys/class/net | tr "\n" " ")"
echo "ip link:"
ip link | sed "s/^/    /"
echo "/proc/self/cgroup:"
sed "s/^/    /" /proc/self/cgroup
echo "id:                    $(id)"
echo "capabilities:          $(grep -E "^CapEff" /proc/self/status | tr -s "\t" " ")"
echo "                       $(grep -E "^CapBnd" /proc/self/status | tr -s "\t" " ")"
echo "ls /:                  $(ls / | tr "\n" " ")"
echo "mounts:                $(wc -l < /proc/self/mounts)"
'

echo
echo "==> building a busybox bundle in $BUNDLE"
.venv/bin/python - "$BUNDLE" "$SHOW" <<'PY'
import sys
from pathlib import Path

from tests.support.bundle import base_config, write_bundle

cfg = base_config(["sh", "-c", sys.argv[2]])
cfg["hostname"] = "pyruntime-demo"
write_bundle(Path(sys.argv[1]), cfg)
PY

echo
echo "==> inside the container: $RUNTIME --root $ROOT run --bundle $BUNDLE $ID"
rc=0
"$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$ID" </dev/null || rc=$?

echo "(the config grants CAP_KILL, CAP_NET_BIND_SERVICE and CAP_AUDIT_WRITE: CapEff 0000000020000420)"

echo
echo "==> the host, for comparison"
sh -c "$SHOW" 2>&1

echo
if [ "$rc" -ne 0 ]; then
    echo "demo.sh: the container run exited $rc" >&2
    exit "$rc"
fi
echo "demo.sh: done (container $ID ran and was removed; $TMP removed)"
