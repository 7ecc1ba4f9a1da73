"""A small D-Bus client for the systemd cgroup driver (cgroups/systemd.py):
the wire format (marshalling), SASL EXTERNAL authentication, Hello, method
calls, replies and signals over a unix socket. stdlib only (`_socket`,
`struct`), imported only with --systemd-cgroup.

Values: basic types are Python ints/bools/floats/strs; a struct is a tuple,
an array a list (a dict-entry array: a list of (key, value) tuples), and a
variant a (signature, value) tuple. Messages are sent little-endian; either
endianness is read.

Spec: https://dbus.freedesktop.org/doc/dbus-specification.html ("Message
Protocol", "Authentication Protocol").
"""

from __future__ import annotations

import _socket
import os
import struct
import time

from pyruntime.errors import PyruntimeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SYSTEM_BUS_DEFAULT = "unix:path=/run/dbus/system_bus_socket"

METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
NO_REPLY_EXPECTED = 0x1
F_PATH, F_INTERFACE, F_MEMBER, F_ERROR_NAME, F_REPLY_SERIAL, F_DESTINATION, F_SENDER, F_SIGNATURE, \
    F_UNIX_FDS = range(1, 10)
_FIELD_SIG = {F_PATH: "o", F_INTERFACE: "s", F_MEMBER: "s", F_ERROR_NAME: "s", F_REPLY_SERIAL: "u",
              F_DESTINATION: "s", F_SENDER: "s", F_SIGNATURE: "g", F_UNIX_FDS: "u"}
_FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4), "u": ("I", 4),
          "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8), "h": ("I", 4)}
_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4,
          "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8}
MAX_MESSAGE = 128 << 20


class DBusError(PyruntimeError):
    """An error reply (name: e.g. org.freedesktop.DBus.Error.ServiceUnknown)
    or a broken connection (name "")."""

    def __init__(self, name: str, text: str) -> None:
        super().__init__(f"D-Bus: {name + ': ' if name else ''}{text}")
        self.name = name
        self.text = text


# -- signatures -----------------------------------------------------------------
def split_signature(sig: str) -> list[str]:
    """"a(sv)su" -> ["a(sv)", "s", "u"]; raises on a malformed signature."""
    out: list[str] = []
    i = 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _type_end(sig: str, i: int) -> int:
    if i >= len(sig):
        raise DBusError("", f"signature {sig!r}: incomplete type")
    c = sig[i]
    if c in _FIXED or c in "sogv":
        return i + 1
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        n = 0
        while j < len(sig) and sig[j] != close:
            j = _type_end(sig, j)
            n += 1
        if j >= len(sig) or n == 0 or (c == "{" and n != 2):
            raise DBusError("", f"signature {sig!r}: bad {c}{close} at {i}")
        return j + 1
    raise DBusError("", f"signature {sig!r}: unknown type code {c!r}")


# -- marshalling ----------------------------------------------------------------
class _Writer:
    def __init__(self, start: int = 0) -> None:
        self.buf = bytearray()
        self.start = start  # the message offset of buf[0] (alignment is from the message start)

    def pad(self, n: int) -> None:
        pos = self.start + len(self.buf)
        self.buf += b"\0" * ((-pos) % n)

    def put(self, t: str, v: Any) -> None:
        c = t[0]
        if c in _FIXED:
            fmt, size = _FIXED[c]
            self.pad(size)
            if c == "b":
                v = 1 if v else 0
            self.buf += struct.pack("<" + fmt, v)
        elif c in "so":
            b = str(v).encode()
            self.pad(4)
            self.buf += struct.pack("<I", len(b)) + b + b"\0"
        elif c == "g":
            b = str(v).encode()
            if len(b) > 255:
                raise DBusError("", "signature longer than 255 bytes")
            self.buf += bytes([len(b)]) + b + b"\0"
        elif c == "v":
            sig, val = v
            split_signature(sig)
            self.put("g", sig)
            self.put(sig, val)
        elif c == "a":
            et = t[1:]
            self.pad(4)
            at = len(self.buf)
            self.buf += b"\0\0\0\0"
            self.pad(_ALIGN[et[0]])  # padding before the first element is not in the length
            first = len(self.buf)
            items = list(v.items()) if isinstance(v, dict) else v
            for item in items:
                self.put(et, item)
            struct.pack_into("<I", self.buf, at, len(self.buf) - first)
        elif c in "({":
            self.pad(8)
            members = split_signature(t[1:-1])
            vals = tuple(v)
            if len(vals) != len(members):
                raise DBusError("", f"struct {t}: {len(vals)} values for {len(members)} members")
            for mt, mv in zip(members, vals, strict=True):
                self.put(mt, mv)
        else:
            raise DBusError("", f"cannot marshal type {t!r}")


