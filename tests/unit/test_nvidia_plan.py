"""Planning (hooks/nvidia/plan.py) from a made-up Driver: which GPUs, which
libraries per capability, where they go, which nodes and cgroup rules."""

from __future__ import annotations

import pytest

from hooks.nvidia.driver import Driver, Gpu, Library, Node
from hooks.nvidia.errors import HookError
from hooks.nvidia.plan import container_libdirs, make, select_gpus
from hooks.nvidia.request import Request

GPUS = [Gpu(0, 1, "GPU-aaaa", "0000:01:00.0", "A"), Gpu(1, 0, "GPU-bbbb", "0000:02:00.0", "B")]
V = "550.54.14"


def lib(group: str, name: str, soname: str, bits: int = 64) -> Library:
    d = "/usr/lib/x86_64-linux-gnu" if bits == 64 else "/usr/lib/i386-linux-gnu"
    return Library(group, name, f"{d}/{name}.{V}", (soname,), bits)


def driver(**kw: object) -> Driver:
    d = Driver(root="/drv", dev_root="/drv", version=V, gpus=GPUS,
               libs=[lib("utility", "libnvidia-ml.so", "libnvidia-ml.so.1"),
                     lib("compute", "libcuda.so", "libcuda.so.1"),
                     lib("compute", "libcuda.so", "libcuda.so.1", bits=32),
                     lib("video", "libnvcuvid.so", "libnvcuvid.so.1"),
                     lib("graphics", "libGLX_nvidia.so", "libGLX_nvidia.so.0")],
               bins={"nvidia-smi": "/usr/bin/nvidia-smi", "nvidia-cuda-mps-control": "/usr/bin/nvidia-cuda-mps-control"},
               firmware=[f"/lib/firmware/nvidia/{V}/gsp_ga10x.bin"], ipcs={"/tmp/nvidia-mps": "compute"},
               nodes={"nvidiactl": Node("/dev/nvidiactl", 195, 255), "nvidia-uvm": Node("/dev/nvidia-uvm", 511, 0),
                      "nvidia-modeset": Node("/dev/nvidia-modeset", 195, 254)},
               proc=False)
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def test_select_by_index_uuid_pci_in_order_once() -> None:
    assert select_gpus(None, GPUS) == GPUS
    assert select_gpus([], GPUS) == []
    assert select_gpus(["1", "gpu-AAAA", "02:00.0", "0000:01:00.0"], GPUS) == [GPUS[1], GPUS[0]]
    with pytest.raises(HookError, match=r"'2': unknown device \(this host's GPUs: 0 GPU-aaaa 0000:01:00.0; "):
        select_gpus(["2"], GPUS)


def test_libdirs() -> None:
    assert container_libdirs(lambda p: p == "/etc/debian_version", "x86_64") == \
        ("/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu")
    assert container_libdirs(lambda p: p == "/usr/lib/x86_64-linux-gnu", "x86_64")[0] == "/usr/lib/x86_64-linux-gnu"
    assert container_libdirs(lambda p: False, "x86_64") == ("/usr/lib64", "/usr/lib")
    assert container_libdirs(lambda p: False, "aarch64") == ("/usr/lib64", "/usr/lib")


def targets(caps: set[str], devices: list[str] | None = ["0"]) -> tuple[set[str], set[str], set[str]]:  # noqa: B006
    p = make(Request(devices, frozenset(caps)), driver(), "/usr/lib/x86_64-linux-gnu", "/usr/lib/i386-linux-gnu")
    binds = {b.target for b in p.binds}
    links = {f"{ln.path}->{ln.target}" for ln in p.links}
    return binds, links, {f"{n.major}:{n.minor}" for n in p.devices}


def test_compute() -> None:
    binds, links, devs = targets({"compute"})
    assert f"/usr/lib/x86_64-linux-gnu/libcuda.so.{V}" in binds
    assert not any("nvidia-ml" in b or "nvcuvid" in b or "i386" in b for b in binds)
    assert "/usr/bin/nvidia-cuda-mps-control" in binds and "/usr/bin/nvidia-smi" not in binds
    assert "/tmp/nvidia-mps" in binds and f"/lib/firmware/nvidia/{V}/gsp_ga10x.bin" in binds
    assert links == {f"/usr/lib/x86_64-linux-gnu/libcuda.so.1->libcuda.so.{V}",
                     "/usr/lib/x86_64-linux-gnu/libcuda.so->libcuda.so.1"}
    assert devs == {"195:255", "195:1", "511:0"}  # index 0 is minor 1


def test_utility_video_display_compat32() -> None:
    binds, _, devs = targets({"utility"}, None)
    assert {b for b in binds if "lib" in b and "firmware" not in b} == {f"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{V}"}
    assert devs == {"195:255", "195:1", "195:0"}  # all GPUs, no uvm without compute
    binds, _, _ = targets({"video"})
    assert f"/usr/lib/x86_64-linux-gnu/libnvcuvid.so.{V}" in binds and f"/usr/lib/x86_64-linux-gnu/libcuda.so.{V}" in binds
    assert "/usr/bin/nvidia-cuda-mps-control" not in binds
    binds, _, devs = targets({"display"}, [])
    assert f"/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.{V}" in binds and devs == {"195:255", "195:254"}
    binds, links, _ = targets({"compute", "compat32"})
    assert f"/usr/lib/i386-linux-gnu/libcuda.so.{V}" in binds
    assert f"/usr/lib/i386-linux-gnu/libcuda.so.1->libcuda.so.{V}" in links


def test_missing_nvidiactl_is_named() -> None:
    with pytest.raises(HookError, match="/drv/dev/nvidiactl: missing"):
        make(Request(["0"], frozenset({"utility"})), driver(nodes={}), "/a", "/b")
