"""A CRI v1 client in Python: what the kubelet says to containerd's CRI
plugin (runtime.v1.RuntimeService and runtime.v1.ImageService, gRPC over
containerd's unix socket), for tests/clients/test_cri.py.

The stubs come from tests/clients/cri/api.proto, a subset of the upstream
k8s.io/cri-api v1 api.proto with its exact package, service, method names and
field numbers. They are generated at test time (grpc_tools.protoc) into a
temporary directory under the package name `pyrt_cri`, so nothing generated is
kept in the tree and the module names cannot collide with another `api_pb2`.

grpcio and grpcio-tools are the `test` extra's; `missing_grpc()` says which
is absent so the test can skip with a reason.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

PROTO_DIR = Path(__file__).parent / "cri"
PACKAGE = "pyrt_cri"  # the generated modules: pyrt_cri.api_pb2, pyrt_cri.api_pb2_grpc


def missing_grpc() -> list[str]:
    missing = []
    for mod, pkg in (("grpc", "grpcio"), ("grpc_tools.protoc", "grpcio-tools")):
        try:
            importlib.import_module(mod)
        except ImportError as e:
            missing.append(f"{mod} ({e}; pip install {pkg}, or pip install -e '.[test]')")
    return missing


def generate_stubs(out_dir: Path) -> tuple[ModuleType, ModuleType]:
    """protoc api.proto into out_dir/pyrt_cri/ and import it: returns
    (messages, services), i.e. api_pb2 and api_pb2_grpc."""
    out_dir.mkdir(parents=True, exist_ok=True)
    # -I PACKAGE=DIR maps the proto's import path to PACKAGE/api.proto, so the
    # generated api_pb2_grpc imports `from pyrt_cri import api_pb2`.
    p = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PACKAGE}={PROTO_DIR}",
                        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", f"{PACKAGE}/api.proto"],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError(f"grpc_tools.protoc failed rc={p.returncode}: {p.stderr}")
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))
    importlib.invalidate_caches()
    return importlib.import_module(f"{PACKAGE}.api_pb2"), importlib.import_module(f"{PACKAGE}.api_pb2_grpc")


class Cri:
    """The two CRI services on one channel. `pb` is the messages module;
    `rt` and `img` are the RuntimeService and ImageService stubs, whose
    methods take a request message and `timeout=` seconds."""

    def __init__(self, socket: Path, stubs: tuple[ModuleType, ModuleType], timeout: float = 60) -> None:
        grpc: Any = importlib.import_module("grpc")  # untyped; the test skips first when it is missing
        self.pb, services = stubs
        self.timeout = timeout
        self.channel: Any = grpc.insecure_channel(f"unix://{socket}")
        self.rt: Any = services.RuntimeServiceStub(self.channel)
        self.img: Any = services.ImageServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, deadline: float | None = None, **fields: Any) -> Any:
        """RuntimeService.<method>(<method>Request(**fields)), given `deadline`
        seconds (gRPC's timeout; `timeout=` is a field, e.g. StopContainer's)."""
        request = getattr(self.pb, f"{method}Request")(**fields)
        return getattr(self.rt, method)(request, timeout=deadline or self.timeout)

    def image_call(self, method: str, **fields: Any) -> Any:
        request = getattr(self.pb, f"{method}Request")(**fields)
        return getattr(self.img, method)(request, timeout=self.timeout)

    # ------------------------------------------------------------ shorthands

    def version(self) -> Any:
        return self.call("Version", version="v1")

    def image_present(self, ref: str) -> bool:
        return bool(self.image_call("ImageStatus", image=self.pb.ImageSpec(image=ref)).image.id)

    def container_state(self, cid: str) -> int:
        return int(self.call("ContainerStatus", container_id=cid).status.state)

    def remove_everything(self) -> None:
        """Stop and remove every pod (and so every container) this containerd
        knows: the teardown of a test that failed half-way (the containerd is
        private, so everything in it is the test's)."""
        for pod in self.call("ListPodSandbox").items:
            self.call("StopPodSandbox", pod_sandbox_id=pod.id)
            self.call("RemovePodSandbox", pod_sandbox_id=pod.id)
