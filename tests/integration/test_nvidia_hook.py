"""The NVIDIA hook (hooks/nvidia, docs/NVIDIA.md) on a fake driver root
(tests/support/fake_nvidia.py: real ELF libraries with NVIDIA's names and
SONAMEs, an ld.so.cache for that root, mknod'ed device nodes), run as a
prestart hook by pyruntime and by runc.

How the device cgroup is proven without a GPU: the fake nodes are real
character devices (195:N) for which no driver is registered, so open(2)
fails with ENXIO when the device cgroup let it through, and with EPERM when
the cgroup refused it. An ENXIO is the cgroup's allow.

The container rootfs is busybox plus the host's glibc loader and libc (a
static program cannot dlopen), the static ldconfig (for `ldconfig -p`) and
cuda_probe, a dynamically linked program that dlopens libcuda.so.1 as CUDA
applications do and prints what the library says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import mounts_mentioning
from tests.integration.test_failure_cleanup import assert_nothing_left
from tests.support import fake_nvidia
from tests.support.bundle import base_config, make_busybox_rootfs, write_bundle
from tests.support.isolation import describe

HOOK = str(Path(sys.executable).parent / "pyruntime-nvidia-hook")
LIBDIR = "/usr/lib/x86_64-linux-gnu"
PROBE = "/bin/cuda_probe"


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> fake_nvidia.FakeDriver:
    if os.geteuid() != 0:
        pytest.skip("needs root: mknod and containers")
    if not os.path.exists(HOOK):
        pytest.skip(f"{HOOK} not installed (pip install .)")
    return fake_nvidia.make(tmp_path_factory.mktemp("nvidia") / "root")


@pytest.fixture(scope="module")
def gpu_rootfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two rootfs templates: Debian-like (libs go to the multiarch dir) and
    rpm-like (no /etc/debian_version, no multiarch dir: libs go to /usr/lib64)."""
    base = tmp_path_factory.mktemp("gpu-rootfs")
    probe = fake_nvidia.build_probe(base)
    out = {}
    for name, debian in (("debian", True), ("rpm", False)):
        r = make_busybox_rootfs(base / name)
        fake_nvidia.add_glibc(r, debian=debian)
        shutil.copy2(probe, r / "bin" / "cuda_probe")
        out[name] = r
    return out


@pytest.fixture(params=["pyruntime", "runc"])
def runtime(request: pytest.FixtureRequest) -> Runtime:
    r: Runtime = request.getfixturevalue("rt" if request.param == "pyruntime" else "runc")
    return r


def hook_entry(fake: fake_nvidia.FakeDriver, *extra: str, stage: str = "prestart") -> dict[str, Any]:
    return {"path": HOOK, "args": ["pyruntime-nvidia-hook", "--driver-root", str(fake.root), *extra, stage]}


MakeGpuBundle = Callable[..., Path]


@pytest.fixture
def gpu_bundle(tmp_path: Path, fake: fake_nvidia.FakeDriver, gpu_rootfs: dict[str, Path]) -> MakeGpuBundle:
    """gpu_bundle(args, env=[...], hook_args=(), rootfs="debian", mutate=None, hooks=None)."""
    def make(args: list[str], env: list[str] | None = None, hook_args: tuple[str, ...] = (),
             rootfs: str = "debian", mutate: Callable[[dict[str, Any]], None] | None = None,
             hooks: dict[str, list[dict[str, Any]]] | None = None, name: str = "bundle") -> Path:
        cfg = base_config(args)
        cfg["process"]["env"] += env or []
        cfg["hooks"] = hooks if hooks is not None else {"prestart": [hook_entry(fake, *hook_args)]}
        if mutate:
            mutate(cfg)
        return write_bundle(tmp_path / name, cfg, rootfs_src=gpu_rootfs[rootfs])
    return make


def run(rt: Runtime, bundle: Path, cid: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return rt("run", "--bundle", str(bundle), cid, timeout=60, **kw)


def ok(rt: Runtime, bundle: Path, cid: str, **kw: Any) -> str:
    p = run(rt, bundle, cid, **kw)
    assert p.returncode == 0, describe(p)
    return p.stdout


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under root with its mode, size and link target."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_size,
                                             os.readlink(p) if os.path.islink(p) else "")
    return out


# ---------------------------------------------------------------- devices and cgroup

