"""runtime.md "Lifecycle" step 2 and "Operations: Create": what `create`
applies before `start` (seen from the host in the waiting container process:
its namespaces, hostname, mounts, cgroup, sysctl), and that later edits of
config.json do not reach the container."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must, remove_cgroups, wait_status
from tests.support.isolation import last_mount_at, parse_mountinfo, proc_cgroups

MakeBundle = Callable[..., Path]


@pytest.fixture(autouse=True)
def _no_leftover_cgroups(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


def nsenter(pid: int, *args: str, ns: str = "--uts") -> str:
    p = subprocess.run(["nsenter", ns, "-t", str(pid), *args], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


@pytest.mark.spec("runtime-lifecycle-1", "runtime-lifecycle-3", "runtime-create-4")
def test_create_applies_the_config_before_start(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    def cfg_edit(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "conformance-host"
        cfg["linux"]["cgroupsPath"] = f"/{cid}"
        cfg["linux"]["sysctl"] = {"kernel.shmmni": "1234"}
        cfg["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                              "options": ["size=1m"]})

    bundle = make_bundle(["sleep", "30"], mutate=cfg_edit)
    must(create(rt, bundle, cid))
    pid = rt.state(cid)["pid"]
    # namespaces: every one the config asks for is new
    for kind in ("pid", "net", "ipc", "uts", "mnt"):
        assert os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert nsenter(pid, "hostname") == "conformance-host"
    assert nsenter(pid, "cat", "/proc/sys/kernel/shmmni", ns="--ipc") == "1234"
    # the rootfs (read-only) and the mounts, as the waiting process sees them
    mounts = parse_mountinfo(Path(f"/proc/{pid}/mountinfo").read_text())
    root = last_mount_at(mounts, "/")
    assert root is not None and "ro" in root.options
    for dest, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                         ("/dev/shm", "tmpfs"), ("/sys", "sysfs"), ("/scratch", "tmpfs")):
        m = last_mount_at(mounts, dest)
        assert m is not None and m.fstype == fstype, dest
    # the cgroup
    assert any(path.rstrip("/").endswith(f"/{cid}") for path in proc_cgroups(pid).values())
    # masked paths (a directory: an empty read-only tmpfs over it)
    assert os.listdir("/sys/firmware"), "the host's /sys/firmware has entries"
    assert os.listdir(f"/proc/{pid}/root/sys/firmware") == []
    assert rt.state(cid)["status"] == "created"


@pytest.mark.spec("runtime-lifecycle-5")
def test_config_edits_after_create_do_not_reach_the_container(rt: Runtime, cid: str, make_bundle: MakeBundle,
                                                              tmp_path: Path) -> None:
    def cfg_edit(cfg: dict[str, Any]) -> None:
        cfg["hostname"] = "before"
        cfg["process"]["env"].append("WHICH=before")

    bundle = make_bundle(["sh", "-c", 'echo "args=before env=$WHICH host=$(hostname)"'], mutate=cfg_edit)
    log = tmp_path / "stdout"
    must(create(rt, bundle, cid, stdout=log))
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["hostname"] = "after"
    cfg["process"]["args"] = ["sh", "-c", 'echo "args=after env=$WHICH host=$(hostname)"']
    cfg["process"]["env"] = [e.replace("WHICH=before", "WHICH=after") for e in cfg["process"]["env"]]
    (bundle / "config.json").write_text(json.dumps(cfg))
    must(rt("start", cid))
    wait_status(rt, cid, "stopped")
    assert log.read_text().strip() == "args=before env=before host=before"
