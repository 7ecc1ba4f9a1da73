"""Docker with the NVIDIA hook on the fake driver root (tests/support/fake_nvidia.py),
through a private containerd + dockerd of its own (tests/clients/lab.py) whose
environment carries the hook's settings:

- `docker run --runtime pyruntime -e NVIDIA_VISIBLE_DEVICES=...`: pyruntime runs
  the hook from a hooks.d drop-in (PYRUNTIME_HOOKS_DIR in containerd's
  environment, which the shim and so pyruntime inherit), as
  nvidia-container-runtime would add it for runc;
- `docker run --gpus ...` with runc and with pyruntime: dockerd finds
  `nvidia-container-runtime-hook` on its PATH (a link to ours), adds it as a
  prestart hook with its own environment (PYRUNTIME_NVIDIA_DRIVER_ROOT) and
  sets NVIDIA_VISIBLE_DEVICES (moby daemon/nvidia_linux.go).

Opening a fake node gives ENXIO when the device cgroup allows it (no driver
answers), EPERM when it does not.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import images
from tests.clients.client import check, unique
from tests.clients.lab import Lab, missing_tools
from tests.conftest import find_runtime
from tests.support import fake_nvidia
from tests.support.bundle import make_busybox_rootfs

IMAGE = "pyrt-test/gpu-glibc:latest"
PROBE = "/bin/cuda_probe"


class Gpu:
    def __init__(self, lab: Lab, fake: fake_nvidia.FakeDriver) -> None:
        self.lab = lab
        self.fake = fake

    def run(self, runtime: str, *args: str) -> str:
        name = unique("gpu")
        p = self.lab.docker("run", "--rm", "--name", name, "--runtime", runtime, *args, timeout=120)
        assert p.returncode == 0, f"rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}"
        assert self.lab.leftovers(name) == []
        return p.stdout


@pytest.fixture(scope="module")
def gpu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gpu]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the clients' daemons run as root")
    missing = missing_tools()
    if missing:
        pytest.skip("client tests need: " + ", ".join(missing))
    hook = Path(sys.executable).parent / "nvidia-container-runtime-hook"
    if not hook.exists():
        pytest.skip(f"{hook} not installed (pip install .)")
    work = tmp_path_factory.mktemp("nvidia-docker")
    fake = fake_nvidia.make(work / "driver")
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "nvidia-container-runtime-hook").symlink_to(hook)
    hooks_d = work / "hooks.d"
    hooks_d.mkdir()
    (hooks_d / "oci-nvidia-hook.json").write_text(json.dumps({
        "version": "1.0.0",
        "hook": {"path": str(hook.parent / "pyruntime-nvidia-hook"),
                 "args": ["pyruntime-nvidia-hook", "--driver-root", str(fake.root), "prestart"]},
        "when": {"always": True}, "stages": ["prestart"]}))
    env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}",
           "PYRUNTIME_NVIDIA_DRIVER_ROOT": str(fake.root), "PYRUNTIME_HOOKS_DIR": str(hooks_d)}
    rootfs = make_busybox_rootfs(work / "rootfs")
    fake_nvidia.add_glibc(rootfs)
    shutil.copy2(fake_nvidia.build_probe(work), rootfs / "bin" / "cuda_probe")
    tar = images.rootfs_tar(rootfs, work / "gpu.tar")
    lab = Lab(find_runtime(), env=env)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        lab.start()
        check(lab.docker("import", "-c", 'CMD ["/bin/sh"]', str(tar), IMAGE))
        yield Gpu(lab, fake)
    finally:
        lab.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def test_env_with_hooks_d_on_pyruntime(gpu: Gpu) -> None:
    out = gpu.run("pyruntime", "-e", "NVIDIA_VISIBLE_DEVICES=0", IMAGE, "sh", "-c",
                  f"ls /dev | grep nvidia; {PROBE} /dev/nvidia1; ldconfig -p | grep libcuda")
    assert "nvidia0" not in out.split() and "nvidia1" in out.split(), out
    assert "open /dev/nvidia1: ENXIO" in out and f"nv_fake_version: {gpu.fake.version}" in out, out
    assert "libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1" in out, out


@pytest.mark.parametrize("runtime", ["runc", "pyruntime"])
def test_gpus_all(gpu: Gpu, runtime: str) -> None:
    out = gpu.run(runtime, "--gpus", "all", IMAGE, "sh", "-c",
                  f"{PROBE} /dev/nvidia0 /dev/nvidia1 /dev/nvidiactl; nvidia-smi; echo $NVIDIA_VISIBLE_DEVICES")
    for d in ("/dev/nvidia0", "/dev/nvidia1", "/dev/nvidiactl"):
        assert f"open {d}: ENXIO" in out, out
    assert "cuDeviceGetCount: 2 (0)" in out and f"Driver Version: {gpu.fake.version}" in out, out
    assert out.split()[-1] == "all", out


@pytest.mark.parametrize("runtime", ["runc", "pyruntime"])
def test_gpus_device_selection(gpu: Gpu, runtime: str) -> None:
    out = gpu.run(runtime, "--gpus", "device=1", IMAGE, "sh", "-c", "ls /dev | grep '^nvidia[0-9]'")
    assert out.split() == [f"nvidia{gpu.fake.minor(1)}"], out
