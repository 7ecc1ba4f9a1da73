#!/usr/bin/env bash
# The NVIDIA hook on a machine with a real NVIDIA GPU and driver (docs/NVIDIA.md):
#
#   bash scripts/gpu-check.sh --prepare   # on a machine with network (this repo's CI machine):
#                                         # builds scripts/gpu-wheelhouse/ = pyruntime's wheel and
#                                         # its dependencies for this Python, and cuda_probe
#   sudo bash scripts/gpu-check.sh        # on the GPU machine, as root, no network needed
#
# The check: a fresh venv (gpu-check/venv beside the wheelhouse, or $GPU_CHECK_DIR) with
# `pip install --no-index --find-links scripts/gpu-wheelhouse pyruntime` (the GPU machine
# needs the same CPython minor version as the one that prepared the wheelhouse; without a
# wheelhouse it installs from this source tree, which needs gcc, libseccomp-dev and the
# Python headers); a small rootfs made from the host's own /bin/sh, ls, cat, ldconfig,
# their glibc libraries and cuda_probe (tests/support/probes/cuda_probe.c; compiled here
# when gcc exists, else the wheelhouse's copy); then a container run by pyruntime (and by
# runc when present) with NVIDIA_VISIBLE_DEVICES=all and the hook as prestart, which
# must show nvidia-smi working, cuInit() == 0 and cuDeviceGetCount() >= 1, the GPU nodes,
# and libcuda in `ldconfig -p`. Also prints `pyruntime-nvidia-hook info` and a CDI spec.
# Exit status 0 when every runtime passed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="${WHEELHOUSE:-$REPO/scripts/gpu-wheelhouse}"
PYTHON="${PYTHON:-python3}"

if [ "${1:-}" = "--prepare" ]; then
    mkdir -p "$WHEELS"
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$WHEELS" "$REPO"
    gcc -O1 -o "$WHEELS/cuda_probe" "$REPO/tests/support/probes/cuda_probe.c" -ldl
    echo "gpu-check: wheelhouse ready in $WHEELS ($("$PYTHON" --version)):"
    ls "$WHEELS"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "gpu-check: run as root" >&2; exit 1; }
WORK="${GPU_CHECK_DIR:-$REPO/gpu-check}"
rm -rf "$WORK"
mkdir -p "$WORK"
echo "== host"
uname -r
cat /proc/driver/nvidia/version 2>/dev/null || echo "no /proc/driver/nvidia/version: is the NVIDIA driver loaded?"
ls -l /dev/nvidia* 2>/dev/null || true
command -v nvidia-smi >/dev/null && nvidia-smi -L || true

echo "== install pyruntime into $WORK/venv"
"$PYTHON" -m venv "$WORK/venv"
if [ -d "$WHEELS" ]; then
    "$WORK/venv/bin/pip" install --quiet --no-index --find-links "$WHEELS" pyruntime
else
    echo "gpu-check: no wheelhouse at $WHEELS: installing from $REPO (needs network or a local cffi/pyroute2/PyYAML)"
    "$WORK/venv/bin/pip" install --quiet "$REPO"
fi
HOOK="$WORK/venv/bin/pyruntime-nvidia-hook"
PYRT="$WORK/venv/bin/pyruntime"
"$PYRT" --version

echo "== what the hook finds"
"$HOOK" info | head -80 || true
echo "== CDI spec (head)"
"$HOOK" cdi generate --format json | head -40 || true

echo "== rootfs from the host's own files"
ROOTFS="$WORK/bundle/rootfs"
mkdir -p "$ROOTFS"/{bin,sbin,etc,proc,sys,dev,tmp,usr/bin,usr/lib}
chmod 1777 "$ROOTFS/tmp"
if command -v gcc >/dev/null; then
    gcc -O1 -o "$ROOTFS/bin/cuda_probe" "$REPO/tests/support/probes/cuda_probe.c" -ldl
else
    cp "$WHEELS/cuda_probe" "$ROOTFS/bin/cuda_probe"
fi
copy_with_libs() {  # copy a binary and every library ldd lists, at their own paths
    local bin="$1" dest="$2"
    cp -L "$bin" "$ROOTFS$dest"
    { ldd "$bin" 2>/dev/null || true; } | { grep -o '/[^ ]*' || true; } | while read -r lib; do
        mkdir -p "$ROOTFS$(dirname "$lib")"
        cp -L "$lib" "$ROOTFS$lib"
    done
}
copy_with_libs "$(readlink -f /bin/sh)" /bin/sh
for b in ls cat grep; do copy_with_libs "$(command -v $b)" "/bin/$b"; done
copy_with_libs "$ROOTFS/bin/cuda_probe" /bin/cuda_probe.tmp && rm "$ROOTFS/bin/cuda_probe.tmp"
LDCONFIG=/sbin/ldconfig; [ -x /sbin/ldconfig.real ] && LDCONFIG=/sbin/ldconfig.real
copy_with_libs "$LDCONFIG" /sbin/ldconfig
[ -f /etc/debian_version ] && cp /etc/debian_version "$ROOTFS/etc/"
# nvidia-smi is not in the rootfs: the hook brings it (utility).

cd "$WORK/bundle"
"$PYRT" spec
"$WORK/venv/bin/python" - "$HOOK" <<'PY'
import json, sys
hook = sys.argv[1]
with open("config.json") as f:
    cfg = json.load(f)
p = cfg["process"]
p["terminal"] = False
p["args"] = ["/bin/sh", "-c",
             "nvidia-smi; echo; ls -l /dev/nvidia*; /bin/cuda_probe /dev/nvidiactl /dev/nvidia0; "
             "ldconfig -p | grep -E 'libcuda|libnvidia-ml'"]
p["env"] += ["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute,utility"]
cfg["root"]["readonly"] = False
cfg["hooks"] = {"prestart": [{"path": hook, "args": ["pyruntime-nvidia-hook", "prestart"]}]}
with open("config.json", "w") as f:
    json.dump(cfg, f, indent=2)
PY

failed=()
check_runtime() {
    local name="$1" bin="$2" out
    echo "== container run by $name"
    if ! out="$(timeout 120 "$bin" --root "$WORK/state-$name" run "gpu-check-$name" 2>&1)"; then
        echo "$out"; echo "gpu-check: $name: the container failed"; failed+=("$name"); return
    fi
    echo "$out"
    if ! grep -q '^cuInit: 0$' <<<"$out" || ! grep -Eq '^cuDeviceGetCount: [1-9][0-9]* \(0\)$' <<<"$out"; then
        echo "gpu-check: $name: cuInit / cuDeviceGetCount did not succeed"; failed+=("$name"); return
    fi
    grep -q 'Driver Version' <<<"$out" || { echo "gpu-check: $name: nvidia-smi did not run"; failed+=("$name"); }
}
check_runtime pyruntime "$PYRT"
if command -v runc >/dev/null; then check_runtime runc "$(command -v runc)"; fi

if [ "${#failed[@]}" -ne 0 ]; then
    echo "gpu-check: FAILED: ${failed[*]}"
    exit 1
fi
echo "gpu-check: all passed"
