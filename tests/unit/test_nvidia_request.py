"""NVIDIA_* environment semantics (hooks/nvidia/request.py), as NVIDIA documents them."""

from __future__ import annotations

import pytest

from hooks.nvidia.errors import HookError
from hooks.nvidia.request import ALL_CAPABILITIES, env_map, parse, pci_id


def req(*env: str):  # type: ignore[no-untyped-def]
    return parse(env_map(list(env)))


@pytest.mark.parametrize("env", [(), ("NVIDIA_VISIBLE_DEVICES=",), ("NVIDIA_VISIBLE_DEVICES=void",),
                                 ("NVIDIA_VISIBLE_DEVICES=0,void",), ("NVIDIA_VISIBLE_DEVICES= , ",)])
def test_not_a_gpu_container(env: tuple[str, ...]) -> None:
    assert req(*env) is None


def test_all_none_and_lists() -> None:
    assert req("NVIDIA_VISIBLE_DEVICES=all").devices is None
    assert req("NVIDIA_VISIBLE_DEVICES=none").devices == []
    r = req("NVIDIA_VISIBLE_DEVICES= 1, GPU-abc ,0000:3b:00.0,,")
    assert r.devices == ["1", "GPU-abc", "0000:3b:00.0"]


def test_a_later_duplicate_wins() -> None:
    assert req("NVIDIA_VISIBLE_DEVICES=void", "NVIDIA_VISIBLE_DEVICES=1").devices == ["1"]


@pytest.mark.parametrize("value,msg", [("gpu0", "'gpu0': unknown device"), ("-1", "'-1': unknown device"),
                                       ("MIG-abc", "MIG devices are not supported"),
                                       ("0:1", "MIG devices are not supported"),
                                       ("none,0", "'none' cannot be combined")])
def test_bad_devices_name_the_value(value: str, msg: str) -> None:
    with pytest.raises(HookError, match="NVIDIA_VISIBLE_DEVICES") as e:
        req(f"NVIDIA_VISIBLE_DEVICES={value}")
    assert msg in str(e.value)


def test_legacy_cuda_image() -> None:
    r = req("CUDA_VERSION=11.8.0")
    assert r is not None and r.devices is None
    assert r.capabilities == frozenset(ALL_CAPABILITIES)
    assert r.requirements == [("CUDA_VERSION", "cuda>=11.8")]
    # NVIDIA_REQUIRE_CUDA set: not legacy, so no GPU without NVIDIA_VISIBLE_DEVICES
    assert req("CUDA_VERSION=11.8.0", "NVIDIA_REQUIRE_CUDA=cuda>=11.8") is None
    with pytest.raises(HookError, match="CUDA_VERSION='eleven'"):
        req("CUDA_VERSION=eleven")


def test_capabilities() -> None:
    assert req("NVIDIA_VISIBLE_DEVICES=0").capabilities == {"utility", "compute"}
    assert req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=").capabilities == {"utility", "compute"}
    assert req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=video, graphics").capabilities == \
        {"video", "graphics"}
    assert req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=compute,all").capabilities == \
        frozenset(ALL_CAPABILITIES)
    with pytest.raises(HookError, match="NVIDIA_DRIVER_CAPABILITIES='compute,cuda': unknown driver capability 'cuda'"):
        req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=compute,cuda")


def test_requirements_and_disable() -> None:
    r = req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=12.0", "NVIDIA_REQUIRE_JETPACK=csv-mode",
            "NVIDIA_REQUIRE_B=brand=tesla")
    assert r.requirements == [("NVIDIA_REQUIRE_B", "brand=tesla"), ("NVIDIA_REQUIRE_CUDA", "cuda>=12.0")]
    for yes in ("1", "t", "true", "TRUE", "True"):
        assert req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99",
                   f"NVIDIA_DISABLE_REQUIRE={yes}").requirements == []
    assert req("NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99",
               "NVIDIA_DISABLE_REQUIRE=yes").requirements != []


def test_pci_ids() -> None:
    assert pci_id("0000:3B:00.0") == (0, 0x3B, 0, 0)
    assert pci_id("00000000:3b:00.0") == (0, 0x3B, 0, 0)
    assert pci_id("3b:00.0") == (0, 0x3B, 0, 0)
    for bad in ("3b:00", "x:3b:00.0", "0000:3b:00.9", "1", "GPU-1"):
        assert pci_id(bad) is None
