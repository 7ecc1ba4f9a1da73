"""A mount destination, or a symlink inside the rootfs, never leads outside
the rootfs: absolute and relative (`../..`) symlinks, `..` in destinations,
symlinked or non-directory /proc, mounts inside /proc, planted /dev nodes.
Each is refused or contained (inside the rootfs, as the container sees it).

RUNTIME=/usr/sbin/runc runs the same tests against runc.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.isolation import describe, run_ok

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


@pytest.fixture
def host_target() -> Iterator[Path]:
    """An empty directory on the host, outside every bundle: nothing may
    be mounted or written there."""
    d = Path("/tmp") / f"pyrt-escape-{uuid.uuid4().hex[:12]}"
    d.mkdir()
    yield d
    for p in sorted(d.rglob("*"), reverse=True):
        if p.is_dir() and not p.is_symlink():
            p.rmdir()
        else:
            p.unlink()
    d.rmdir()


def tmpfs_at(dest: str) -> Callable[[dict[str, Any]], None]:
    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]})
    return mutate


def run_fails(rt: Any, bundle: Path, cid: str, pyrt_msg: str) -> None:
    p = rt("run", "--bundle", str(bundle), cid)
    assert p.returncode != 0, describe(p)
    if rt.name == "pyruntime":
        assert pyrt_msg in p.stderr, describe(p)


WRITE = "echo pwned > {d}/pwned && grep -c ' {d} ' /proc/self/mountinfo"


# ---------------------------------------------------------------- symlinks and ..

def test_absolute_symlink_destination_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                   host_target: Path) -> None:
    b = make_bundle(sh(WRITE.format(d=host_target)), mutate=tmpfs_at("/escape"))
    (b / "rootfs" / "escape").symlink_to(str(host_target))
    out = run_ok(rt, b, cid)
    assert out.strip() == "1", out  # the tmpfs is at the link's target, inside the rootfs
    assert list(host_target.iterdir()) == []
    assert (b / "rootfs" / str(host_target).lstrip("/")).is_dir()


def test_relative_symlink_climbing_out_is_contained(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    host_target: Path) -> None:
    b = make_bundle(sh(WRITE.format(d=host_target / "x")), mutate=tmpfs_at("/a/escape/x"))
    (b / "rootfs" / "a").mkdir()
    (b / "rootfs" / "a" / "escape").symlink_to("../../../../../../../../.." + str(host_target))
    out = run_ok(rt, b, cid)
    assert out.strip() == "1", out
    assert list(host_target.iterdir()) == []
    assert (b / "rootfs" / str(host_target).lstrip("/") / "x").is_dir(), out


def test_dotdot_destination_is_contained(rt: Any, cid: str, make_bundle: MakeBundle, host_target: Path) -> None:
    dest = "/../../../../../.." + str(host_target)
    b = make_bundle(sh(WRITE.format(d=host_target)), mutate=tmpfs_at(dest))
    out = run_ok(rt, b, cid)
    assert out.strip() == "1", out
    assert list(host_target.iterdir()) == []


def test_bind_through_a_symlink_to_host_etc_stays_in_rootfs(rt: Any, cid: str, make_bundle: MakeBundle,
                                                           tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "pyrt-from-host").write_text("x\n")

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/etclink", "type": "bind", "source": str(src), "options": ["rbind"]})

    b = make_bundle(sh("ls /etc; grep -c ' /etc ' /proc/self/mountinfo"), mutate=mutate)
    (b / "rootfs" / "etclink").symlink_to("/etc")
    out = run_ok(rt, b, cid)
    assert out.split() == ["pyrt-from-host", "1"], out
    assert not Path("/etc/pyrt-from-host").exists()
    assert (b / "rootfs" / "etc" / "passwd").exists()  # covered only inside the container


def test_symlink_loop_destination_is_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"], mutate=tmpfs_at("/loop/x"))
    (b / "rootfs" / "loop").symlink_to("loop2")
    (b / "rootfs" / "loop2").symlink_to("loop")
    run_fails(rt, b, cid, "mounts[")


# ---------------------------------------------------------------- /proc

def test_proc_destination_symlink_is_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # runc: "mount through symlink"; mounting proc over what the link names is never done
    b = make_bundle(["true"])
    (b / "rootfs" / "proc").rmdir()
    (b / "rootfs" / "proc").symlink_to("/etc")
    run_fails(rt, b, cid, "mount through symlink")
    assert (b / "rootfs" / "etc" / "passwd").read_text().startswith("root:")


def test_proc_destination_file_is_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"])
    (b / "rootfs" / "proc").rmdir()
    (b / "rootfs" / "proc").write_text("")
    run_fails(rt, b, cid, "must be mounted on ordinary directory")


def test_sysfs_destination_symlink_is_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(["true"])
    (b / "rootfs" / "sys").rmdir()
    (b / "rootfs" / "sys").symlink_to("/tmp")
    run_fails(rt, b, cid, "mount through symlink")


def test_bind_inside_proc_is_refused(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    f = tmp_path / "core_pattern"
    f.write_text("|/evil\n")

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/proc/sys/kernel/core_pattern", "type": "bind",
                            "source": str(f), "options": ["bind"]})

    run_fails(rt, make_bundle(["true"], mutate=mutate), cid, "cannot be mounted because it is inside /proc")


def test_bind_of_a_lxcfs_style_proc_file_is_allowed(rt: Any, cid: str, make_bundle: MakeBundle,
                                                    tmp_path: Path) -> None:
    f = tmp_path / "uptime"
    f.write_text("12.00 34.00\n")

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/proc/uptime", "type": "bind", "source": str(f), "options": ["bind"]})

    assert run_ok(rt, make_bundle(["cat", "/proc/uptime"], mutate=mutate), cid) == "12.00 34.00\n"


def test_bind_over_proc_from_a_non_proc_source_is_refused(rt: Any, cid: str, make_bundle: MakeBundle,
                                                          tmp_path: Path) -> None:
    fake = tmp_path / "fakeproc"
    fake.mkdir()

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/proc"]
        c["mounts"].insert(0, {"destination": "/proc", "type": "bind", "source": str(fake), "options": ["rbind"]})

    run_fails(rt, make_bundle(["true"], mutate=mutate), cid, "not of type proc")


# ---------------------------------------------------------------- /dev

def _without_dev_tmpfs(c: dict[str, Any]) -> None:
    c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/dev"]


def test_planted_dev_null_symlink_is_refused(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    # /dev is the rootfs's own (no tmpfs): its null is a link to /etc/passwd, which must not
    # be taken for the null device (masking would bind passwd over /proc/kcore)
    b = make_bundle(["true"], mutate=_without_dev_tmpfs)
    (b / "rootfs" / "dev" / "null").symlink_to("/etc/passwd")
    run_fails(rt, b, cid, "/dev/null already exists in the rootfs and is not device 1:3")
    assert (b / "rootfs" / "etc" / "passwd").read_text().startswith("root:")


def test_planted_dev_ptmx_symlink_is_replaced(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(sh("readlink /dev/ptmx; head -c 5 /etc/passwd"), mutate=_without_dev_tmpfs)
    (b / "rootfs" / "dev" / "ptmx").symlink_to("/etc/passwd")
    out = run_ok(rt, b, cid)
    assert out == "pts/ptmx\nroot:", out
    assert (b / "rootfs" / "etc" / "passwd").read_text().startswith("root:")
