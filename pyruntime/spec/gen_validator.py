"""Compile the JSON schemas in specs/ into plain Python: pyruntime/spec/_schema_validator.py.

`create` validates every config.json against specs/config-schema.json, but
importing jsonschema costs ~120 ms (and `re` ~5 ms). This generator, run at
development time, turns each schema node into a tuple of data read by one small
interpreter (see "compiler" below), so the hot path only imports one .pyc. The
generated file is committed; a unit test regenerates it and fails when it is
stale. Run:

    python -m pyruntime.spec.gen_validator          # rewrite the committed file
    python -m pyruntime.spec.gen_validator --check  # exit 1 when it is stale

Supported: the draft-04 keywords the schemas use (type, properties, required,
patternProperties, additionalProperties, items, enum, pattern, minimum,
maximum, exclusiveMinimum/Maximum, minItems, maxItems, minLength, maxLength,
allOf, anyOf, oneOf, $ref between files by file name). Any other keyword is
an error here, so the schemas cannot silently ask for a check that is not
made. As in draft 04, a `$ref` replaces its sibling keywords.

Patterns are compiled into a table for a tiny backtracking matcher when they
are a sequence of literals, `.`, character classes and quantifiers (with `^`
and `$`); the matcher follows `re.search` (including `$` matching before a
final newline). Any other pattern is checked with `re`, imported only when
such a value is actually checked.
"""

from __future__ import annotations

import json
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
SPECS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "specs")
OUTPUT = os.path.join(HERE, "_schema_validator.py")

# entry point name -> root schema file
ROOTS = {"config": "config-schema.json", "state": "state-schema.json", "features": "features-schema.json"}

_IGNORED = {"description", "$schema", "id", "title", "definitions"}
_KNOWN = _IGNORED | {
    "type", "properties", "required", "patternProperties", "additionalProperties", "items", "enum",
    "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
    "minLength", "maxLength", "allOf", "anyOf", "oneOf", "$ref",
}
_ARTICLE = {"object": "an object", "array": "an array", "string": "a string", "integer": "an integer",
            "number": "a number", "boolean": "a boolean", "null": "null"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_LITERAL_ESCAPES = set("\\.[]{}()*+?^$|-/ ")


class SchemaError(Exception):
    pass


# ---------------------------------------------------------------- patterns

Atom = tuple[str, bool, int, int]  # characters, negated, min, max (-1: unbounded)


def parse_pattern(pat: str) -> tuple[bool, list[Atom], bool] | None:
    """(anchored at start, atoms, anchored at end), or None when the pattern
    is beyond the subset the matcher handles."""
    i, n = 0, len(pat)
    start = pat.startswith("^")
    if start:
        i = 1
    end = False
    atoms: list[Atom] = []
    while i < n:
        c = pat[i]
        if c == "$" and i == n - 1:
            end = True
            break
        if c in "^$|()*+?{}]":
            return None
        if c == "[":
            got = _parse_class(pat, i + 1)
            if got is None:
                return None
            chars, neg, i = got
        elif c == ".":
            chars, neg, i = "\n", True, i + 1
        elif c == "\\":
            if i + 1 >= n:
                return None
            d = pat[i + 1]
            if d in _ESCAPES:
                chars = _ESCAPES[d]
            elif d in _LITERAL_ESCAPES:
                chars = d
            else:
                return None  # \d, \w, \s, \b... are Unicode-aware in re: not ours
            neg, i = False, i + 2
        else:
            chars, neg, i = c, False, i + 1
        lo, hi = 1, 1
        if i < n and pat[i] in "*+?{":
            q = pat[i]
            if q == "*":
                lo, hi, i = 0, -1, i + 1
            elif q == "+":
                lo, hi, i = 1, -1, i + 1
            elif q == "?":
                lo, hi, i = 0, 1, i + 1
            else:
                close = pat.find("}", i)
                if close < 0:
                    return None
                body = pat[i + 1:close]
                parts = body.split(",")
                if len(parts) > 2 or not all(p.isdigit() for p in parts if p) or not parts[0]:
                    return None
                lo = int(parts[0])
                hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else -1)
                i = close + 1
            if i < n and pat[i] in "?+*{":
                return None  # lazy / possessive / stacked quantifiers
        atoms.append(("".join(sorted(set(chars))), neg, lo, hi))
    return start, atoms, end


