"""Kubernetes' way in: containerd's CRI plugin with pyruntime as a runtime
handler (what a RuntimeClass's `handler` names), spoken to over CRI v1 gRPC
the way the kubelet does, once with the handler "runc" and once with
"pyruntime" in the same test, which must observe the same results.

The containerd is the test's own (cri_lab.py: CRI plugin on, private
root/state/socket/netns, both handlers declared as io.containerd.runc.v2 with
BinaryName and Root options, a locally built pause image as sandbox_image).
The pods use the node's network (NamespaceMode NODE; no CNI is called) and a
cgroup parent of the test's own, so cleaning up touches only what it made.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.clients.cri_client import Cri, generate_stubs, missing_grpc
from tests.clients.cri_lab import BUSYBOX_IMAGE, CRI_NAMESPACE, PAUSE_IMAGE, CriContainerd, missing_tools
from tests.clients.lab import cgroup_roots, wait_for
from tests.conftest import find_runtime

HANDLERS = ("runc", "pyruntime")
# A CRI log line: "<RFC 3339 nano time> <stream> <P|F tag> <message>"
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF]) (.*)$")


class Node(NamedTuple):
    lab: CriContainerd
    cri: Cri


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if os.geteuid() != 0:
        pytest.skip("needs root: containerd and its shims run as root")
    missing = missing_tools() + missing_grpc()
    if missing:
        reason = "the CRI test needs: " + ", ".join(missing)
        print(reason)
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("cri")
    stubs = generate_stubs(work / "stubs")
    lab = CriContainerd(find_runtime())
    # A killed run (timeout sends TERM) would skip the teardown and leave
    # containerd running: make TERM an interrupt, which pytest tears down after.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    cri: Cri | None = None
    try:
        lab.start()
        lab.import_images(work / "images")
        cri = Cri(lab.sock, stubs)
        # the CRI plugin learns of imported images from containerd's events
        wait_for(lambda: cri is not None and cri.image_present(PAUSE_IMAGE) and cri.image_present(BUSYBOX_IMAGE),
                 20, "the CRI plugin to see the imported images")
        yield Node(lab, cri)
    finally:
        if cri is not None:
            try:
                cri.remove_everything()
            except Exception as e:  # noqa: BLE001 - close() still cleans up by hand
                print(f"CRI cleanup failed: {e}")
            cri.close()
        lab.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def both(scenario: Callable[[str], Any]) -> Any:
    seen = {handler: scenario(handler) for handler in HANDLERS}
    assert seen["pyruntime"] == seen["runc"], f"runc and pyruntime differ: {seen}"
    return seen["pyruntime"]


def test_runtime_status_and_images(node: Node) -> None:
    """What the kubelet asks first: the API version, that the runtime is
    ready (the network is not: no CNI config, which host-network pods never
    need), and that the images are there."""
    cri = node.cri
    version = cri.version()
    assert (version.runtime_name, version.runtime_api_version) == ("containerd", "v1")
    conditions = {c.type: c.status for c in cri.call("Status").status.conditions}
    assert conditions == {"RuntimeReady": True, "NetworkReady": False}
    tags = {tag for image in cri.image_call("ListImages").images for tag in image.repo_tags}
    assert {PAUSE_IMAGE, BUSYBOX_IMAGE} <= tags


def test_pod_lifecycle(node: Node) -> None:
    """RunPodSandbox with the handler; a one-shot container (exit code, CRI
    log file); a long-running one (ExecSync, then StopContainer: `sleep` as
    PID 1 ignores TERM, so the grace period runs out and it is KILLed, 137);
    RemoveContainer, StopPodSandbox, RemovePodSandbox; nothing left."""
    lab, cri = node
    pb = cri.pb
    ns = pb.NamespaceOption(network=pb.NODE, pid=pb.CONTAINER, ipc=pb.POD)  # the kubelet's for hostNetwork pods

    def container_config(name: str, command: list[str]) -> Any:
        return pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0), image=pb.ImageSpec(image=BUSYBOX_IMAGE),
            command=command, log_path=f"{name}/0.log",
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(namespace_options=ns)))

    def scenario(handler: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        log_dir = lab.log_root / handler
        runtime_state = lab.runtime_root(handler) / CRI_NAMESPACE
        pod_config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=f"pod-{handler}", uid=uuid.uuid4().hex, namespace="pyrt", attempt=0),
            log_directory=str(log_dir), labels={"test": "cri"},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=lab.cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(namespace_options=ns)))
        sid = cri.call("RunPodSandbox", config=pod_config, runtime_handler=handler).pod_sandbox_id
        ids = [sid]
        try:
            status = cri.call("PodSandboxStatus", pod_sandbox_id=sid, verbose=True)
            info = json.loads(status.info["info"])
            seen["pod"] = (pb.PodSandboxState.Name(status.status.state), status.status.runtime_handler == handler,
                           info["runtimeType"], info["runtimeOptions"].get("binary_name") == lab.runtimes[handler])
            seen["pause"] = process_view(info["pid"], "/pause", lab.cgroup_parent, sid)
            seen["pause_state_dir"] = sorted(p.name for p in runtime_state.iterdir()) == [sid]

            # ------------------------------------------------ one-shot: exit code and log
            hello = cri.call("CreateContainer", pod_sandbox_id=sid, sandbox_config=pod_config,
                             config=container_config("hello", ["sh", "-c", "echo hello-cri; hostname; exit 3"]),
                             ).container_id
            ids.append(hello)
            cri.call("StartContainer", container_id=hello)
            wait_for(lambda: cri.container_state(hello) == pb.CONTAINER_EXITED, 30, f"{hello} to exit")
            st = cri.call("ContainerStatus", container_id=hello).status
            seen["hello"] = (pb.ContainerState.Name(st.state), st.exit_code, st.reason, st.finished_at > 0,
                             st.log_path == str(log_dir / "hello/0.log"))
            seen["hello_log"] = cri_log(log_dir / "hello/0.log")

            # ------------------------------------------------ long-running: exec, stop
            sleeper = cri.call("CreateContainer", pod_sandbox_id=sid, sandbox_config=pod_config,
                               config=container_config("sleeper", ["sleep", "1000"])).container_id
            ids.append(sleeper)
            cri.call("StartContainer", container_id=sleeper)
            status = cri.call("ContainerStatus", container_id=sleeper, verbose=True)
            info = json.loads(status.info["info"])
            seen["sleeper_running"] = pb.ContainerState.Name(status.status.state)
            seen["sleeper"] = process_view(info["pid"], "sleep 1000", lab.cgroup_parent, sleeper)
            unified = unified_cgroup(info["pid"])
            print(f"{handler}: the sleeper's cgroup2 (hybrid) path: {unified}")
            # the handler's runtime keeps its state under the handler's Root
            seen["state_dirs"] = sorted(p.name for p in runtime_state.iterdir()) == sorted([sid, sleeper])
            listed = cri.call("ListContainers", filter=pb.ContainerFilter(pod_sandbox_id=sid)).containers
            seen["listed"] = sorted((c.metadata.name, pb.ContainerState.Name(c.state)) for c in listed)
            ex = cri.call("ExecSync", container_id=sleeper, timeout=20,
                          cmd=["sh", "-c", "echo out; echo err >&2; cat /proc/1/cmdline | tr '\\0' ' '; exit 4"])
            seen["exec"] = (ex.stdout, ex.stderr, ex.exit_code)
            t0 = time.monotonic()
            cri.call("StopContainer", container_id=sleeper, timeout=2)
            seen["stop_waited_grace"] = time.monotonic() - t0 >= 1.9
            st = cri.call("ContainerStatus", container_id=sleeper).status
            seen["sleeper_stopped"] = (pb.ContainerState.Name(st.state), st.exit_code, st.reason)
            seen["sleeper_log"] = cri_log(log_dir / "sleeper/0.log")

            # ------------------------------------------------ removal
            for cid in (hello, sleeper):
                cri.call("RemoveContainer", container_id=cid)
            cri.call("StopPodSandbox", pod_sandbox_id=sid)
            seen["pod_stopped"] = pb.PodSandboxState.Name(
                cri.call("PodSandboxStatus", pod_sandbox_id=sid).status.state)
            cri.call("RemovePodSandbox", pod_sandbox_id=sid)
            seen["pods_left"] = [p.id for p in cri.call("ListPodSandbox").items]
        except BaseException:
            print(lab.log.read_text()[-4000:])
            try:  # RemovePodSandbox removes its containers; the fixture's teardown also tries
                cri.call("StopPodSandbox", pod_sandbox_id=sid)
                cri.call("RemovePodSandbox", pod_sandbox_id=sid)
            except Exception as e:  # noqa: BLE001 - the original error matters more
                print(f"removing pod {sid}: {e}")
            raise
        try:
            wait_for(lambda: not any(lab.leftovers(i) for i in ids), 15, "the pod to leave nothing")
        except TimeoutError:
            pass
        seen["leftovers"] = [trace for i in ids for trace in lab.leftovers(i)]
        seen["runtime_state_left"] = sorted(p.name for p in runtime_state.iterdir())
        return seen

    seen = both(scenario)
    assert seen["pod"] == ("SANDBOX_READY", True, "io.containerd.runc.v2", True)
    assert seen["pause"] == ("/pause", "CGROUP_PARENT/ID", True)
    assert seen["pause_state_dir"] is True
    assert seen["hello"] == ("CONTAINER_EXITED", 3, "Error", True, True)
    assert seen["hello_log"] == [("stdout", "F", "hello-cri"), ("stdout", "F", socket.gethostname())]
    assert seen["sleeper_running"] == "CONTAINER_RUNNING"
    assert seen["sleeper"] == ("sleep 1000", "CGROUP_PARENT/ID", True)
    assert seen["state_dirs"] is True
    assert seen["listed"] == [("hello", "CONTAINER_EXITED"), ("sleeper", "CONTAINER_RUNNING")]
    assert seen["exec"] == (b"out\nsleep 1000 ", b"err\n", 4)
    assert seen["stop_waited_grace"] is True
    assert seen["sleeper_stopped"] == ("CONTAINER_EXITED", 137, "Error")
    assert seen["sleeper_log"] == []
    assert seen["pod_stopped"] == "SANDBOX_NOTREADY"
    assert seen["pods_left"] == []
    assert seen["leftovers"] == []
    assert seen["runtime_state_left"] == []


def process_view(pid: int, expect_cmd: str, cgroup_parent: str, ident: str) -> tuple[str, str, bool]:
    """A container process as the host sees it: its command line (once it is
    `expect_cmd`, or after 5 s), its v1
    cgroups (CGROUP_PARENT/ID when it is <cgroup_parent>/<id> in every mounted
    v1 hierarchy, name=systemd included), and whether it is PID 1 of its own
    PID namespace. The cgroup2 hierarchy of a hybrid host is left out: runc
    joins it, pyruntime joins it only when it needs it (cgroups/manager.py
    for_config), so there they differ on purpose; see unified_cgroup()."""
    def cmdline() -> str:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()

    # `runc start` returns once the init has been released, maybe before its
    # execve is done (meanwhile cmdline reads "runc init", or "" during execve)
    try:
        wait_for(lambda: cmdline() == expect_cmd, 5, f"pid {pid} to exec {expect_cmd}", interval=0.02)
    except TimeoutError:
        pass
    mounted = {root.name for root in cgroup_roots()}
    paths = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _hid, ctrls, path = line.split(":", 2)
        if ctrls and ctrls.removeprefix("name=") in mounted:
            paths[ctrls] = path
    want = f"{cgroup_parent}/{ident}"
    cgroup = "CGROUP_PARENT/ID" if paths and set(paths.values()) == {want} else repr(paths)
    nspid = next(line.split()[1:] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if line.startswith("NSpid:"))
    return cmdline(), cgroup, nspid[-1] == "1" and len(nspid) == 2


def unified_cgroup(pid: int) -> str | None:
    """The process's cgroup2 path (the `0::` line), or None."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def cri_log(path: Path) -> list[tuple[str, str, str]]:
    """The CRI log file's lines as (stream, tag, message), each checked to
    start with an RFC 3339 time."""
    out = []
    for line in path.read_text().splitlines():
        m = LOG_LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        out.append((m.group(2), m.group(3), m.group(4)))
    return out
