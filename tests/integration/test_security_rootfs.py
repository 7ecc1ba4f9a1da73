"""Rootfs escapes beyond test_mount_security.py: /dev that is a symlink out
of the rootfs (absolute and relative), `..` in device paths, a mount
destination swapped between a directory and an escaping symlink while
`create` runs (a host process racing it), and a /proc that is not procfs
(a tmpfs, or none with planted /proc/self/fd links). Each is refused or
contained: the host directory the links point at stays empty, and nothing
runs before `start`.

RUNTIME=/usr/sbin/runc runs the same attacks against runc.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.probes import create, must
from tests.support.isolation import describe, run_ok
from tests.support.runc import is_runc
from tests.support.security import Observe, build_static

MakeBundle = Callable[..., Path]


@pytest.fixture
def host_target() -> Iterator[Path]:
    """An empty host directory outside every bundle: nothing may appear there."""
    d = Path("/tmp") / f"pyrt-escape-{uuid.uuid4().hex[:12]}"
    d.mkdir()
    yield d
    subprocess.run(["rm", "-rf", "--one-file-system", str(d)], check=False)


def _outcome(p: subprocess.CompletedProcess[str]) -> str:
    if p.returncode == 0:
        return "contained"
    return "refused: " + p.stderr.strip().split('msg="', 1)[-1].rstrip('"')[:110]


def _no_dev_tmpfs(c: dict[str, Any]) -> None:
    c["mounts"] = [m for m in c["mounts"] if m["destination"] not in ("/dev", "/dev/pts", "/dev/shm",
                                                                      "/dev/mqueue")]
    c["linux"]["devices"] = [{"path": "/dev/pyrt-null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}]


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_dev_symlinked_out_of_the_rootfs_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                      host_target: Path, kind: str,
                                                      record_property: Observe) -> None:
    """the rootfs's /dev is a symlink to a host directory (absolute, or ../../..): device nodes and links are made there"""
    b = make_bundle(["true"], mutate=_no_dev_tmpfs)
    dev = b / "rootfs" / "dev"
    dev.rmdir()
    dev.symlink_to(str(host_target) if kind == "absolute" else "../" * 12 + str(host_target).lstrip("/"))
    p = rt("run", "--bundle", str(b), cid)
    if is_runc(rt):
        made = {e.name: e for e in host_target.iterdir()}
        assert sorted(made) == ["fd", "ptmx", "stderr", "stdin", "stdout"], describe(p)
        assert all(e.is_symlink() for e in made.values()), made
        pytest.xfail("runc 1.1.5 makes /dev/fd, /dev/std{in,out,err} and /dev/ptmx (symlinks) through the "
                     "rootfs's /dev symlink on the host: its setupDevSymlinks and setupPtmx join the path with "
                     "filepath.Join, not securejoin as for the device nodes (which stay in the rootfs)")
    assert list(host_target.iterdir()) == [], f"made on the host: {list(host_target.iterdir())}; {describe(p)}"
    record_property("observed", _outcome(p) + " (the host directory stays empty)")


def test_dotdot_in_a_device_path_is_contained(rt: Any, cid: str, make_bundle: MakeBundle, host_target: Path,
                                              record_property: Observe) -> None:
    """linux.devices path /dev/../../../<host dir>/null: the node is made in the rootfs or refused"""
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["devices"] = [{"path": "/dev/../../../../.." + str(host_target) + "/null", "type": "c",
                                  "major": 1, "minor": 3, "fileMode": 0o666}]

    p = rt("run", "--bundle", str(make_bundle(["true"], mutate=mutate)), cid)
    assert list(host_target.iterdir()) == [], describe(p)
    record_property("observed", _outcome(p) + " (nothing on the host)")


def test_device_path_through_a_symlinked_directory_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                                host_target: Path,
                                                                record_property: Observe) -> None:
    """linux.devices path /dev/sub/null where the rootfs's /dev/sub links to a host directory"""
    def mutate(c: dict[str, Any]) -> None:
        _no_dev_tmpfs(c)
        c["linux"]["devices"] = [{"path": "/dev/sub/null", "type": "c", "major": 1, "minor": 3}]

    b = make_bundle(["true"], mutate=mutate)
    (b / "rootfs" / "dev" / "sub").symlink_to(str(host_target))
    p = rt("run", "--bundle", str(b), cid)
    assert list(host_target.iterdir()) == [], describe(p)
    record_property("observed", _outcome(p) + " (nothing on the host)")


# ---------------------------------------------------------------- a racing swap

ROUNDS = 15


@pytest.fixture(scope="module")
def swapper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_static("swapper", tmp_path_factory.mktemp("swapper"))


