"""glibc's ld.so.cache, parsed (ldconfig writes it, the dynamic loader reads it).

Two formats, both little- or big-endian as the host (we read native order):

  old   "ld.so-1.7.0" (12 bytes with its NUL), u32 nlibs,
        nlibs × {i32 flags, u32 key, u32 value}; string offsets count from
        the end of that entry table.
  new   "glibc-ld.so.cache" "1.1" (20 bytes), u32 nlibs, u32 len_strings,
        u8 flags, 3 pad, u32 extension_offset, 3 × u32 unused (48 bytes),
        nlibs × {i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap};
        string offsets count from the start of this header.

glibc ≥ 2.32 writes the new format alone; "compat" files have an old table
first and the new header after it, aligned to 8 bytes (glibc's reader then
uses only the new part, and so do we). key is the SONAME (libcuda.so.1),
value the path of that name (/usr/lib/x86_64-linux-gnu/libcuda.so.1).

flags: low byte the type (3 = ELF libc6), high byte the ABI
(0x03 = x86-64, 0x0a = aarch64, 0x05 = ppc64; 0 = the plain 32-bit ABI).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OLD_MAGIC = b"ld.so-1.7.0\0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"

FLAG_TYPE_MASK = 0x00FF
FLAG_ELF_LIBC6 = 0x0003
FLAG_REQUIRED_MASK = 0xFF00
# The 64-bit ABI bits of the architectures NVIDIA ships drivers for.
ARCH_64 = {"x86_64": 0x0300, "aarch64": 0x0A00, "ppc64le": 0x0500}

_OLD_ENTRY = struct.Struct("=iII")
_NEW_HEADER = struct.Struct("=20sIIB3xI12x")
_NEW_ENTRY = struct.Struct("=iIIIQ")


@dataclass(frozen=True)
class Entry:
    key: str     # the SONAME, e.g. libcuda.so.1
    value: str   # its path, e.g. /usr/lib/x86_64-linux-gnu/libcuda.so.1
    flags: int

    @property
    def is_libc6(self) -> bool:
        return self.flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6

    def abi(self) -> int:
        return self.flags & FLAG_REQUIRED_MASK


class CacheError(ValueError):
    pass


def _cstr(data: bytes, off: int, what: str) -> str:
    if not 0 <= off < len(data):
        raise CacheError(f"{what} string offset {off} outside the file ({len(data)} bytes)")
    end = data.find(b"\0", off)
    if end < 0:
        raise CacheError(f"{what} string at {off} is not terminated")
    return data[off:end].decode("utf-8", "surrogateescape")


def parse(data: bytes) -> list[Entry]:
    """Every entry, in file order. Raises CacheError on a malformed file."""
    if data.startswith(NEW_MAGIC):
        return _parse_new(data, 0)
    if not data.startswith(OLD_MAGIC):
        raise CacheError("not an ld.so.cache (no ld.so-1.7.0 or glibc-ld.so.cache1.1 magic)")
    if len(data) < 16:
        raise CacheError("truncated old-format header")
    (nlibs,) = struct.unpack_from("=I", data, 12)
    table_end = 16 + nlibs * _OLD_ENTRY.size
    if table_end > len(data):
        raise CacheError(f"old-format table of {nlibs} entries runs past the end of the file")
    new_at = (table_end + 7) & ~7
    if data[new_at:new_at + len(NEW_MAGIC)] == NEW_MAGIC:
        return _parse_new(data, new_at)
    out = []
    for i in range(nlibs):
        flags, key, value = _OLD_ENTRY.unpack_from(data, 16 + i * _OLD_ENTRY.size)
        out.append(Entry(_cstr(data, table_end + key, "key"), _cstr(data, table_end + value, "value"), flags))
    return out


def _parse_new(data: bytes, base: int) -> list[Entry]:
    if len(data) < base + _NEW_HEADER.size:
        raise CacheError("truncated glibc-ld.so.cache1.1 header")
    _magic, nlibs, _len_strings, _flags, _ext = _NEW_HEADER.unpack_from(data, base)
    start = base + _NEW_HEADER.size
    if start + nlibs * _NEW_ENTRY.size > len(data):
        raise CacheError(f"table of {nlibs} entries runs past the end of the file")
    out = []
    for i in range(nlibs):
        flags, key, value, _osv, _hwcap = _NEW_ENTRY.unpack_from(data, start + i * _NEW_ENTRY.size)
        out.append(Entry(_cstr(data, base + key, "key"), _cstr(data, base + value, "value"), flags))
    return out


def read(path: str) -> list[Entry]:
    with open(path, "rb") as f:
        return parse(f.read())