def test_selected_gpu_only_with_its_numbers(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                            fake: fake_nvidia.FakeDriver) -> None:
    """Index 1 is the GPU on the second PCI bus, whose minor is 0: /dev/nvidia0,
    195:0, and no /dev/nvidia1; nvidiactl and the uvm nodes come with compute."""
    script = ("for d in /dev/nvidia*; do stat -c '%n %t:%T %F' $d; done; "
              f"{PROBE} /dev/nvidia0 /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools")
    out = ok(runtime, gpu_bundle(["sh", "-c", script], ["NVIDIA_VISIBLE_DEVICES=1"]), cid)
    nodes = sorted(line for line in out.splitlines() if line.startswith("/dev/"))
    uvm = f"{fake_nvidia.UVM_MAJOR:x}"
    assert nodes == ["/dev/nvidia-uvm " + uvm + ":0 character special file",
                     "/dev/nvidia-uvm-tools " + uvm + ":1 character special file",
                     "/dev/nvidia0 c3:0 character special file",
                     "/dev/nvidiactl c3:ff character special file"], out
    # ENXIO, not EPERM: the device cgroup allows each of them (no driver answers).
    for d in ("/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert f"open {d}: ENXIO" in out, out
    assert "cuDeviceGetCount: 1 (0)" in out


def test_without_the_cgroup_step_the_nodes_are_refused(runtime: Runtime, cid: str,
                                                       gpu_bundle: MakeGpuBundle) -> None:
    """The control of the test above: --no-cgroups leaves the device cgroup
    as the runtime made it (deny all but the defaults), and open gives EPERM."""
    b = gpu_bundle([PROBE, "/dev/nvidia1", "/dev/nvidiactl"], ["NVIDIA_VISIBLE_DEVICES=0"],
                   hook_args=("--no-cgroups",))
    out = ok(runtime, b, cid)
    assert "open /dev/nvidia1: EPERM" in out and "open /dev/nvidiactl: EPERM" in out, out


def test_devices_by_uuid_pci_id_and_all(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                        fake: fake_nvidia.FakeDriver) -> None:
    ls = "ls /dev | grep '^nvidia[0-9]' | sort | tr '\\n' ' '"
    b = gpu_bundle(["sh", "-c", ls], [f"NVIDIA_VISIBLE_DEVICES={fake.uuids[1].lower()}"], name="b1")
    assert ok(rt, b, cid).split() == ["nvidia0"]
    b = gpu_bundle(["sh", "-c", ls], ["NVIDIA_VISIBLE_DEVICES=01:00.0"], name="b2")
    assert ok(rt, b, cid + "b").split() == ["nvidia1"]
    b = gpu_bundle(["sh", "-c", ls], ["NVIDIA_VISIBLE_DEVICES=all"], name="b3")
    assert ok(rt, b, cid + "c").split() == ["nvidia0", "nvidia1"]


@pytest.mark.parametrize("value", [None, "", "void"])
def test_not_a_gpu_container(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle, value: str | None) -> None:
    env = [] if value is None else [f"NVIDIA_VISIBLE_DEVICES={value}"]
    out = ok(rt, gpu_bundle(["sh", "-c", f"ls /dev; ls {LIBDIR} 2>&1; true"], env), cid)
    assert "nvidia" not in out, out


def test_none_gives_the_driver_but_no_gpu(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle) -> None:
    out = ok(rt, gpu_bundle(["sh", "-c", f"ls /dev; {PROBE}"], ["NVIDIA_VISIBLE_DEVICES=none"]), cid)
    assert "nvidiactl" in out and "nvidia0" not in out and "nvidia1" not in out, out
    assert "cuDeviceGetCount: 0 (0)" in out and "nv_fake_version: 550.54.14" in out, out


# ---------------------------------------------------------------- libraries

def test_dlopen_finds_the_host_library(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                       fake: fake_nvidia.FakeDriver) -> None:
    out = ok(runtime, gpu_bundle(["sh", "-c", f"{PROBE}; ldconfig -p; nvidia-smi"],
                                 ["NVIDIA_VISIBLE_DEVICES=0"]), cid)
    assert f"libcuda: {LIBDIR}/libcuda.so.1" in out, out
    assert f"nv_fake_version: {fake.version}" in out and "cuDriverGetVersion: 12040 (0)" in out, out
    for soname in ("libcuda.so.1", "libnvidia-ml.so.1", "libnvidia-ptxjitcompiler.so.1", "libnvidia-nvvm.so.4"):
        assert f"\t{soname} (libc6,x86-64) => {LIBDIR}/{soname}" in out, out
    assert f"Driver Version: {fake.version}" in out and "GPU node /dev/nvidia1" in out, out


def test_rpm_style_rootfs_finds_libcuda_through_the_ldcache(rt: Runtime, cid: str,
                                                            gpu_bundle: MakeGpuBundle) -> None:
    """No /etc/debian_version: the libraries go to /usr/lib64, which is not in
    the loader's default path: dlopen finds them only through the ld.so.cache
    that the hook's ldconfig wrote."""
    b = gpu_bundle(["sh", "-c", f"{PROBE}; ldconfig -p | grep cuda"], ["NVIDIA_VISIBLE_DEVICES=0"], rootfs="rpm")
    out = ok(rt, b, cid)
    assert "libcuda: /usr/lib64/libcuda.so.1" in out and "cuDriverGetVersion: 12040" in out, out
    assert "libcuda.so.1 (libc6,x86-64) => /usr/lib64/libcuda.so.1" in out, out


CAPS = {
    "utility": ({"utility"}, {"nvidia-smi"}),
    "compute": ({"compute"}, {"nvidia-cuda-mps-control"}),
    "video": ({"video", "compute"}, set()),     # compute's libraries, not its binaries (options.h)
    "graphics": ({"graphics"}, set()),
    "display": ({"graphics"}, set()),
    "ngx": ({"ngx"}, set()),
    "compute,utility": ({"compute", "utility"}, {"nvidia-smi", "nvidia-cuda-mps-control"}),
    "all": ({"utility", "compute", "video", "graphics", "ngx"}, {"nvidia-smi", "nvidia-cuda-mps-control"}),
}


@pytest.mark.parametrize("caps", list(CAPS))
def test_each_capability_brings_its_libraries_and_no_others(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                                            fake: fake_nvidia.FakeDriver, caps: str) -> None:
    groups, bins = CAPS[caps]
    script = f"ls {LIBDIR}; echo BINS; ls /usr/bin | grep nv; echo DEV; ls /dev"
    out = ok(rt, gpu_bundle(["sh", "-c", script], ["NVIDIA_VISIBLE_DEVICES=0",
                                                   f"NVIDIA_DRIVER_CAPABILITIES={caps}"]), cid)
    libs_part, rest = out.split("BINS\n")
    bins_part, dev_part = rest.split("DEV\n")
    files = {f for f in libs_part.split() if ".so." in f and f.endswith(fake.version)}
    assert files == fake.libs(*groups), out
    assert set(bins_part.split()) == bins, out
    assert ("nvidia-modeset" in dev_part.split()) == (caps in ("display", "all")), out
    assert ("nvidia-uvm" in dev_part.split()) == bool(groups & {"compute"}), out


def test_default_capabilities_are_utility_and_compute(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                                      fake: fake_nvidia.FakeDriver) -> None:
    out = ok(rt, gpu_bundle(["ls", LIBDIR], ["NVIDIA_VISIBLE_DEVICES=0"]), cid)
    assert {f for f in out.split() if f.endswith(fake.version)} == fake.libs("utility", "compute")


# ---------------------------------------------------------------- requirements

@pytest.mark.parametrize("env", [
    ["NVIDIA_REQUIRE_CUDA=cuda>=12.0 brand=tesla"],
    ["NVIDIA_REQUIRE_CUDA=cuda>=13.0 driver>=550,arch>=8.0"],    # the second alternative holds
    ["NVIDIA_REQUIRE_ARCH=arch>=7.5,brand=Tesla"],
    ["CUDA_VERSION=12.2.0"],                                    # legacy image: cuda>=12.2, all GPUs
    ["NVIDIA_REQUIRE_CUDA=cuda>=99.0", "NVIDIA_DISABLE_REQUIRE=true"],
])
def test_requirements_met(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle, env: list[str]) -> None:
    visible = [] if env == ["CUDA_VERSION=12.2.0"] else ["NVIDIA_VISIBLE_DEVICES=0"]
    out = ok(rt, gpu_bundle(["ls", "/dev"], visible + env), cid)
    assert "nvidiactl" in out


# ---------------------------------------------------------------- errors: clear, and nothing left

ERRORS: dict[str, tuple[list[str], str]] = {
    "unknown-index": (["NVIDIA_VISIBLE_DEVICES=0,7"], "NVIDIA_VISIBLE_DEVICES: '7': unknown device"),
    "unknown-uuid": (["NVIDIA_VISIBLE_DEVICES=GPU-deadbeef"], "'GPU-deadbeef': unknown device"),
    "garbage": (["NVIDIA_VISIBLE_DEVICES=gpu0"], "NVIDIA_VISIBLE_DEVICES: 'gpu0': unknown device"),
    "mig": (["NVIDIA_VISIBLE_DEVICES=0:1"], "'0:1': MIG devices are not supported"),
    "capability": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=compute,gaming"],
                   "unknown driver capability 'gaming'"),
    "cuda": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=12.6"],
             "NVIDIA_REQUIRE_CUDA: unsatisfied condition: cuda>=12.6, please update your driver"),
    "legacy-cuda": (["CUDA_VERSION=12.6.1"], "CUDA_VERSION: unsatisfied condition: cuda>=12.6"),
    "arch": (["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_REQUIRE_ARCH=arch>=9.0"],
             "NVIDIA_REQUIRE_ARCH: unsatisfied condition: arch>=9.0"),
    "brand": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_BRAND=brand=geforce"],
              "unsatisfied condition: brand=geforce"),
    "driver": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_DRIVER=driver>=560"], "driver>=560"),
    "bad-expression": (["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_X=cuda~12"], "invalid requirement"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_errors_are_clear_and_leave_nothing(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                            case: str) -> None:
    env, want = ERRORS[case]
    b = gpu_bundle(["true"], env)
    before = tree(b / "rootfs")
    mounts_before = mounts_mentioning(b)
    p = run(runtime, b, cid)
    assert p.returncode != 0 and want in p.stderr, describe(p)
    assert_nothing_left(runtime, cid, b, mounts_before)
    assert tree(b / "rootfs") == before


def test_error_midway_undoes_every_mount_and_file(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle) -> None:
    """/usr/bin is a file in this rootfs: the libraries are mounted, then the
    mount point for the first binary cannot be made; everything done is undone."""
    def usr_bin_file(cfg: dict[str, Any]) -> None:
        cfg["root"]["readonly"] = False

    b = gpu_bundle(["true"], ["NVIDIA_VISIBLE_DEVICES=0"], mutate=usr_bin_file)
    shutil.rmtree(b / "rootfs" / "usr" / "bin")
    (b / "rootfs" / "usr" / "bin").write_text("not a directory\n")
    before = tree(b / "rootfs")
    mounts_before = mounts_mentioning(b)
    p = run(runtime, b, cid)
    assert p.returncode != 0 and "/usr/bin in the rootfs (for /usr/bin/nvidia-" in p.stderr, describe(p)
    assert_nothing_left(runtime, cid, b, mounts_before)
    assert tree(b / "rootfs") == before


def test_missing_driver_root_is_named(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle, tmp_path: Path) -> None:
    hooks = {"prestart": [{"path": HOOK, "args": ["pyruntime-nvidia-hook", "--driver-root",
                                                  str(tmp_path / "nowhere"), "prestart"]}]}
    b = gpu_bundle(["true"], ["NVIDIA_VISIBLE_DEVICES=0"], hooks=hooks)
    p = run(rt, b, cid)
    assert p.returncode != 0 and f"driver root {tmp_path / 'nowhere'}: not a directory" in p.stderr, describe(p)


# ---------------------------------------------------------------- /proc/driver/nvidia, repeat runs

@pytest.fixture
def loaded_driver_hook(tmp_path: Path, fake: fake_nvidia.FakeDriver) -> dict[str, Any]:
    """A prestart hook that makes the container look like one on a host
    with the driver loaded: a tmpfs on /proc/driver holding a copy of the
    fake root's /proc/driver/nvidia (params with ModifyDeviceFiles: 1, both
    GPUs' directories)."""
    script = tmp_path / "loaded-driver.sh"
    script.write_text(
        "#!/bin/sh\nset -e\n"
        "pid=$(sed 's/.*\"pid\": *\\([0-9]*\\).*/\\1/')\n"
        "rootfs=$(pwd)/rootfs\n"
        f"exec nsenter --mount=/proc/$pid/ns/mnt sh -c \"mount -t tmpfs tmpfs $rootfs/proc/driver && "
        f"cp -a {fake.root}/proc/driver/nvidia $rootfs/proc/driver/\"\n")
    script.chmod(0o755)
    return {"path": str(script)}


def test_proc_driver_nvidia_is_covered(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                       fake: fake_nvidia.FakeDriver, loaded_driver_hook: dict[str, Any]) -> None:
    b = gpu_bundle(["sh", "-c", "cat /proc/driver/nvidia/params; ls /proc/driver/nvidia/gpus; "
                                "cat /proc/driver/nvidia/gpus/*/information; touch /proc/driver/nvidia/x"],
                   ["NVIDIA_VISIBLE_DEVICES=1"], hooks={"prestart": [loaded_driver_hook, hook_entry(fake)]})
    p = run(runtime, b, cid)
    assert "ModifyDeviceFiles: 0" in p.stdout and "ModifyDeviceFiles: 1" not in p.stdout, describe(p)
    assert p.stdout.count("Bus Location") == 1 and fake.busids[1] in p.stdout, describe(p)
    assert fake.busids[0] not in p.stdout.split("Bus Location")[0], describe(p)
    assert p.returncode != 0 and "Read-only file system" in p.stderr, describe(p)


def test_second_run_of_the_hook_changes_nothing(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                                fake: fake_nvidia.FakeDriver) -> None:
    """Docker's --gpus hook after a hooks.d one: the second sees the devices
    mounted and does nothing."""
    hooks = {"prestart": [hook_entry(fake)], "createRuntime": [hook_entry(fake, stage="createRuntime")]}
    out = ok(rt, gpu_bundle(["sh", "-c", f"{PROBE} /dev/nvidia1; grep -c nvidia /proc/self/mountinfo"],
                            ["NVIDIA_VISIBLE_DEVICES=0"], hooks=hooks), cid)
    assert "open /dev/nvidia1: ENXIO" in out, out
    assert out.split()[-1] == str(len(fake.libs("utility", "compute")) + 2 + 1 + 4), out


# ---------------------------------------------------------------- cgroup v2: the BPF device program

def test_cgroup_v2_device_program_is_extended(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                              fake: fake_nvidia.FakeDriver, tmp_path: Path) -> None:
    """With a cgroup namespace pyruntime puts the container in a cgroup2
    cgroup of its own too (at its v1 path). A first hook attaches a device
    program there (deny all but runc's defaults), as the runtime itself does
    on a cgroup2 host; the NVIDIA hook extends it with the selected GPU. The
    unselected GPU's node, allowed by the v1 list of the config, is refused
    by the program: EPERM; the selected one is let through: ENXIO."""
    if rt.name == "runc":
        pytest.skip("relies on pyruntime joining a cgroup2 cgroup of its own on a hybrid host")
    if not any(" - cgroup2 " in line for line in Path("/proc/self/mountinfo").read_text().splitlines()):
        pytest.skip("no cgroup2 hierarchy")
    helper = tmp_path / "v2-devices.py"
    helper.write_text(
        "import json, os, sys\n"
        "from hooks.nvidia.devcgroup import cgroup_dirs\n"
        "from pyruntime.cgroups import ebpf\n"
        "from pyruntime.cgroups.devices import DEFAULT_ALLOWED\n"
        "pid = json.load(sys.stdin)['pid']\n"
        "v1, v2 = cgroup_dirs(pid)\n"
        "assert v2, 'no cgroup2 cgroup of its own'\n"
        "ebpf.set_device_filter(v2, [{'allow': False, 'access': 'rwm'}], DEFAULT_ALLOWED)\n")

    def mutate(cfg: dict[str, Any]) -> None:
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
        cfg["linux"]["devices"] = [{"path": "/dev/other-gpu", "type": "c", "major": 195,
                                    "minor": fake.minor(1)}]
        cfg["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 195,
                                                     "minor": fake.minor(1), "access": "rw"})

    hooks = {"prestart": [{"path": sys.executable, "args": ["python", str(helper)],
                           "env": [f"PYTHONPATH={Path(__file__).parents[2]}"]}, hook_entry(fake)]}
    b = gpu_bundle([PROBE, f"/dev/nvidia{fake.minor(0)}", "/dev/other-gpu", "/dev/null"],
                   ["NVIDIA_VISIBLE_DEVICES=0"], hooks=hooks, mutate=mutate)
    out = ok(rt, b, cid)
    assert f"open /dev/nvidia{fake.minor(0)}: ENXIO" in out, out
    assert "open /dev/other-gpu: EPERM" in out and "open /dev/null: ok" in out, out