def test_mount_destination_swapped_during_create_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                              host_target: Path, swapper: Path, tmp_path: Path,
                                                              record_property: Observe) -> None:
    """a host process swaps a mount destination between a directory and a symlink to a host directory while create runs"""
    src = tmp_path / "src"
    src.mkdir()
    (src / "SRCMARK").write_text("x")

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/mnt/a", "type": "bind", "source": str(src), "options": ["rbind"]})

    b = make_bundle(["sh", "-c", "grep -rl SRCMARK /mnt /tmp 2>/dev/null | head -1"], mutate=mutate)
    mnt = b / "rootfs" / "mnt"
    mnt.mkdir(exist_ok=True)
    outcomes: dict[str, int] = {}
    for i in range(ROUNDS):
        for name in ("a", "b"):
            p = mnt / name
            if p.is_symlink() or p.is_file():
                p.unlink()
            elif p.is_dir():
                p.rmdir()
        (mnt / "a").mkdir()
        (mnt / "b").symlink_to(str(host_target))  # absolute: out of the rootfs if the kernel follows it
        racer = subprocess.Popen([str(swapper), str(mnt), "a", "b", "2"], stdout=subprocess.DEVNULL)
        try:
            p = create(rt, b, f"{cid}-{i}")
        finally:
            racer.kill()
            racer.wait()
        if p.returncode != 0:
            outcomes["refused"] = outcomes.get("refused", 0) + 1
            continue
        out = b / f"out-{i}"
        with open(out, "w") as f:
            must(subprocess.run(rt.cmd("start", f"{cid}-{i}"), stdout=f, stderr=f))
        rt("delete", "--force", f"{cid}-{i}")
        seen = out.read_text().strip()
        # the bind landed in the rootfs (at /mnt/a or /mnt/b, or where the link leads inside it)
        # or the start raced its output away; never on the host directory
        outcomes["contained"] = outcomes.get("contained", 0) + 1
        assert not seen or seen.endswith("SRCMARK"), seen
        assert list(host_target.iterdir()) == []
    assert list(host_target.iterdir()) == []
    record_property("observed", f"{ROUNDS} racing creates: {outcomes}; the host directory stays empty")


# ---------------------------------------------------------------- /proc that is not procfs

def test_tmpfs_as_proc_is_refused(rt: Any, cid: str, make_bundle: MakeBundle, record_property: Observe) -> None:
    """/proc mounted as a tmpfs (a /proc the container controls)"""
    def mutate(c: dict[str, Any]) -> None:
        for m in c["mounts"]:
            if m["destination"] == "/proc":
                m.update(type="tmpfs", source="tmpfs")

    p = rt("run", "--bundle", str(make_bundle(["echo", "ran"], mutate=mutate)), cid)
    assert p.returncode != 0 and "ran" not in p.stdout, describe(p)
    record_property("observed", _outcome(p))


def test_no_procfs_with_planted_fd_links_never_starts_early(rt: Any, cid: str, make_bundle: MakeBundle,
                                                           record_property: Observe) -> None:
    """no proc mount; the rootfs plants /proc/self/fd/N links to a file of its own (where the runtime would open its exec fifo)"""
    def mutate(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/proc"]
        c["linux"].pop("maskedPaths")
        c["linux"].pop("readonlyPaths")
        c["root"]["readonly"] = False

    b = make_bundle(["sh", "-c", "echo ran-before-start > /ran"], mutate=mutate)
    fd_dir = b / "rootfs" / "proc" / "self" / "fd"
    fd_dir.mkdir(parents=True)
    (b / "rootfs" / "fake-fifo").write_text("")
    for n in range(3, 64):
        (fd_dir / str(n)).symlink_to("/fake-fifo")
    p = create(rt, b, cid)
    try:
        ran = (b / "rootfs" / "ran").exists()
    finally:
        rt("delete", "--force", cid)
    assert not ran, "the container's program ran at create, before start"
    record_property("observed", _outcome(p) + "; the program did not run before start")


def test_proc_through_a_symlink_swapped_in_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                        host_target: Path, record_property: Observe) -> None:
    """/proc replaced by a relative symlink climbing out of the rootfs (../../<host dir>)"""
    b = make_bundle(["true"])
    (b / "rootfs" / "proc").rmdir()
    (b / "rootfs" / "proc").symlink_to("../" * 12 + str(host_target).lstrip("/"))
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
    assert list(host_target.iterdir()) == []
    record_property("observed", _outcome(p))


def test_control_a_plain_rootfs_runs(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    """control: the bundles above differ from a working one only by the attack"""
    assert run_ok(rt, make_bundle(["echo", "ok"]), cid) == "ok\n"
