"""linux.rootfsPropagation with every value runc 1.1.5 takes (specconv
mountPropagationMapping: the four of the official schema and their
recursive forms; containerd 1.6 writes rshared/rslave for pods with
Bidirectional/HostToContainer mounts). Each value creates, and the
container's / has the propagation (the mounts below keep their own), as
read from /proc/self/mountinfo inside the container.

Side by side with runc (the `runc` fixture) in the same test. Where they
differ it is on purpose:
- shared/rshared: runc 1.1.5 applies the value only before pivot_root,
  where its rootfs bind is then made private, so the container's / ends up
  private; pyruntime applies it again to / after pivot_root, so / is
  shared; the mounts below keep the propagation their own options give
  them (private by default), as on runc.
- unbindable, runbindable: runc 1.1.5 fails (EINVAL binding the rootfs
  from an unbindable tree); pyruntime keeps the tree private until
  pivot_root, then makes / unbindable.
RUNTIME=/usr/sbin/runc runs the same tests with runc in both places.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.runc import is_runc

MakeBundle = Callable[..., Path]

VALUES = ["private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable"]


def kinds(mountinfo: str) -> dict[str, str]:
    """{mount point: shared | slave | unbindable | private} (the last mount at each point)."""
    out: dict[str, str] = {}
    for line in mountinfo.splitlines():
        pre, sep, _ = line.partition(" - ")
        f = pre.split()
        if not sep or len(f) < 6:
            continue
        opt = f[6:]
        k = ("shared" if any(o.startswith("shared:") for o in opt) else
             "slave" if any(o.startswith("master:") for o in opt) else
             "unbindable" if "unbindable" in opt else "private")
        out[f[4]] = k
    return out


def run(rt: Any, bundle: Path, cid: str) -> tuple[int, dict[str, str], str]:
    p = rt("run", "--bundle", str(bundle), cid, timeout=30)
    return p.returncode, kinds(p.stdout), p.stderr


@pytest.mark.parametrize("prop", VALUES)
def test_rootfs_propagation_value(rt: Any, runc: Any, cid: str, make_bundle: MakeBundle, prop: str) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["rootfsPropagation"] = prop

    b = make_bundle(["cat", "/proc/self/mountinfo"], mutate=mutate)
    rc, got, err = run(rt, b, cid)
    rrc, ref, rerr = run(runc, b, cid + "r")
    recursive = prop.startswith("r")
    base = prop[1:] if recursive else prop
    if base == "unbindable":
        assert rrc != 0, "runc 1.1.5 refuses unbindable roots"
        if is_runc(rt):
            assert rc != 0, got
            pytest.xfail(f"runc 1.1.5 fails rootfsPropagation {prop}: it makes / unbindable before it binds the "
                         "rootfs onto itself, and the kernel refuses a bind from an unbindable mount (EINVAL)")
        assert rc == 0, err
        assert got["/"] == "unbindable"
        return
    assert rc == 0, err
    assert rrc == 0, rerr
    assert {"/", "/proc", "/dev"} <= set(got)
    # slave of a private mount is private: the rootfs bind has no master
    if base in ("private", "slave"):
        assert got == ref
        assert set(got.values()) <= {"private"}, got
        return
    # shared
    assert ref["/"] == "private", "runc 1.1.5 leaves / private (not applied after pivot_root)"
    if is_runc(rt):
        assert got == ref
        pytest.xfail(f"runc 1.1.5 leaves / private for {prop}: it makes the rootfs's parent mount private "
                     "again (pivot_root refuses a shared parent) and does not apply it after pivot_root")
    assert got["/"] == "shared", got
    # the mounts below keep their own propagation, as on runc (a recursive
    # change after the mounts would overwrite a HostToContainer bind's rslave)
    assert {k: v for k, v in got.items() if k != "/"} == {k: v for k, v in ref.items() if k != "/"}, (got, ref)
