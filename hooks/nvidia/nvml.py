"""Facts only the driver's own libraries know, for NVIDIA_REQUIRE_*: the
CUDA version (libcuda's cuDriverGetVersion: 12040 → "12.4") and each GPU's
compute capability and brand (NVML: nvmlDeviceGetCudaComputeCapability,
nvmlDeviceGetBrand), as libnvidia-container asks them.

The libraries are loaded with ctypes in a forked child that writes JSON on
a pipe and exits: a driver library may start threads or keep state, none
of which should live in the hook. Asked only when a requirement needs them.
"""

from __future__ import annotations

import json
import os
import select
import time

# nvmlBrandType_t → libnvidia-container's names (src/driver.c)
BRANDS = ("Unknown", "Quadro", "Tesla", "NVS", "Grid", "GeForce", "Titan", "NVIDIAVApps", "NVIDIAVPC",
          "NVIDIAVCS", "NVIDIAVWS", "NVIDIACloudGaming", "QuadroRTX", "NVIDIARTX", "NVIDIA",
          "GeForceRTX", "TitanRTX")
TIMEOUT = 10.0


def _ask(libcuda: str | None, libnvml: str | None, busids: list[str]) -> dict[str, object]:
    """In the child: load the libraries and ask (errors become 'error' keys)."""
    import ctypes

    out: dict[str, object] = {}
    if libcuda:
        try:
            cuda = ctypes.CDLL(libcuda)
            v = ctypes.c_int(0)
            if cuda.cuDriverGetVersion(ctypes.byref(v)) == 0 and v.value > 0:
                out["cuda"] = f"{v.value // 1000}.{v.value % 1000 // 10}"
        except (OSError, AttributeError) as e:
            out["cuda_error"] = str(e)
    if libnvml and busids:
        devices: dict[str, dict[str, str]] = {}
        try:
            nvml = ctypes.CDLL(libnvml)
            if nvml.nvmlInit_v2() != 0:
                raise OSError("nvmlInit_v2 failed")
            for busid in busids:
                h = ctypes.c_void_p()
                if nvml.nvmlDeviceGetHandleByPciBusId_v2(busid.encode(), ctypes.byref(h)) != 0:
                    continue
                d: dict[str, str] = {}
                major, minor, brand = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
                if nvml.nvmlDeviceGetCudaComputeCapability(h, ctypes.byref(major), ctypes.byref(minor)) == 0:
                    d["arch"] = f"{major.value}.{minor.value}"
                if nvml.nvmlDeviceGetBrand(h, ctypes.byref(brand)) == 0 and 0 <= brand.value < len(BRANDS):
                    d["brand"] = BRANDS[brand.value]
                devices[busid] = d
            nvml.nvmlShutdown()
        except (OSError, AttributeError) as e:
            out["nvml_error"] = str(e)
        out["devices"] = devices
    return out


def ask(libcuda: str | None, libnvml: str | None, busids: list[str]) -> dict[str, object]:
    """{"cuda": "12.4", "devices": {busid: {"arch": "8.0", "brand": "Tesla"}}}, with
    whatever could be learnt; {} when the child failed or timed out."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            data = json.dumps(_ask(libcuda, libnvml, busids)).encode()
            os.write(w, data)
        finally:
            os._exit(0)
    os.close(w)
    buf = b""
    deadline = time.monotonic() + TIMEOUT
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, 9)
                break
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        result: dict[str, object] = json.loads(buf or b"{}")
    except ValueError:
        return {}
    return result