# ---------------------------------------------------------------- CDI and hooks.d

@pytest.fixture
def cdi_dir(tmp_path: Path, fake: fake_nvidia.FakeDriver) -> Path:
    d = tmp_path / "cdi"
    d.mkdir()
    p = subprocess.run([HOOK, "cdi", "generate", "--driver-root", str(fake.root), "--output",
                        str(d / "nvidia.yaml")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, describe(p)
    return d


def test_cdi_generate_spec(cdi_dir: Path, fake: fake_nvidia.FakeDriver) -> None:
    import yaml

    spec = yaml.safe_load((cdi_dir / "nvidia.yaml").read_text())
    assert spec["kind"] == "nvidia.com/gpu"
    names = [d["name"] for d in spec["devices"]]
    assert names == ["0", fake.uuids[0], "1", fake.uuids[1], "all"]
    assert spec["devices"][0]["containerEdits"]["deviceNodes"] == [
        {"path": f"/dev/nvidia{fake.minor(0)}", "hostPath": f"{fake.root}/dev/nvidia{fake.minor(0)}"}]
    mounted = {Path(m["containerPath"]).name for m in spec["containerEdits"]["mounts"]}
    assert fake.libs("utility", "compute", "video", "graphics", "ngx") <= mounted
    assert [h["args"][2] for h in spec["containerEdits"]["hooks"]] == [
        "create-symlinks", "update-ldcache", "disable-device-node-modification"]


def test_cdi_annotation_brings_the_device(runtime: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                          cdi_dir: Path, fake: fake_nvidia.FakeDriver) -> None:
    if runtime.name == "runc":
        pytest.skip("CDI annotations are applied by pyruntime (runc leaves CDI to the engine)")

    def annotate(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"cdi.k8s.io/gpu": "nvidia.com/gpu=1"}

    b = gpu_bundle(["sh", "-c", f"ls /dev | grep nvidia; {PROBE} /dev/nvidia{fake.minor(1)}; ldconfig -p | "
                                "grep cuda; echo $NVIDIA_VISIBLE_DEVICES"], hooks={}, mutate=annotate)
    out = ok(runtime, b, cid, env={**os.environ, "PYRUNTIME_CDI_SPEC_DIRS": str(cdi_dir)})
    devs = out.split("libcuda")[0].split()
    assert {d for d in devs if d.startswith("nvidia")} == {
        "nvidiactl", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", f"nvidia{fake.minor(1)}"}, out
    assert f"open /dev/nvidia{fake.minor(1)}: ENXIO" in out and "cuDriverGetVersion: 12040" in out, out
    assert f"libcuda.so.1 (libc6,x86-64) => {LIBDIR}/libcuda.so.1" in out and out.split()[-1] == "void", out


def test_cdi_unknown_device_is_an_error(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle, cdi_dir: Path) -> None:
    if rt.name == "runc":
        pytest.skip("CDI annotations are pyruntime's (RUNTIME=runc)")
    def annotate(cfg: dict[str, Any]) -> None:
        cfg["annotations"] = {"cdi.k8s.io/gpu": "nvidia.com/gpu=7"}

    b = gpu_bundle(["true"], hooks={}, mutate=annotate)
    mounts_before = mounts_mentioning(b)
    p = run(rt, b, cid, env={**os.environ, "PYRUNTIME_CDI_SPEC_DIRS": str(cdi_dir)})
    assert p.returncode != 0 and "unresolvable CDI device nvidia.com/gpu=7" in p.stderr, describe(p)
    assert_nothing_left(rt, cid, b, mounts_before)


def test_hooks_d_drop_in_runs_the_hook(rt: Runtime, cid: str, gpu_bundle: MakeGpuBundle,
                                       fake: fake_nvidia.FakeDriver, tmp_path: Path) -> None:
    if rt.name == "runc":
        pytest.skip("hooks.d drop-ins are pyruntime's (RUNTIME=runc)")
    d = tmp_path / "hooks.d"
    d.mkdir()
    (d / "oci-nvidia-hook.json").write_text(json.dumps({
        "version": "1.0.0", "hook": hook_entry(fake), "when": {"always": True}, "stages": ["prestart"]}))
    b = gpu_bundle([PROBE, "/dev/nvidia1"], ["NVIDIA_VISIBLE_DEVICES=0"], hooks={})
    out = ok(rt, b, cid, env={**os.environ, "PYRUNTIME_HOOKS_DIR": str(d)})
    assert "open /dev/nvidia1: ENXIO" in out and "nv_fake_version" in out, out

