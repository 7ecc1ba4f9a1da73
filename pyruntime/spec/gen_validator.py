"""Compile the JSON schemas in specs/ into plain Python: pyruntime/spec/_schema_validator.py.

`create` validates every config.json against specs/config-schema.json, but
importing jsonschema costs ~120 ms (and `re` ~5 ms). This generator, run at
development time, turns each schema node into a small Python function, so the
hot path only imports one .pyc. The generated file is committed; a unit test
regenerates it and fails when it is stale. Run:

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
_CHECK = {
    "object": "isinstance(x, dict)",
    "array": "isinstance(x, list)",
    "string": "isinstance(x, str)",
    "integer": "type(x) is int",
    "number": "type(x) is int or type(x) is float",
    "boolean": "x is True or x is False",
    "null": "x is None",
}
_NOT = {
    "object": "not isinstance(x, dict)",
    "array": "not isinstance(x, list)",
    "string": "not isinstance(x, str)",
    "integer": "type(x) is not int",
    "number": "type(x) is not int and type(x) is not float",
    "boolean": "x is not True and x is not False",
    "null": "x is not None",
}
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

class Compiler:
    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.names: dict[str, str] = {}  # canonical schema key -> function name
        self.used: set[str] = set()
        self.funcs: list[str] = []
        self.consts: list[str] = []
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

    # -- naming
    def _name(self, hint: str) -> str:
        base = "_v_" + "".join(c if c.isalnum() else "_" for c in hint).strip("_")
        name, k = base, 2
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name

    def _const(self, prefix: str, value: str) -> str:
        name = f"_{prefix}{len(self.consts)}"
        self.consts.append(f"{name} = {value}")
        return name

    # -- compilation
    def compile(self, file: str, schema: Any, hint: str) -> str:
        """Return the name of a function `f(x, p, e)` that checks `schema`."""
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
        if key in self.names:
            return self.names[key]
        if set(keyed) == {"type"} and isinstance(schema["type"], str):
            hint = "type_" + schema["type"]  # plain type checks are shared
        name = self._name(hint)
        self.names[key] = name
        self.funcs.append("")  # placeholder keeps definition order stable
        slot = len(self.funcs) - 1
        self.funcs[slot] = self._body(name, file, schema, hint)
        return name

    def _body(self, name: str, file: str, s: dict[str, Any], hint: str) -> str:
        unknown = set(s) - _KNOWN
        if unknown:
            raise SchemaError(f"{file}: {hint}: unsupported keywords {sorted(unknown)}")
        out = [f"def {name}(x: Any, p: str, e: Errors) -> None:"]
        t = s.get("type")
        types = [t] if isinstance(t, str) else list(t) if isinstance(t, list) else []
        for ty in types:
            if ty not in _CHECK:
                raise SchemaError(f"{file}: {hint}: unknown type {ty!r}")
        if types:
            cond = " and ".join(_NOT[ty] for ty in types)
            words = " or ".join(_ARTICLE[ty] for ty in types)
            out.append(f"    if {cond}:")
            out.append(f"        e.append((p, {('must be ' + words)!r}))")
            out.append("        return")
        if "enum" in s:
            vals = s["enum"]
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise SchemaError(f"{file}: {hint}: only enums of strings are supported")
            const = self._const("E", "frozenset(" + repr(sorted(vals)) + ")")
            desc = s.get("description")
            if isinstance(desc, str) and len(desc) < 40:
                msg = f"f'unknown {desc} {{x!r}}'"
            else:
                msg = f"f'must be one of {', '.join(vals)}; got {{x!r}}'"
            out.append(f"    if not (isinstance(x, str) and x in {const}):")
            out.append(f"        e.append((p, {msg}))")
        sections = [
            ("object", self._object(file, s, hint)),
            ("array", self._array(file, s, hint)),
            ("string", self._string(file, s, hint)),
            ("number", self._number(s, types)),
        ]
        for ty, lines in sections:
            if not lines:
                continue
            if types == [ty] or (ty == "number" and types == ["integer"]):
                out.extend("    " + ln for ln in lines)
            elif types and ty not in types and not (ty == "number" and "integer" in types):
                continue  # the type check above already refused every other type
            else:
                out.append(f"    if {_CHECK[ty]}:")
                out.extend("        " + ln for ln in lines)
        for kw in ("allOf", "anyOf", "oneOf"):
            if kw not in s:
                continue
            subs = [self.compile(file, sub, f"{hint}_{kw}{i}") for i, sub in enumerate(s[kw])]
            const = self._const("C", "(" + "".join(f"{f}, " for f in subs) + ")")
            if kw == "allOf":
                out.append(f"    for f in {const}:")
                out.append("        f(x, p, e)")
            else:
                out.append(f"    _{kw.lower()}(x, p, e, {const})")
        if len(out) == 1:
            out.append("    pass")
        elif out[-1] == "        return":
            out.pop()
        return "\n".join(out)

    def _object(self, file: str, s: dict[str, Any], hint: str) -> list[str]:
        lines: list[str] = []
        props = s.get("properties") or {}
        for r in s.get("required") or []:
            word = self.type_word(file, props[r]) if r in props else "property"
            lines.append(f"if {r!r} not in x:")
            lines.append(f"    e.append((_k(p, {r!r}), 'required {word} is missing'))")
        pats = s.get("patternProperties") or {}
        addl = s.get("additionalProperties", True)
        if not props and not pats and addl is True:
            return lines
        table = None
        if props:
            entries = [f"{k!r}: {self.compile(file, v, f'{hint}_{k}')}" for k, v in props.items()]
            table = self._const("P", "{" + ", ".join(entries) + "}")
        pat_checks = [(self.pattern(pt), self.compile(file, v, f"{hint}_pattern")) for pt, v in pats.items()]
        addl_fn = None
        if addl is not True and addl is not False:
            addl_fn = self.compile(file, addl, f"{hint}_additional")
        lines.append("for k, v in x.items():")
        if table:
            lines.append(f"    f = {table}.get(k)")
            lines.append("    if f is not None:")
            lines.append("        f(v, _k(p, k), e)")
        if addl is True and not pat_checks:
            return lines
        unmatched = "f is None" if table else None
        if pat_checks:
            track = addl is not True
            if track:
                lines.append("    m = False" if not table else "    m = f is not None")
            for rx, fn in pat_checks:
                lines.append(f"    if {rx}(k):")
                if track:
                    lines.append("        m = True")
                lines.append(f"        {fn}(v, _k(p, k), e)")
            unmatched = "not m"
        indent = "    "
        if unmatched and addl is not True:
            lines.append(f"    if {unmatched}:")
            indent = "        "
        if addl is False:
            lines.append(f"{indent}e.append((_k(p, k), 'unknown field'))")
        elif addl_fn:
            lines.append(f"{indent}{addl_fn}(v, _k(p, k), e)")
        return lines

    def _array(self, file: str, s: dict[str, Any], hint: str) -> list[str]:
        lines: list[str] = []
        if "minItems" in s:
            n = int(s["minItems"])
            lines.append(f"if len(x) < {n}:")
            lines.append(f"    e.append((p, 'must have at least {n} item{'s' if n != 1 else ''}'))")
        if "maxItems" in s:
            n = int(s["maxItems"])
            lines.append(f"if len(x) > {n}:")
            lines.append(f"    e.append((p, 'must have at most {n} item{'s' if n != 1 else ''}'))")
        items = s.get("items")
        if items is not None and items != {}:
            if not isinstance(items, dict):
                raise SchemaError(f"{file}: {hint}: only a single `items` schema is supported")
            fn = self.compile(file, items, f"{hint}_item")
            lines.append("for i, v in enumerate(x):")
            lines.append(f"    {fn}(v, f'{{p}}[{{i}}]', e)")
        return lines

    def _string(self, file: str, s: dict[str, Any], hint: str) -> list[str]:
        lines: list[str] = []
        if "minLength" in s:
            n = int(s["minLength"])
            lines.append(f"if len(x) < {n}:")
            lines.append(f"    e.append((p, 'must be at least {n} character{'s' if n != 1 else ''} long'))")
        if "maxLength" in s:
            n = int(s["maxLength"])
            lines.append(f"if len(x) > {n}:")
            lines.append(f"    e.append((p, 'must be at most {n} character{'s' if n != 1 else ''} long'))")
        if "pattern" in s:
            pat = s["pattern"]
            lines.append(f"if not {self.pattern(pat)}(x):")
            lines.append(f"    e.append((p, {('must match ' + pat + ', got ')!r} + repr(x)))")
        return lines

    def _number(self, s: dict[str, Any], types: list[str]) -> list[str]:
        lines: list[str] = []
        if "minimum" in s:
            m = s["minimum"]
            excl = s.get("exclusiveMinimum") is True
            if types == ["integer"] and m == (0 if excl else 1):
                msg = "'must be a positive integer'"
            else:
                msg = f"f'must be {'greater than' if excl else 'at least'} {m}, got {{x!r}}'"
            lines.append(f"if x {'<=' if excl else '<'} {m!r}:")
            lines.append(f"    e.append((p, {msg}))")
        if "maximum" in s:
            m = s["maximum"]
            excl = s.get("exclusiveMaximum") is True
            msg = f"f'must be {'less than' if excl else 'at most'} {m}, got {{x!r}}'"
            lines.append(f"if x {'>=' if excl else '>'} {m!r}:")
            lines.append(f"    e.append((p, {msg}))")
        return lines

    def pattern(self, pat: str) -> str:
        """The name of a function `f(s) -> bool` equal to `re.search(pat, s) is not None`."""
        if pat in self.patterns:
            return self.patterns[pat]
        name = f"_rx{len(self.patterns)}"
        self.patterns[pat] = name
        parsed = parse_pattern(pat)
        if parsed is None:
            self.funcs.append(f"def {name}(s: str) -> bool:\n"
                              f"    return _re_search({pat!r}, s)")
        else:
            start, atoms, end = parsed
            table = "(" + "".join(f"({c!r}, {n!r}, {lo}, {hi}), " for c, n, lo, hi in atoms) + ")"
            self.funcs.append(f"def {name}(s: str) -> bool:  # {pat}\n"
                              f"    return _search(s, {start!r}, {table}, {end!r})")
        return name


_HEADER = '''"""GENERATED by pyruntime/spec/gen_validator.py from specs/*.json: do not edit.

Regenerate: `python -m pyruntime.spec.gen_validator`. Each function checks one
schema node: `f(x, p, e)` appends `(json path, problem)` to `e` for each
violation of value `x` found at path `p`. Imports nothing (see gen_validator).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Errors = list[tuple[str, str]]
    Check = Any


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


def _re_search(pattern: str, s: str) -> bool:
    import re  # only for a pattern the generator could not compile

    return re.search(pattern, s) is not None


def _anyof(x: Any, p: str, e: Errors, fs: tuple[Check, ...]) -> None:
    first: Errors = []
    for f in fs:
        sub: Errors = []
        f(x, p, sub)
        if not sub:
            return
        first = first or sub
    e.append((p, f"matches none of the {len(fs)} allowed forms (first: {first[0][0] or '(top level)'}: {first[0][1]})"))


def _oneof(x: Any, p: str, e: Errors, fs: tuple[Check, ...]) -> None:
    ok = 0
    first: Errors = []
    for f in fs:
        sub: Errors = []
        f(x, p, sub)
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
    parts = [_HEADER]
    parts.extend("\n\n" + f for f in c.funcs)
    parts.append("\n")
    parts.extend(c.consts)
    parts.append("")
    parts.extend(f"{entry} = {fn}" for entry, fn in entries)
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
