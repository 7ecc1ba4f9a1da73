"""Root filesystem: pivot_root, root.readonly, the default mounts and /dev,
bind mounts, maskedPaths and readonlyPaths, --no-pivot (runtime-spec
config.md "Root", "Mounts"; config-linux.md "Default Filesystems",
"Default Devices", "Masked Paths", "Readonly Paths")."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundle import RUNC_SPEC
from tests.support.isolation import describe, last_mount_at, parse_mountinfo, run_ok

MakeBundle = Callable[..., Path]

ROOTFS_MARKER = "PYRT_ROOTFS_MARKER"


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


@pytest.fixture
def host_marker() -> Iterator[Path]:
    """A file in the host's /tmp that a container must not see."""
    p = Path("/tmp") / f"pyrt-host-marker-{uuid.uuid4().hex[:12]}"
    p.write_text("host\n")
    yield p
    p.unlink(missing_ok=True)


def _with_rootfs_marker(bundle: Path) -> Path:
    (bundle / "rootfs" / ROOTFS_MARKER).write_text("rootfs\n")
    return bundle


def _check_root_is_rootfs(out: str, host_marker: Path) -> None:
    lines = out.strip().splitlines()
    assert lines[0] == "rootfs", out
    assert lines[1] == "host-hidden", f"{host_marker} visible inside: {out}"


ROOT_PROBE = "cat /{m}; [ -e {h} ] && echo host-visible || echo host-hidden; cat /proc/self/mountinfo"


# ---------------------------------------------------------------- pivot_root

def test_host_files_not_visible(rt: Any, cid: str, make_bundle: MakeBundle, host_marker: Path) -> None:
    b = _with_rootfs_marker(make_bundle(sh(ROOT_PROBE.format(m=ROOTFS_MARKER, h=host_marker))))
    out = run_ok(rt, b, cid)
    _check_root_is_rootfs(out, host_marker)
    mounts = parse_mountinfo("\n".join(out.strip().splitlines()[2:]))
    points = {m.mount_point for m in mounts}
    # the old root is unmounted after pivot_root: only the rootfs and the configured mounts remain
    assert "/" in points
    assert not any(p.startswith(("/tmp/pytest-of", "/work", "/root", "/home")) for p in points), points


def test_no_pivot_rootfs_is_root(rt: Any, cid: str, make_bundle: MakeBundle, host_marker: Path) -> None:
    b = _with_rootfs_marker(make_bundle(sh(ROOT_PROBE.format(m=ROOTFS_MARKER, h=host_marker))))
    out = run_ok(rt, b, cid, "--no-pivot")
    _check_root_is_rootfs(out, host_marker)


# ---------------------------------------------------------------- root.readonly

