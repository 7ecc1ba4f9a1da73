"""runtime-linux.md "Dev symbolic links": /dev/fd, /dev/stdin, /dev/stdout and
/dev/stderr, made while creating the container (seen from the host in the
created container before `start`) and used from inside it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Runtime
from tests.integration.probes import create, must, remove_cgroups
from tests.support.isolation import describe

MakeBundle = Callable[..., Path]
LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
         "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2"}


@pytest.fixture(autouse=True)
def _no_leftover_cgroups(cid: str) -> Iterator[None]:
    yield
    remove_cgroups(cid)


@pytest.mark.spec("runtime-linux-devsymlinks-1")
def test_links_exist_after_create(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    must(create(rt, make_bundle(["sleep", "30"]), cid))
    root = f"/proc/{rt.state(cid)['pid']}/root"
    for link, target in LINKS.items():
        assert os.path.islink(root + link), link
        assert os.readlink(root + link) == target, link


@pytest.mark.spec("runtime-linux-devsymlinks-1")
def test_links_work_inside_the_container(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    script = ("for l in /dev/fd /dev/stdin /dev/stdout /dev/stderr; do echo \"$l=$(readlink $l)\"; done; "
              "echo to-stdout > /dev/stdout; echo to-stderr > /dev/stderr; ls /dev/fd/ | grep -qx 1 && echo fd1")
    bundle = make_bundle(["sh", "-c", script])
    p = rt("run", "--bundle", str(bundle), cid, timeout=30)
    assert p.returncode == 0, describe(p)
    out = p.stdout.split()
    for link, target in LINKS.items():
        assert f"{link}={target}" in out
    assert "to-stdout" in out and "fd1" in out
    assert "to-stderr" in p.stderr
