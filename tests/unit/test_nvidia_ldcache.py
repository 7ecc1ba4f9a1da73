"""The ld.so.cache parser (hooks/nvidia/ldcache.py) against glibc itself: the
host's own cache compared with `ldconfig -p`, and caches in each format
written here and read back both by the parser and by `ldconfig -p -C`."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from hooks.nvidia import ldcache

X86_64 = 0x0303  # libc6, x86-64
I386 = 0x0003    # libc6, the plain 32-bit ABI
ENTRIES = [("libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", X86_64),
           ("libcuda.so.1", "/usr/lib/i386-linux-gnu/libcuda.so.1", I386),
           ("libnvidia-ml.so.1", "/usr/lib64/libnvidia-ml.so.1", X86_64)]


def _strings(entries: list[tuple[str, str, int]], base: int) -> tuple[bytes, list[tuple[int, int]]]:
    blob = b""
    offs = []
    for key, value, _ in entries:
        k = base + len(blob)
        blob += key.encode() + b"\0"
        v = base + len(blob)
        blob += value.encode() + b"\0"
        offs.append((k, v))
    return blob, offs


def write_new(entries: list[tuple[str, str, int]]) -> bytes:
    head = 48 + 24 * len(entries)
    blob, offs = _strings(entries, head)
    out = struct.pack("=20sIIB3xI12x", ldcache.NEW_MAGIC, len(entries), len(blob), 2, 0)
    for (_, _, flags), (k, v) in zip(entries, offs, strict=True):
        out += struct.pack("=iIIIQ", flags, k, v, 0, 0)
    return out + blob


def write_old(entries: list[tuple[str, str, int]]) -> bytes:
    blob, offs = _strings(entries, 0)
    out = ldcache.OLD_MAGIC + struct.pack("=I", len(entries))
    for (_, _, flags), (k, v) in zip(entries, offs, strict=True):
        out += struct.pack("=iII", flags, k, v)
    return out + blob


def write_compat(entries: list[tuple[str, str, int]]) -> bytes:
    old = ldcache.OLD_MAGIC + struct.pack("=I", len(entries)) + b"\0" * 12 * len(entries)
    old += b"\0" * (-len(old) % 8)
    return old + write_new(entries)


@pytest.mark.parametrize("writer", [write_new, write_old, write_compat])
def test_formats_round_trip(writer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = writer(ENTRIES)
    got = [(e.key, e.value, e.flags) for e in ldcache.parse(data)]
    assert got == ENTRIES
    assert ldcache.parse(data)[0].abi() == ldcache.ARCH_64["x86_64"] and ldcache.parse(data)[1].abi() == 0
    if writer is not write_compat and shutil.which("ldconfig"):
        # glibc's own reader agrees (the compat writer's old table is blank on purpose)
        f = tmp_path / "ld.so.cache"
        f.write_bytes(data)
        out = subprocess.run(["ldconfig", "-p", "-C", str(f)], capture_output=True, text=True).stdout
        assert "libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1" in out
        assert "libcuda.so.1 (libc6) => /usr/lib/i386-linux-gnu/libcuda.so.1" in out


def test_the_hosts_cache_matches_ldconfig_p() -> None:
    if not Path("/etc/ld.so.cache").exists() or not shutil.which("ldconfig"):
        pytest.skip("no /etc/ld.so.cache or ldconfig here")
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    listed = {(line.split()[0], line.rsplit("=> ", 1)[1]) for line in out.splitlines() if "=> " in line}
    assert {(e.key, e.value) for e in ldcache.read("/etc/ld.so.cache")} == listed


@pytest.mark.parametrize("data,msg", [(b"garbage", "not an ld.so.cache"),
                                      (ldcache.NEW_MAGIC + b"\1\0", "truncated"),
                                      (write_new(ENTRIES)[:60], "runs past the end"),
                                      (write_new(ENTRIES)[:-20], "not terminated")])
def test_malformed(data: bytes, msg: str) -> None:
    with pytest.raises(ldcache.CacheError, match=msg):
        ldcache.parse(data)