def marshal(sig: str, values: list[Any] | tuple[Any, ...], start: int = 0) -> bytes:
    """The body for signature sig (values: one per complete type)."""
    types = split_signature(sig)
    if len(types) != len(values):
        raise DBusError("", f"signature {sig!r}: {len(values)} values for {len(types)} types")
    w = _Writer(start)
    for t, v in zip(types, values, strict=True):
        w.put(t, v)
    return bytes(w.buf)


class _Reader:
    def __init__(self, data: bytes, endian: str, start: int = 0) -> None:
        self.data = data
        self.pos = start
        self.e = endian

    def align(self, n: int) -> None:
        self.pos += (-self.pos) % n

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DBusError("", "truncated message")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def get(self, t: str) -> Any:
        c = t[0]
        if c in _FIXED:
            fmt, size = _FIXED[c]
            self.align(size)
            v = struct.unpack(self.e + fmt, self.take(size))[0]
            return bool(v) if c == "b" else v
        if c in "so":
            self.align(4)
            n = struct.unpack(self.e + "I", self.take(4))[0]
            s = self.take(n + 1)
            return s[:-1].decode()
        if c == "g":
            n = self.take(1)[0]
            return self.take(n + 1)[:-1].decode()
        if c == "v":
            sig = self.get("g")
            if len(split_signature(sig)) != 1:
                raise DBusError("", f"variant signature {sig!r} is not one type")
            return (sig, self.get(sig))
        if c == "a":
            et = t[1:]
            self.align(4)
            n = struct.unpack(self.e + "I", self.take(4))[0]
            self.align(_ALIGN[et[0]])
            end = self.pos + n
            if end > len(self.data):
                raise DBusError("", "truncated array")
            out: list[Any] = []
            while self.pos < end:
                out.append(self.get(et))
            return out
        if c in "({":
            self.align(8)
            return tuple(self.get(mt) for mt in split_signature(t[1:-1]))
        raise DBusError("", f"cannot unmarshal type {t!r}")


def unmarshal(sig: str, data: bytes, endian: str = "<", start: int = 0) -> list[Any]:
    r = _Reader(data, endian, start)
    return [r.get(t) for t in split_signature(sig)]


# -- messages -------------------------------------------------------------------
class Message:
    def __init__(self, mtype: int, fields: dict[int, Any], sig: str = "", body: list[Any] | None = None,
                 serial: int = 0, flags: int = 0) -> None:
        self.type = mtype
        self.fields = fields
        self.sig = sig
        self.body = body or []
        self.serial = serial
        self.flags = flags

    path = property(lambda self: self.fields.get(F_PATH))
    interface = property(lambda self: self.fields.get(F_INTERFACE))
    member = property(lambda self: self.fields.get(F_MEMBER))
    sender = property(lambda self: self.fields.get(F_SENDER))
    reply_serial = property(lambda self: self.fields.get(F_REPLY_SERIAL))
    error_name = property(lambda self: self.fields.get(F_ERROR_NAME))

    def encode(self) -> bytes:
        fields = dict(self.fields)
        if self.sig:
            fields[F_SIGNATURE] = self.sig
        body = marshal(self.sig, self.body) if self.sig else b""
        hfields = [(code, (_FIELD_SIG[code], val)) for code, val in sorted(fields.items())]
        head = bytearray(b"l" + bytes([self.type, self.flags, 1]) + struct.pack("<II", len(body), self.serial))
        head += marshal("a(yv)", [hfields], start=12)
        head += b"\0" * ((-len(head)) % 8)
        return bytes(head) + body

    @staticmethod
    def header_size(first16: bytes) -> tuple[int, int]:
        """(header length with padding, body length) from the first 16 bytes."""
        e = _endian(first16[0])
        body_len, _, flen = struct.unpack(e + "III", first16[4:16])
        hlen = 16 + flen
        return hlen + (-hlen) % 8, body_len

    @classmethod
    def decode(cls, data: bytes) -> Message:
        e = _endian(data[0])
        mtype, flags, version = data[1], data[2], data[3]
        if version != 1:
            raise DBusError("", f"protocol version {version}")
        body_len, serial = struct.unpack(e + "II", data[4:12])
        r = _Reader(data, e, 12)
        hfields = r.get("a(yv)")
        r.align(8)
        fields = {code: val for code, (_sig, val) in hfields}
        sig = str(fields.pop(F_SIGNATURE, ""))
        body = unmarshal(sig, data[:r.pos + body_len], e, r.pos) if sig else []
        return cls(mtype, fields, sig, body, serial, flags)

    def __repr__(self) -> str:
        return f"Message({self.type}, {self.fields!r}, {self.sig!r}, {self.body!r}, serial={self.serial})"


def _endian(b: int) -> str:
    if b == ord("l"):
        return "<"
    if b == ord("B"):
        return ">"
    raise DBusError("", f"bad endianness byte {b!r}")


# -- connection -----------------------------------------------------------------
def system_bus_address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS_DEFAULT


