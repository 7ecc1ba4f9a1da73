"""JSON for the hot path without the json package.

`import json` costs ~6 ms here because json.decoder and json.scanner import
`re` (and `re` imports enum, functools, ...). The C accelerator `_json` that
json itself uses does the real work; this module calls it directly. Output
is the same as json.dumps (ensure_ascii, ", "/": " or the given indent).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _constant(name: str) -> float:
    # Python's json takes NaN and Infinity; JSON (RFC 8259) and Go's encoding/json,
    # which runc reads configs with, do not: such a config is not JSON.
    raise ValueError(f"{name} is not a JSON value (RFC 8259 has no NaN or Infinity)")


class _Context:
    # The attributes _json.make_scanner reads (those of json.JSONDecoder).
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_constant)
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed context
_WS = " \t\n\r"


def loads(data: str | bytes) -> Any:
    """Parse one JSON document; ValueError (with position) when invalid."""
    if isinstance(data, bytes):
        # a UTF-8 byte order mark is tolerated; not with decode("utf-8-sig"),
        # whose codec module is one more import (~0.5 ms) on every command
        s = (data[3:] if data[:3] == b"\xef\xbb\xbf" else data).decode()
    else:
        s = data
    i = 0
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    try:
        obj, end = _scan(s, i)
    except RecursionError:
        # the C scanner recurses per nesting level (Go's encoding/json stops at 10000)
        raise ValueError("nested too deeply") from None
    except (StopIteration, SystemError, ValueError):
        # _json reports most errors through json.decoder.JSONDecodeError, which
        # it cannot build here (json.decoder is not imported): on this rare
        # path, let the json package find and word the error.
        _Context.memo.clear()
        import json

        json.loads(s, parse_constant=_constant)
        raise ValueError("invalid JSON") from None
    finally:
        _Context.memo.clear()
    while end < n and s[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"Extra data: line {s.count(chr(10), 0, end) + 1} char {end}")
    return obj


_enc = _json.encode_basestring_ascii


def dumps(obj: Any, indent: int | str | None = None) -> str:
    if indent is None:
        return "".join(_compact(obj))
    ind = " " * indent if isinstance(indent, int) else indent
    return "".join(_pretty(obj, ind, ""))


def _scalar(o: Any) -> str:
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, str):
        return str(_enc(o))
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return float.__repr__(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def _compact(o: Any) -> Any:
    if isinstance(o, dict):
        yield "{"
        first = True
        for k, v in o.items():
            if not first:
                yield ", "
            first = False
            yield _enc(str(k))
            yield ": "
            yield from _compact(v)
        yield "}"
    elif isinstance(o, (list, tuple)):
        yield "["
        for i, v in enumerate(o):
            if i:
                yield ", "
            yield from _compact(v)
        yield "]"
    else:
        yield _scalar(o)


def _pretty(o: Any, ind: str, cur: str) -> Any:
    inner = cur + ind
    if isinstance(o, dict) and o:
        yield "{\n"
        for i, (k, v) in enumerate(o.items()):
            if i:
                yield ",\n"
            yield inner + _enc(str(k)) + ": "
            yield from _pretty(v, ind, inner)
        yield "\n" + cur + "}"
    elif isinstance(o, (list, tuple)) and o:
        yield "[\n"
        for i, v in enumerate(o):
            if i:
                yield ",\n"
            yield inner
            yield from _pretty(v, ind, inner)
        yield "\n" + cur + "]"
    elif isinstance(o, dict):
        yield "{}"
    elif isinstance(o, (list, tuple)):
        yield "[]"
    else:
        yield _scalar(o)
