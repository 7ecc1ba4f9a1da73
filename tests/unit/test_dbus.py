"""cgroups/dbus.py: the D-Bus wire format (exact bytes of known messages,
alignment rules, round trips) and bus addresses. The connection itself is
exercised against a real dbus-daemon in tests/integration/test_systemd_cgroup.py."""

from __future__ import annotations

import struct
from typing import Any

import pytest

from pyruntime.cgroups import dbus


def _s(code: int, sig: str, s: str) -> bytes:
    """One header field (code, variant of a string type), as the spec lays it out."""
    b = s.encode()
    return bytes([code, 1, ord(sig), 0]) + struct.pack("<I", len(b)) + b + b"\0"


def test_hello_exact_bytes() -> None:
    m = dbus.Message(dbus.METHOD_CALL, {dbus.F_PATH: "/org/freedesktop/DBus",
                                        dbus.F_INTERFACE: "org.freedesktop.DBus",
                                        dbus.F_MEMBER: "Hello",
                                        dbus.F_DESTINATION: "org.freedesktop.DBus"}, serial=1)
    fields = (_s(1, "o", "/org/freedesktop/DBus") + b"\0" * 2      # 16..46, pad to 48
              + _s(2, "s", "org.freedesktop.DBus") + b"\0" * 3     # 48..77, pad to 80
              + _s(3, "s", "Hello") + b"\0" * 2                    # 80..94, pad to 96
              + _s(6, "s", "org.freedesktop.DBus"))                # 96..125
    want = b"l\x01\x00\x01" + struct.pack("<III", 0, 1, len(fields)) + fields + b"\0" * 3
    assert len(fields) == 109
    assert m.encode() == want
    assert len(want) == 128


def test_call_with_body_exact_bytes() -> None:
    m = dbus.Message(dbus.METHOD_CALL, {dbus.F_PATH: "/", dbus.F_MEMBER: "M"}, "su", ["ab", 7], serial=2)
    fields = (bytes([1, 1, ord("o"), 0]) + struct.pack("<I", 1) + b"/\0" + b"\0" * 6   # 16..26, pad 32
              + bytes([3, 1, ord("s"), 0]) + struct.pack("<I", 1) + b"M\0" + b"\0" * 6  # 32..42, pad 48
              + bytes([8, 1, ord("g"), 0]) + b"\x02su\0")                               # 48..56
    body = struct.pack("<I", 2) + b"ab\0" + b"\0" + struct.pack("<I", 7)
    want = b"l\x01\x00\x01" + struct.pack("<III", len(body), 2, len(fields)) + fields + body
    assert m.encode() == want


@pytest.mark.parametrize(("sig", "values", "want"), [
    ("yt", [1, 2], b"\x01" + b"\0" * 7 + struct.pack("<Q", 2)),
    ("at", [[5]], struct.pack("<I", 8) + b"\0" * 4 + struct.pack("<Q", 5)),  # padding not in the length
    ("yat", [1, [5]], b"\x01\0\0\0" + struct.pack("<I", 8) + struct.pack("<Q", 5)),
    ("a(sv)", [[]], struct.pack("<I", 0) + b"\0" * 4),  # empty: still padded to the element
    ("b", [True], struct.pack("<I", 1)),
    ("g", ["a(sv)"], b"\x05a(sv)\0"),
    ("v", [("au", [1, 2])], b"\x02au\0" + struct.pack("<III", 8, 1, 2)),
    ("(yv)", [(1, ("s", "x"))], b"\x01\x01s\0" + struct.pack("<I", 1) + b"x\0"),
    ("a{sy}", [{"k": 9}], struct.pack("<I", 7) + b"\0" * 4 + struct.pack("<I", 1) + b"k\0\x09"),
])
def test_marshal_alignment(sig: str, values: list[Any], want: bytes) -> None:
    assert dbus.marshal(sig, values) == want


def test_round_trip_start_transient_unit() -> None:
    props = [("Description", ("s", "pyruntime container x")), ("Slice", ("s", "system.slice")),
             ("Delegate", ("b", True)), ("PIDs", ("au", [1234])), ("DefaultDependencies", ("b", False)),
             ("MemoryMax", ("t", 1 << 30)), ("TasksMax", ("t", (1 << 64) - 1)),
             ("Wants", ("as", ["a.slice", "b.slice"]))]
    aux: list[Any] = [("sub.scope", [("PIDs", ("au", []))])]
    m = dbus.Message(dbus.METHOD_CALL, {dbus.F_PATH: "/org/freedesktop/systemd1",
                                        dbus.F_INTERFACE: "org.freedesktop.systemd1.Manager",
                                        dbus.F_MEMBER: "StartTransientUnit",
                                        dbus.F_DESTINATION: "org.freedesktop.systemd1"},
                     "ssa(sv)a(sa(sv))", ["x.scope", "replace", props, aux], serial=9)
    data = m.encode()
    hlen, blen = dbus.Message.header_size(data[:16])
    assert hlen % 8 == 0 and hlen + blen == len(data)
    back = dbus.Message.decode(data)
    assert back.type == dbus.METHOD_CALL and back.serial == 9
    assert back.member == "StartTransientUnit" and back.path == "/org/freedesktop/systemd1"
    assert back.sig == "ssa(sv)a(sa(sv))"
    assert back.body == ["x.scope", "replace", props, aux]
    assert back.encode() == data


@pytest.mark.parametrize(("sig", "values"), [
    ("ydnqixtu", [255, 1.5, -2, 65535, -7, -(1 << 40), (1 << 64) - 1, 4]),
    ("aay", [[[1, 2], [], [3]]]),
    ("a{sv}", [[("a", ("i", 1)), ("b", ("as", ["x", "y"]))]]),
    ("(s(ub))v", [("o", (3, False)), ("(tt)", (1, 2))]),
    ("", []),
])
def test_round_trip_bodies(sig: str, values: list[Any]) -> None:
    data = dbus.marshal(sig, values)
    assert dbus.unmarshal(sig, data) == values


def test_big_endian_read() -> None:
    data = struct.pack(">I", 3) + b"abc\0" + struct.pack(">I", 9)
    assert dbus.unmarshal("su", data, ">") == ["abc", 9]


@pytest.mark.parametrize("bad", ["a", "(", "()", "{s}", "{sss}", "z", "a{s"])
def test_bad_signatures(bad: str) -> None:
    with pytest.raises(dbus.DBusError):
        dbus.split_signature(bad)


def test_value_count_mismatch() -> None:
    with pytest.raises(dbus.DBusError, match="1 values for 2 types"):
        dbus.marshal("su", ["x"])
    with pytest.raises(dbus.DBusError, match="truncated"):
        dbus.unmarshal("s", struct.pack("<I", 10) + b"ab")


def test_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert dbus.socket_path("unix:path=/run/dbus/system_bus_socket") == "/run/dbus/system_bus_socket"
    assert dbus.socket_path("tcp:host=x;unix:path=/tmp/a%20b,guid=12") == "/tmp/a b"
    assert dbus.socket_path("unix:abstract=/tmp/dbus-x") == "\0/tmp/dbus-x"
    with pytest.raises(dbus.DBusError, match="no unix:path="):
        dbus.socket_path("tcp:host=localhost,port=1")
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS", raising=False)
    assert dbus.system_bus_address() == "unix:path=/run/dbus/system_bus_socket"
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/x")
    assert dbus.system_bus_address() == "unix:path=/x"


def test_connect_failure_is_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(dbus.DBusError, match="connecting to unix:path="):
        dbus.Connection(f"unix:path={tmp_path}/none", timeout=1)