def socket_path(address: str) -> str:
    """The first unix:path= (or unix:abstract=, as "\\0name") of a bus address."""
    for part in address.split(";"):
        transport, _, params = part.partition(":")
        if transport != "unix":
            continue
        kv = dict(p.split("=", 1) for p in params.split(",") if "=" in p)
        if kv.get("path"):
            return _unescape(kv["path"])
        if kv.get("abstract"):
            return "\0" + _unescape(kv["abstract"])
    raise DBusError("", f"no unix:path= in bus address {address!r}")


def _unescape(s: str) -> str:
    out = bytearray()
    i = 0
    b = s.encode()
    while i < len(b):
        if b[i] == ord("%") and i + 2 < len(b):
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode()


class Connection:
    """One authenticated connection; `call` sends a method call and returns
    its reply's body, keeping the signals and calls that arrive meanwhile in
    `pending` (read them with `recv`)."""

    def __init__(self, address: str | None = None, timeout: float = 30.0) -> None:
        self.address = address or system_bus_address()
        self.timeout = timeout
        self.serial = 0
        self.pending: list[Message] = []
        self._buf = b""
        path = socket_path(self.address)
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            self.sock.settimeout(timeout)
            self.sock.connect(path)
            self._auth()
            self.unique_name = str(self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "Hello")[0])
        except OSError as e:
            self.sock.close()
            raise DBusError("", f"connecting to {self.address}: {e.strerror or e}") from None
        except BaseException:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise DBusError("", "the bus closed the connection during authentication")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\r\n")
        return line

    def _auth(self) -> None:
        uid = str(os.geteuid()).encode().hex()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        line = self._line()
        if not line.startswith(b"OK "):
            raise DBusError("", f"authentication refused: {line.decode(errors='replace')}")
        self.sock.sendall(b"BEGIN\r\n")

    # -- sending ---------------------------------------------------------------
    def send(self, msg: Message) -> int:
        self.serial += 1
        msg.serial = self.serial
        self.sock.sendall(msg.encode())
        return msg.serial

    def call(self, dest: str, path: str, iface: str, member: str, sig: str = "",
             args: list[Any] | None = None, timeout: float | None = None) -> list[Any]:
        fields = {F_PATH: path, F_INTERFACE: iface, F_MEMBER: member, F_DESTINATION: dest}
        serial = self.send(Message(METHOD_CALL, fields, sig, args or []))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            m = self._read(deadline, f"{iface}.{member}")
            if m.type in (METHOD_RETURN, ERROR) and m.reply_serial == serial:
                if m.type == ERROR:
                    text = str(m.body[0]) if m.body and isinstance(m.body[0], str) else ""
                    raise DBusError(str(m.error_name), text)
                return m.body
            self.pending.append(m)

    def reply(self, to: Message, sig: str = "", args: list[Any] | None = None) -> None:
        fields: dict[int, Any] = {F_REPLY_SERIAL: to.serial}
        if to.sender:
            fields[F_DESTINATION] = to.sender
        self.send(Message(METHOD_RETURN, fields, sig, args or []))

    def error(self, to: Message, name: str, text: str) -> None:
        fields: dict[int, Any] = {F_REPLY_SERIAL: to.serial, F_ERROR_NAME: name}
        if to.sender:
            fields[F_DESTINATION] = to.sender
        self.send(Message(ERROR, fields, "s", [text]))

    def signal(self, path: str, iface: str, member: str, sig: str = "", args: list[Any] | None = None) -> None:
        self.send(Message(SIGNAL, {F_PATH: path, F_INTERFACE: iface, F_MEMBER: member}, sig, args or [],
                          flags=NO_REPLY_EXPECTED))

    def bus_call(self, member: str, sig: str = "", args: list[Any] | None = None) -> list[Any]:
        return self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                         member, sig, args)

    # -- receiving -------------------------------------------------------------
    def recv(self, timeout: float | None = None) -> Message:
        """The next message not yet handed out (signals, calls to us)."""
        if self.pending:
            return self.pending.pop(0)
        return self._read(time.monotonic() + (self.timeout if timeout is None else timeout), "a message")

    def _fill(self, n: int, deadline: float, what: str) -> None:
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DBusError("", f"timed out waiting for {what}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise DBusError("", f"timed out waiting for {what}") from None
            except OSError as e:
                raise DBusError("", f"reading from {self.address}: {e.strerror or e}") from None
            if not chunk:
                raise DBusError("", f"the bus closed the connection (waiting for {what})")
            self._buf += chunk

    def _read(self, deadline: float, what: str) -> Message:
        self._fill(16, deadline, what)
        hlen, blen = Message.header_size(self._buf[:16])
        if hlen + blen > MAX_MESSAGE:
            raise DBusError("", f"message of {hlen + blen} bytes")
        self._fill(hlen + blen, deadline, what)
        data, self._buf = self._buf[:hlen + blen], self._buf[hlen + blen:]
        return Message.decode(data)
