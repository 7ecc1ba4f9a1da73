"""Shared pytest fixtures: which runtime binary is under test, a private
--root per test, unique container ids, and bundles on a busybox rootfs.

RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundle import base_config, make_busybox_rootfs, write_bundle


def find_runtime() -> str:
    env = os.environ.get("RUNTIME")
    if env:
        return env
    beside = Path(sys.executable).parent / "pyruntime"
    if beside.exists():
        return str(beside)
    found = shutil.which("pyruntime")
    if not found:
        raise RuntimeError("pyruntime is not installed: pip install . (or set RUNTIME=)")
    return found


class Runtime:
    """One runtime binary bound to a private --root directory."""

    def __init__(self, path: str, root: Path) -> None:
        self.path = path
        self.root = root
        self.name = Path(path).name

    def cmd(self, *args: str) -> list[str]:
        return [self.path, "--root", str(self.root), *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60,
                 check: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
        kw.setdefault("stdin", subprocess.DEVNULL if input is None else None)
        p = subprocess.run(self.cmd(*args), input=input, capture_output=True, text=True,
                           timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"{args} failed rc={p.returncode}\nstdout={p.stdout}\nstderr={p.stderr}")
        return p

    def state(self, cid: str) -> dict[str, Any]:
        p = self("state", cid, check=True)
        state: dict[str, Any] = json.loads(p.stdout)
        return state

    def cleanup(self) -> None:
        """delete --force every container under this root, then remove the root."""
        if self.root.exists():
            for entry in self.root.iterdir():
                if entry.is_dir():
                    subprocess.run(self.cmd("delete", "--force", entry.name),
                                   capture_output=True, timeout=30)
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def runtime_path() -> str:
    return find_runtime()


@pytest.fixture
def rt(runtime_path: str) -> Iterator[Runtime]:
    if os.geteuid() != 0:
        pytest.skip("needs root: containers need namespaces, mounts and cgroups")
    root = Path("/run") / f"pyrt-test-{uuid.uuid4().hex[:12]}"
    r = Runtime(runtime_path, root)
    yield r
    r.cleanup()


@pytest.fixture
def runc() -> Iterator[Runtime]:
    """runc itself, for parity tests."""
    path = shutil.which("runc") or "/usr/sbin/runc"
    if not os.path.exists(path):
        pytest.skip("runc is not installed (apt-get install runc)")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = Runtime(path, Path("/run") / f"runc-test-{uuid.uuid4().hex[:12]}")
    yield r
    r.cleanup()


@pytest.fixture
def cid() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("rootfs-src") / "rootfs")


@pytest.fixture
def make_bundle(tmp_path: Path, busybox_rootfs: Path) -> Callable[..., Path]:
    """make_bundle(args, mutate=None, name="bundle") -> bundle dir.
    mutate(config) may edit the runc-spec config in place before it is written."""
    def make(args: list[str] | None = None, mutate: Callable[[dict[str, Any]], None] | None = None,
             name: str = "bundle") -> Path:
        cfg = base_config(args)
        if mutate is not None:
            mutate(cfg)
        return write_bundle(tmp_path / name, cfg, rootfs_src=busybox_rootfs)
    return make
