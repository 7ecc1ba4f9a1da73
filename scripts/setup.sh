#!/usr/bin/env bash
# Set up a Debian 12 machine to build, run and test pyruntime. Run as root from
# anywhere; safe to run again (each step is skipped or repeated harmlessly).
#
#   1. Debian packages: runc (the reference runtime), busybox-static (test and demo
#      rootfs), gcc + libc6-dev + libseccomp-dev + pkg-config (the cffi module and
#      static test probes), iproute2, procps; the clients the client tests drive:
#      docker.io (dockerd + docker), containerd (+ ctr, the runc v2 shim), podman +
#      conmon + containernetworking-plugins (published ports), iptables; uidmap
#      (newuidmap/newgidmap: rootless Podman, tests/clients/test_podman_rootless.py).
#      Their daemons are not started here: tests/clients starts private ones.
#   2. A virtual environment .venv in the repository root (python3 -m venv; Debian's
#      own Python refuses pip installs into the system), with pyruntime and its test
#      tools installed: .venv/bin/pip install '.[test,bench]'.
#
# Environment:
#   PYRUNTIME_EDITABLE=1   install with pip -e (editable) instead
#   PYTHON=python3.11      the interpreter that creates the venv (default python3)
#   (with sudo, pass them through: sudo PYRUNTIME_EDITABLE=1 bash scripts/setup.sh)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"

log() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (sudo bash scripts/setup.sh)" >&2
    exit 1
fi

# --- 1. Debian packages --------------------------------------------------------
PACKAGES=(runc busybox-static gcc libc6-dev libseccomp-dev pkg-config iproute2 procps golang-github-containers-common qemu-system-x86
          docker.io containerd podman conmon containernetworking-plugins iptables uidmap)

# Debian's own python3 needs python3-venv for `-m venv` and python3-dev for the
# cffi build; a pyenv (or other self-built) Python already has both.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    PACKAGES+=(python3-venv)
fi
if ! "$PYTHON" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1; then
    PACKAGES+=(python3-dev)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    log "Debian packages: all present (${PACKAGES[*]})"
else
    log "Debian packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

# --- 2. virtual environment ----------------------------------------------------
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; raise SystemExit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
    log "venv: reusing .venv ($(.venv/bin/python --version))"
else
    log "venv: creating .venv with $PYTHON ($("$PYTHON" --version 2>&1))"
    rm -rf .venv
    "$PYTHON" -m venv .venv
fi

if [ "${PYRUNTIME_EDITABLE:-0}" = "1" ]; then
    log "pip: installing pyruntime editable (-e '.[test,bench]')"
    .venv/bin/pip install -e '.[test,bench]'
else
    log "pip: installing pyruntime ('.[test,bench]')"
    .venv/bin/pip install '.[test,bench]'
fi

# The unit tests import pyruntime from this source tree (pytest puts the repo
# root first on sys.path), so the compiled modules (_kernel, the cffi
# _seccomp) and helpers are built here too.
log "build_ext: building pyruntime's compiled modules in place for the unit tests"
.venv/bin/python setup.py -q build_ext --inplace >/dev/null 2>&1 || .venv/bin/python setup.py build_ext --inplace

log "setup done: $(.venv/bin/pyruntime --version 2>/dev/null | head -n1 || echo 'pyruntime --version failed')"
