"""Fixtures for the client tests: one Lab (containerd + dockerd + Podman +
ctr, see lab.py) per session with the test images imported into each client,
and `Client`, the docker/podman command line that the scenarios share."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.clients import images
from tests.clients.client import BUSYBOX, CTR_BUSYBOX, CTR_SCRATCH, SCRATCH, Client, check
from tests.clients.lab import Lab, missing_tools
from tests.conftest import find_runtime


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the clients' daemons run as root")
    missing = missing_tools()
    if missing:
        pytest.skip("client tests need: " + ", ".join(missing))
    work = tmp_path_factory.mktemp("client-images")
    bb_tar = images.rootfs_tar(images.busybox_rootfs(work / "busybox", work), work / "busybox.tar")
    sc_tar = images.rootfs_tar(images.scratch_rootfs(work / "scratch", work), work / "scratch.tar")
    lab = Lab(find_runtime())
    # A killed run (timeout sends TERM) would skip the teardown and leave the
    # daemons running: make TERM an interrupt, which pytest tears down after.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        lab.start()
        for tar, name, cmd in ((bb_tar, BUSYBOX, '["/bin/sh"]'), (sc_tar, SCRATCH, '["/hello"]')):
            check(lab.docker("import", "-c", f"CMD {cmd}", str(tar), name))
            check(lab.podman("import", "--change", f"CMD {cmd}", str(tar), name))
        images.oci_archive(bb_tar, work / "busybox-oci.tar", CTR_BUSYBOX, ["/bin/sh"])
        images.oci_archive(sc_tar, work / "scratch-oci.tar", CTR_SCRATCH, ["/hello"])
        for archive in ("busybox-oci.tar", "scratch-oci.tar"):
            check(lab.ctr("images", "import", str(work / archive)))
        yield lab
    finally:
        lab.close()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(params=["docker", "podman"])
def client(request: pytest.FixtureRequest, lab: Lab) -> Client:
    return Client(request.param, lab)