def _parse_class(pat: str, i: int) -> tuple[str, bool, int] | None:
    n = len(pat)
    neg = i < n and pat[i] == "^"
    if neg:
        i += 1
    items: list[str] = []
    first = True
    while i < n and (pat[i] != "]" or first):
        c = pat[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            d = pat[i + 1]
            if d in _ESCAPES:
                c = _ESCAPES[d]
            elif d in _LITERAL_ESCAPES:
                c = d
            else:
                return None
            i += 2
        elif c == "[":
            return None  # nested sets / POSIX classes
        else:
            i += 1
        first = False
        items.append(c)
    if i >= n:
        return None
    chars: set[str] = set()
    j = 0
    while j < len(items):
        if j + 2 < len(items) and items[j + 1] == "-":
            lo, hi = ord(items[j]), ord(items[j + 2])
            if hi < lo or hi - lo > 256:
                return None
            chars.update(chr(k) for k in range(lo, hi + 1))
            j += 3
        else:
            chars.add(items[j])
            j += 1
    return "".join(sorted(chars)), neg, i + 1


def search(s: str, start: bool, atoms: list[Atom] | tuple[Atom, ...], end: bool) -> bool:
    """The matcher, as emitted into the generated module (kept here to test it)."""
    for i in range(1 if start else len(s) + 1):
        if _match(s, i, atoms, 0, end):
            return True
    return False


def _match(s: str, i: int, atoms: list[Atom] | tuple[Atom, ...], k: int, end: bool) -> bool:
    if k == len(atoms):
        n = len(s)
        return not end or i == n or (i == n - 1 and s[i] == "\n")
    chars, neg, lo, hi = atoms[k]
    j, n = i, len(s)
    while j < n and (hi < 0 or j - i < hi) and ((s[j] in chars) is not neg):
        j += 1
    while j - i >= lo:
        if _match(s, j, atoms, k + 1, end):
            return True
        j -= 1
    return False


# ---------------------------------------------------------------- compiler

# The generated module holds data, not code: a function per schema node cost
# ~260 KiB of memory once imported (a code object each), on every create. Now
# each node is a tuple in _N, read by one interpreter (_c, in _HEADER):
#     (type bits, message when the value has none of those types, op, arg, op, arg, ...)
# with type bits from _BITS (0: any type). The ops, in the order a node checks
# them; an op for one JSON type is skipped for values of another:
OP_ENUM = 0             # (bit of this enum in _E, message before repr(value))
OP_REQUIRED = 1         # objects: (key, message, key, message, ...)
OP_PROPERTIES = 2       # objects: (key, ..., node of the first key, ...); other keys are allowed
OP_PROPERTIES_MORE = 3  # objects: (the same or None, ((pattern, node), ...), other keys: None, -1 or node)
OP_MIN_ITEMS = 4        # arrays: n
OP_MAX_ITEMS = 5        # arrays: n
OP_ITEMS = 6            # arrays: node
OP_MIN_LENGTH = 7       # strings: n
OP_MAX_LENGTH = 8       # strings: n
OP_PATTERN = 9          # strings: (pattern, message before repr(value))
OP_MINIMUM = 10         # numbers: bound
OP_EXCL_MINIMUM = 11    # numbers: bound
OP_MAXIMUM = 12         # numbers: bound
OP_EXCL_MAXIMUM = 13    # numbers: bound
OP_POSITIVE = 14        # integers: 0 (minimum 1, or exclusive minimum 0, says "a positive integer")
OP_ALL_OF = 15          # (node, ...)
OP_ANY_OF = 16          # (node, ...)
OP_ONE_OF = 17          # (node, ...)
# A node is its index in _N (so a schema may refer to itself). A pattern is
# (anchored at start, atoms, anchored at end) for the matcher, or a generated
# function that calls re for a pattern beyond it. Messages that only repeat a
# bound are written when an error is found, not stored. _N is one constant of
# the .pyc, unmarshalled as is: no code runs to build it and nothing is copied.
# Property tables are tuples scanned for the key, not dicts: a dict per table
# cost ~10 KiB more in all, and a table has a few keys. The enums share one
# dict, _E (value -> bits of the enums that hold it): a hashed test, like the
# frozenset per enum before, at a fraction of the memory.
_BITS = {"object": 1, "array": 2, "string": 4, "integer": 8, "number": 16, "boolean": 32, "null": 64}


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _wrap(items: list[str]) -> str:
    """`items`, comma-separated, in lines of at most 110 characters."""
    lines = [""]
    for it in items:
        if lines[-1] and len(lines[-1]) + len(it) + 2 > 110:
            lines.append("")
        lines[-1] += f" {it}," if lines[-1] else f"    {it},"
    return "\n".join(lines)


class Compiler:
    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.index: dict[str, int] = {}  # canonical schema key -> node index
        self.nodes: list[str] = []  # node tuples, as source text
        self.hints: list[str] = []  # what each node is, for a comment
        self.enums: dict[tuple[str, ...], int] = {}  # values -> number of the enum (its bit in _E)
        self.funcs: list[str] = []
        self.patterns: dict[str, str] = {}

    # -- references
    def resolve(self, file: str, ref: str) -> tuple[str, Any]:
        target, _, pointer = ref.partition("#")
        f = target or file
        if f not in self.docs:
            raise SchemaError(f"{file}: $ref {ref!r}: no such file in specs/")
        node = self.docs[f]
        for part in (p for p in pointer.split("/") if p):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaError(f"{file}: $ref {ref!r}: no {part!r} there")
            node = node[part]
        return f, node

    def deref(self, file: str, schema: Any) -> tuple[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema:
            file, schema = self.resolve(file, schema["$ref"])
            seen += 1
            if seen > 50:
                raise SchemaError(f"{file}: $ref loop")
        return file, schema

    def type_word(self, file: str, schema: Any) -> str:
        _, s = self.deref(file, schema)
        t = s.get("type") if isinstance(s, dict) else None
        return t if isinstance(t, str) else "property"

    # -- compilation
    def compile(self, file: str, schema: Any, hint: str) -> int:
        """Return the index in _N of the node that checks `schema`."""
        hops = 0
        while isinstance(schema, dict) and "$ref" in schema:  # draft 04: $ref replaces its siblings
            hops += 1
            if hops > 50:
                raise SchemaError(f"{file}: {hint}: $ref loop")
            ref = schema["$ref"]
            file, schema = self.resolve(file, ref)
            last = [part for part in ref.partition("#")[2].split("/") if part][-1:]
            hint = "_".join([file.removesuffix(".json")] + last)
        if not isinstance(schema, dict):
            raise SchemaError(f"{file}: {hint}: a schema must be an object")
        # descriptions do not change a check, except the words of an enum's message
        keyed = {k: v for k, v in schema.items() if k != "description" or "enum" in schema}
        text = json.dumps(keyed, sort_keys=True)
        key = text if '"$ref"' not in text else f"{file}:{text}"
        if key in self.index:
            return self.index[key]
        if set(keyed) == {"type"} and isinstance(schema["type"], str):
            hint = "type " + schema["type"]  # plain type checks are shared
        j = len(self.nodes)
        self.index[key] = j
        self.nodes.append("")  # placeholder: a child may refer back to this node
        self.hints.append(hint)
        self.nodes[j] = self._node(file, schema, hint)
        return j

    def _node(self, file: str, s: dict[str, Any], hint: str) -> str:
        unknown = set(s) - _KNOWN
        if unknown:
            raise SchemaError(f"{file}: {hint}: unsupported keywords {sorted(unknown)}")
        t = s.get("type")
        types = [t] if isinstance(t, str) else list(t) if isinstance(t, list) else []
        for ty in types:
            if ty not in _BITS:
                raise SchemaError(f"{file}: {hint}: unknown type {ty!r}")
        bits = sum({_BITS[ty] for ty in types})
        words = " or ".join(_ARTICLE[ty] for ty in types)
        out = [str(bits), repr("must be " + words if types else "")]
        if "enum" in s:
            vals = s["enum"]
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise SchemaError(f"{file}: {hint}: only enums of strings are supported")
            k = self.enums.setdefault(tuple(sorted(set(vals))), len(self.enums))
            desc = s.get("description")
            if isinstance(desc, str) and len(desc) < 40:
                msg = f"unknown {desc} "
            else:
                msg = f"must be one of {', '.join(vals)}; got "
            out += [str(OP_ENUM), f"({1 << k}, {msg!r})"]
        out += self._object(file, s, hint)
        out += self._array(file, s, hint)
        out += self._string(s)
        out += self._number(s, types)
        for op, kw in ((OP_ALL_OF, "allOf"), (OP_ANY_OF, "anyOf"), (OP_ONE_OF, "oneOf")):
            if kw in s:
                subs = [str(self.compile(file, sub, f"{hint}_{kw}{i}")) for i, sub in enumerate(s[kw])]
                out += [str(op), _tuple(subs)]
        return _tuple(out)

    def _object(self, file: str, s: dict[str, Any], hint: str) -> list[str]:
        out: list[str] = []
        props = s.get("properties") or {}
        required: list[str] = []
        for r in s.get("required") or []:
            word = self.type_word(file, props[r]) if r in props else "property"
            required += [repr(r), repr(f"required {word} is missing")]
        if required:
            out += [str(OP_REQUIRED), _tuple(required)]
        pats = s.get("patternProperties") or {}
        addl = s.get("additionalProperties", True)
        if not props and not pats and addl is True:
            return out
        table = "None"
        if props:
            nodes = [str(self.compile(file, v, f"{hint}_{k}")) for k, v in props.items()]
            table = _tuple([repr(k) for k in props] + nodes)
        if not pats and addl is True:
            return out + [str(OP_PROPERTIES), table]
        pat_checks = [_tuple([self.pattern(pt), str(self.compile(file, v, f"{hint}_pattern"))])
                      for pt, v in pats.items()]
        if addl is True:
            other = "None"
        elif addl is False:
            other = "-1"
        else:
            other = str(self.compile(file, addl, f"{hint}_additional"))
        return out + [str(OP_PROPERTIES_MORE), _tuple([table, _tuple(pat_checks), other])]

    def _array(self, file: str, s: dict[str, Any], hint: str) -> list[str]:
        out: list[str] = []
        if "minItems" in s:
            out += [str(OP_MIN_ITEMS), str(int(s["minItems"]))]
        if "maxItems" in s:
            out += [str(OP_MAX_ITEMS), str(int(s["maxItems"]))]
        items = s.get("items")
        if items is not None and items != {}:
            if not isinstance(items, dict):
                raise SchemaError(f"{file}: {hint}: only a single `items` schema is supported")
            out += [str(OP_ITEMS), str(self.compile(file, items, f"{hint}_item"))]
        return out

    def _string(self, s: dict[str, Any]) -> list[str]:
        out: list[str] = []
        if "minLength" in s:
            out += [str(OP_MIN_LENGTH), str(int(s["minLength"]))]
        if "maxLength" in s:
            out += [str(OP_MAX_LENGTH), str(int(s["maxLength"]))]
        if "pattern" in s:
            pat = s["pattern"]
            out += [str(OP_PATTERN), _tuple([self.pattern(pat), repr(f"must match {pat}, got ")])]
        return out

    def _number(self, s: dict[str, Any], types: list[str]) -> list[str]:
        out: list[str] = []
        if "minimum" in s:
            m = s["minimum"]
            excl = s.get("exclusiveMinimum") is True
            if types == ["integer"] and m == (0 if excl else 1):
                # for an integer, x < 1 is x <= 0
                out += [str(OP_POSITIVE), "0"]
            else:
                out += [str(OP_EXCL_MINIMUM if excl else OP_MINIMUM), repr(m)]
        if "maximum" in s:
            excl = s.get("exclusiveMaximum") is True
            out += [str(OP_EXCL_MAXIMUM if excl else OP_MAXIMUM), repr(s["maximum"])]
        return out

    def pattern(self, pat: str) -> str:
        """Source text of a pattern argument: `re.search(pat, s) is not None` as data for
        the matcher, or (beyond the matcher) the name of a function that uses re."""
        if pat in self.patterns:
            return self.patterns[pat]
        parsed = parse_pattern(pat)
        if parsed is None:
            name = f"_rx{len(self.funcs)}"
            self.funcs.append(f"def {name}(s: str) -> bool:\n"
                              f"    return _re_search({pat!r}, s)")
            text = name
        else:
            start, atoms, end = parsed
            text = _tuple([repr(start), _tuple([repr(a) for a in atoms]), repr(end)])
        self.patterns[pat] = text
        return text


_HEADER = '''"""GENERATED by pyruntime/spec/gen_validator.py from specs/*.json: do not edit.

Regenerate: `python -m pyruntime.spec.gen_validator`. The schema nodes are data
in `_N` (format: see gen_validator), checked by `_c(j, x, p, e)`: it appends
`(json path, problem)` to `e` for each violation of node `_N[j]` by value `x`
found at path `p`. Imports nothing.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Errors = list[tuple[str, str]]
    Check = Any
    Node = tuple[Any, ...]
    _E: dict[str, int]
    _N: tuple[Node, ...]


def _k(p: str, k: str) -> str:
    if k.isascii() and k.isidentifier():
        return f"{p}.{k}" if p else k
    return p + "[" + _quote(k) + "]"


def _quote(k: str) -> str:
    from _json import encode_basestring_ascii

    return str(encode_basestring_ascii(k))


def _search(s: str, start: bool, atoms: tuple[tuple[str, bool, int, int], ...], end: bool) -> bool:
    for i in range(1 if start else len(s) + 1):
        if _match(s, i, atoms, 0, end):
            return True
    return False


def _match(s: str, i: int, atoms: tuple[tuple[str, bool, int, int], ...], k: int, end: bool) -> bool:
    if k == len(atoms):
        n = len(s)
        return not end or i == n or (i == n - 1 and s[i] == "\\n")
    chars, neg, lo, hi = atoms[k]
    j, n = i, len(s)
    while j < n and (hi < 0 or j - i < hi) and ((s[j] in chars) is not neg):
        j += 1
    while j - i >= lo:
        if _match(s, j, atoms, k + 1, end):
            return True
        j -= 1
    return False


def _rx(r: Any, s: str) -> bool:
    # r: (anchored at start, atoms, anchored at end) for _search, or a function using re
    return _search(s, *r) if type(r) is tuple else bool(r(s))


def _re_search(pattern: str, s: str) -> bool:
    import re  # only for a pattern the generator could not compile

    return re.search(pattern, s) is not None


def _c(j: int, x: Any, p: str, e: Errors) -> None:
    n = _N[j]
    # the JSON types of x, as bits: object 1, array 2, string 4, integer 8, number 16, boolean 32, null 64
    t = _T.get(type(x))
    if t is None:  # a subclass: bool and those of int and float are no JSON number
        if isinstance(x, dict):
            t = 1
        elif isinstance(x, list):
            t = 2
        elif isinstance(x, str):
            t = 4
        else:
            t = 0
    if n[0] and not n[0] & t:
        e.append((p, n[1]))
        return
    i = 2
    while i < len(n):  # not range(): most nodes have no op, and it costs more than the loop
        op = n[i]
        a = n[i + 1]
        i += 2
        if op == 2:  # properties
            if t == 1:
                h = len(a) // 2
                for k, v in x.items():
                    if isinstance(k, str) and k in a:
                        g = a[a.index(k) + h]
                        if len(_N[g]) > 2 or not _N[g][0] & _T.get(type(v), 0):  # else a type check passed
                            _c(g, v, _k(p, k), e)
        elif op == 1:  # required
            if t == 1:
                for r in range(0, len(a), 2):
                    if a[r] not in x:
                        e.append((_k(p, a[r]), a[r + 1]))
        elif op == 6:  # items
            if t == 2:
                skip = len(_N[a]) == 2 and _N[a][0]  # a plain type check: run it here
                for r, v in enumerate(x):
                    if not skip & _T.get(type(v), 0):
                        _c(a, v, f"{p}[{r}]", e)
        elif op == 0:  # enum
            if not (t == 4 and _E.get(x, 0) & a[0]):
                e.append((p, a[1] + repr(x)))
        elif op == 3:  # properties, patternProperties, additionalProperties
            if t == 1:
                ks = a[0] or ()
                h = len(ks) // 2
                for k, v in x.items():
                    m = isinstance(k, str) and k in ks
                    if m:
                        _c(ks[ks.index(k) + h], v, _k(p, k), e)
                    for r, g in a[1]:
                        if _rx(r, k):
                            m = True
                            _c(g, v, _k(p, k), e)
                    if not m and a[2] is not None:
                        if a[2] < 0:
                            e.append((_k(p, k), "unknown field"))
                        else:
                            _c(a[2], v, _k(p, k), e)
        elif op < 6:  # minItems, maxItems
            if t == 2 and (len(x) < a if op == 4 else len(x) > a):
                e.append((p, f"must have at {'least' if op == 4 else 'most'} {a} item{'s' if a != 1 else ''}"))
        elif op < 9:  # minLength, maxLength
            if t == 4 and (len(x) < a if op == 7 else len(x) > a):
                e.append((p, f"must be at {'least' if op == 7 else 'most'} {a} character{'s' if a != 1 else ''} long"))
        elif op == 9:  # pattern
            if t == 4 and not _rx(a[0], x):
                e.append((p, a[1] + repr(x)))
        elif op < 15:  # minimum, exclusive minimum, maximum, exclusive maximum, positive integer
            if not t & 16:
                pass
            elif op == 10:
                if x < a:
                    e.append((p, f"must be at least {a}, got {x!r}"))
            elif op == 11:
                if x <= a:
                    e.append((p, f"must be greater than {a}, got {x!r}"))
            elif op == 12:
                if x > a:
                    e.append((p, f"must be at most {a}, got {x!r}"))
            elif op == 13:
                if x >= a:
                    e.append((p, f"must be less than {a}, got {x!r}"))
            elif x < 1:
                e.append((p, "must be a positive integer"))
        elif op == 15:  # allOf
            for g in a:
                _c(g, x, p, e)
        elif op == 16:
            _anyof(x, p, e, a)
        else:
            _oneof(x, p, e, a)


_T = {dict: 1, list: 2, str: 4, int: 24, float: 16, bool: 32, type(None): 64}


def _entry(j: int) -> Check:
    def check(x: Any, p: str, e: Errors) -> None:
        _c(j, x, p, e)

    return check


def _anyof(x: Any, p: str, e: Errors, fs: tuple[int, ...]) -> None:
    first: Errors = []
    for f in fs:
        sub: Errors = []
        _c(f, x, p, sub)
        if not sub:
            return
        first = first or sub
    e.append((p, f"matches none of the {len(fs)} allowed forms (first: {first[0][0] or '(top level)'}: {first[0][1]})"))


def _oneof(x: Any, p: str, e: Errors, fs: tuple[int, ...]) -> None:
    ok = 0
    first: Errors = []
    for f in fs:
        sub: Errors = []
        _c(f, x, p, sub)
        if sub:
            first = first or sub
        else:
            ok += 1
    if ok == 0:
        e.append((p, f"matches none of the {len(fs)} allowed forms (first: {first[0][0] or '(top level)'}: {first[0][1]})"))
    elif ok > 1:
        e.append((p, f"matches {ok} of the allowed forms, must match exactly one"))
'''


def load_specs(specs: str = SPECS) -> dict[str, Any]:
    docs: dict[str, Any] = {}
    for fn in sorted(os.listdir(specs)):
        if fn.endswith(".json"):
            with open(os.path.join(specs, fn), encoding="utf-8") as f:
                docs[fn] = json.load(f)
    return docs


def generate(specs: str = SPECS, roots: dict[str, str] | None = None) -> str:
    c = Compiler(load_specs(specs))
    entries = [(entry, c.compile(root, {"$ref": f"{root}#"}, entry)) for entry, root in (roots or ROOTS).items()]
    parts = [_HEADER.rstrip("\n")]
    parts.extend("\n\n" + f for f in c.funcs)
    parts.append("\n")
    # every enum in one dict, value -> bits of the enums that hold it: a dict per enum (or a
    # frozenset) costs several times the memory for the same hashed lookup
    bits: dict[str, int] = {}
    for vals, k in c.enums.items():
        for v in vals:
            bits[v] = bits.get(v, 0) | 1 << k
    # _E is built from two constants: a dict literal would be an instruction and a
    # line-table entry per value, (key, value) pairs a tuple each, all thrown away after import
    values = sorted(bits)
    parts.append("_E = dict(zip((")
    parts.extend(f"    {v!r}," for v in values)
    parts.append("), (")
    parts.append(_wrap([str(bits[v]) for v in values]))
    parts.append("), strict=True))")
    parts.append("_N = (")
    parts.extend(f"    {text},  # {j} {hint}" for j, (text, hint) in enumerate(zip(c.nodes, c.hints, strict=True)))
    parts.append(")")
    parts.append("")
    parts.extend(f"{entry} = _entry({j})" for entry, j in entries)
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        with open(OUTPUT, encoding="utf-8") as f:
            if f.read() != text:
                print(f"{OUTPUT} is stale: run python -m pyruntime.spec.gen_validator", file=sys.stderr)
                return 1
        return 0
    with open(OUTPUT, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