def test_readonly_root(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    b = make_bundle(sh("{ touch /newfile && echo wrote || echo failed; } 2>&1; cat /proc/self/mountinfo"))
    out = run_ok(rt, b, cid)
    first, _, rest = out.partition("\n")
    assert "Read-only file system" in first and "failed" in rest.splitlines()[0], out
    root = last_mount_at(parse_mountinfo(rest.split("\n", 1)[1]), "/")
    assert root is not None and "ro" in root.options, out
    assert not (b / "rootfs" / "newfile").exists()


def test_writable_root(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False

    b = make_bundle(sh("echo inside > /newfile && echo wrote || echo failed"), mutate=mutate)
    out = run_ok(rt, b, cid)
    assert out.strip() == "wrote", out
    assert (b / "rootfs" / "newfile").read_text() == "inside\n"


# ---------------------------------------------------------------- default mounts

def test_default_filesystems(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"]), cid)
    mounts = parse_mountinfo(out)
    expected = {"/proc": "proc", "/sys": "sysfs", "/dev": "tmpfs", "/dev/pts": "devpts",
                "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue"}
    for point, fstype in expected.items():
        m = last_mount_at(mounts, point)
        assert m is not None, f"{point} not mounted:\n{out}"
        assert m.fstype == fstype, f"{point} is {m.fstype}, not {fstype}"
    sys_mount = last_mount_at(mounts, "/sys")
    assert sys_mount is not None and "ro" in sys_mount.options, out


def test_sys_is_read_only(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(sh("{ echo x > /sys/kernel/pyrt; } 2>&1 || true; "
                                    "stat -f -c %T /proc; stat -f -c %T /sys")), cid)
    assert "Read-only file system" in out, out
    assert out.strip().splitlines()[-2:] == ["proc", "sysfs"], out


DEFAULT_CHAR_DEVICES = {
    "null": (1, 3), "zero": (1, 5), "full": (1, 7), "tty": (5, 0), "random": (1, 8), "urandom": (1, 9),
}
DEFAULT_SYMLINKS = {
    "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx",
}


def _list_dev(rt: Any, cid: str, make_bundle: MakeBundle) -> dict[str, tuple[str, str]]:
    """{name: (kind, detail)} for /dev/*: kind is char|link|dir|other; detail
    is 'major:minor' (decimal) for char devices, the target for links."""
    script = ('for f in /dev/* /dev/.[!.]*; do [ -e "$f" ] || [ -L "$f" ] || continue; '
              'if [ -L "$f" ]; then echo "link $f $(readlink "$f")"; '
              'elif [ -c "$f" ]; then echo "char $f $(stat -c %t:%T "$f")"; '
              'elif [ -d "$f" ]; then echo "dir $f -"; else echo "other $f -"; fi; done')
    out = run_ok(rt, make_bundle(sh(script)), cid)
    entries: dict[str, tuple[str, str]] = {}
    for line in out.strip().splitlines():
        kind, path, detail = line.split(" ", 2)
        if kind == "char":
            major, minor = (int(x, 16) for x in detail.split(":"))
            detail = f"{major}:{minor}"
        entries[path.removeprefix("/dev/")] = (kind, detail)
    return entries


def test_dev_default_devices(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    entries = _list_dev(rt, cid, make_bundle)
    chars = {n: d for n, (k, d) in entries.items() if k == "char"}
    assert chars == {n: f"{a}:{b}" for n, (a, b) in DEFAULT_CHAR_DEVICES.items()}, entries
    assert not any(k == "other" for k, _ in entries.values()), entries


def test_dev_default_symlinks(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    entries = _list_dev(rt, cid, make_bundle)
    links = {n: d for n, (k, d) in entries.items() if k == "link"}
    assert links == DEFAULT_SYMLINKS, entries
    dirs = {n for n, (k, _) in entries.items() if k == "dir"}
    assert {"pts", "shm", "mqueue"} <= dirs, entries


def test_dev_devices_usable(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    script = ("echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; "
              "head -c 8 /dev/urandom | wc -c; echo x > /dev/full || echo full-enospc")
    out = run_ok(rt, make_bundle(sh(script + " 2>&1")), cid)
    lines = [line.strip() for line in out.strip().splitlines()]
    assert lines[0] == "null-ok", out
    assert lines[1] == "00 00 00 00", out
    assert lines[2] == "8", out
    assert "full-enospc" in lines, out


# ---------------------------------------------------------------- bind mounts

def test_bind_mount_both_ways(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("hello from host\n")

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/data", "type": "bind", "source": str(host_dir),
                            "options": ["rbind", "rw"]})

    out = run_ok(rt, make_bundle(sh("cat /data/from-host; echo hello from container > /data/from-container"),
                                 mutate=mutate), cid)
    assert out.strip() == "hello from host", out
    assert (host_dir / "from-container").read_text() == "hello from container\n"


def test_bind_mount_readonly(rt: Any, cid: str, make_bundle: MakeBundle, tmp_path: Path) -> None:
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()

    def mutate(c: dict[str, Any]) -> None:
        c["mounts"].append({"destination": "/data", "type": "bind", "source": str(host_dir),
                            "options": ["rbind", "ro"]})

    out = run_ok(rt, make_bundle(sh("touch /data/x 2>&1 || echo denied"), mutate=mutate), cid)
    assert "denied" in out and "Read-only file system" in out, out
    assert not (host_dir / "x").exists()


# ---------------------------------------------------------------- masked / readonly paths

def _existing_masked_paths() -> list[str]:
    return [p for p in RUNC_SPEC["linux"]["maskedPaths"] if os.path.exists(p)]


def test_masked_paths(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    masked = _existing_masked_paths()
    # the brief names /proc/kcore: check it whenever this kernel has one
    script = "; ".join(
        f'if [ -d {p} ]; then echo "{p} dir $(ls -A {p} | wc -l)"; '
        f'else echo "{p} file $(head -c 16 {p} 2>/dev/null | wc -c)"; fi'
        for p in masked)
    out = run_ok(rt, make_bundle(sh(script)), cid)
    seen: dict[str, tuple[str, str]] = {}
    for line in out.strip().splitlines():
        path, kind, count = line.split()
        seen[path] = (kind, count)
    assert set(seen) == set(masked), out
    for path, (kind, count) in seen.items():
        assert count == "0", f"masked {kind} {path} is not empty inside: {out}"


def test_masked_paths_have_content_on_host() -> None:
    # guard for test_masked_paths: something masked really has content on this host
    masked = _existing_masked_paths()
    assert masked
    has_content = [p for p in masked
                   if (Path(p).is_dir() and any(Path(p).iterdir()))
                   or (Path(p).is_file() and Path(p).read_bytes()[:16])]
    assert has_content, masked


def test_readonly_paths(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    script = ("{ echo pyrt > /proc/sys/kernel/hostname || echo denied; } 2>&1 | tr '\\n' ' '; echo; "
              "cat /proc/self/mountinfo")
    out = run_ok(rt, make_bundle(sh(script)), cid)
    first, _, rest = out.partition("\n")
    assert "Read-only file system" in first, out
    mounts = parse_mountinfo(rest)
    for point in RUNC_SPEC["linux"]["readonlyPaths"]:
        if not os.path.exists(point):
            continue  # the runtime skips paths this kernel does not have
        m = last_mount_at(mounts, point)
        assert m is not None, f"{point} is not a separate read-only mount:\n{rest}"
        assert "ro" in m.options, f"{point} is not read-only: {m}"


def test_readonly_paths_do_not_make_proc_read_only(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    out = run_ok(rt, make_bundle(["cat", "/proc/self/mountinfo"]), cid)
    proc = last_mount_at(parse_mountinfo(out), "/proc")
    assert proc is not None and "rw" in proc.options, out


def test_run_fails_for_missing_rootfs(rt: Any, cid: str, make_bundle: MakeBundle) -> None:
    def mutate(c: dict[str, Any]) -> None:
        c["root"]["path"] = "no-such-rootfs"

    b = make_bundle(["true"], mutate=mutate)
    shutil.rmtree(b / "no-such-rootfs")
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode != 0, describe(p)
