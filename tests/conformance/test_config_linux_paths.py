"""config-linux.md "Masked Paths" and "Readonly Paths": the values are
absolute paths in the container namespace. Each test names paths that exist
only in the container's rootfs (not on the host), so a runtime resolving them
anywhere but in the container cannot pass."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runtime
from tests.support.isolation import last_mount_at, parse_mountinfo, run_ok

MakeBundle = Callable[..., Path]


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


@pytest.mark.spec("config-linux-masked-paths-1")
def test_masked_paths_cannot_be_read(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    for p in ("/etc/pyrt-conf-secret", "/pyrt-conf-secret-dir"):
        assert not os.path.exists(p)
    kcore = os.path.exists("/proc/kcore")

    def mutate(c: dict[str, Any]) -> None:
        c["linux"]["maskedPaths"] = ["/etc/pyrt-conf-secret", "/pyrt-conf-secret-dir", "/proc/kcore"]

    script = ("cat /etc/pyrt-conf-secret | wc -c; ls -A /pyrt-conf-secret-dir | wc -l; "
              "cat /pyrt-conf-secret-dir/inner 2>&1; head -c 16 /proc/kcore 2>/dev/null | wc -c; "
              "cat /etc/hostname-not-masked")
    b = make_bundle(sh(script), mutate=mutate)
    root = b / "rootfs"
    (root / "etc" / "pyrt-conf-secret").write_text("secret-file\n")
    (root / "pyrt-conf-secret-dir").mkdir()
    (root / "pyrt-conf-secret-dir" / "inner").write_text("secret-inner\n")
    (root / "etc" / "hostname-not-masked").write_text("visible\n")
    out = run_ok(rt, b, cid)
    lines = out.strip().splitlines()
    assert lines[0] == "0", f"masked file readable: {out}"
    assert lines[1] == "0", f"masked directory lists entries: {out}"
    assert "secret-inner" not in out, out
    if kcore:
        assert lines[-2] == "0", f"/proc/kcore readable: {out}"
    assert lines[-1] == "visible", out
    # masking is over the path, the rootfs keeps its content
    assert (root / "etc" / "pyrt-conf-secret").read_text() == "secret-file\n"
    assert (root / "pyrt-conf-secret-dir" / "inner").read_text() == "secret-inner\n"


@pytest.mark.spec("config-linux-readonly-paths-1")
def test_readonly_paths_cannot_be_written(rt: Runtime, cid: str, make_bundle: MakeBundle) -> None:
    assert not os.path.exists("/pyrt-conf-ro")

    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        c["linux"]["readonlyPaths"] = ["/pyrt-conf-ro", "/proc/sys"]

    script = ("{ touch /pyrt-conf-ro/new; } 2>&1; cat /pyrt-conf-ro/old; touch /pyrt-conf-rw && echo rw-ok; "
              "{ echo x > /proc/sys/kernel/hostname; } 2>&1; cat /proc/self/mountinfo")
    b = make_bundle(sh(script), mutate=mutate)
    (b / "rootfs" / "pyrt-conf-ro").mkdir()
    (b / "rootfs" / "pyrt-conf-ro" / "old").write_text("readable\n")
    out = run_ok(rt, b, cid)
    lines = out.splitlines()
    assert "Read-only file system" in lines[0], out
    assert lines[1:3] == ["readable", "rw-ok"], out
    assert "Read-only file system" in lines[3], out
    mounts = parse_mountinfo("\n".join(lines[4:]))
    for point in ("/pyrt-conf-ro", "/proc/sys"):
        m = last_mount_at(mounts, point)
        assert m is not None and "ro" in m.options, f"{point}: {m}"
    assert not (b / "rootfs" / "pyrt-conf-ro" / "new").exists()
    assert (b / "rootfs" / "pyrt-conf-rw").exists()
