"""Go-style flag parsing, as runc's urfave/cli does it.

- `-flag` and `--flag` are the same; `--flag=v` and `--flag v` for values;
  bool flags take no separate value but accept `--flag=true|false`.
- Flags may follow positional arguments (urfave/cli reorders them), except
  for commands that pass the rest through (`exec ID cmd -x`): there parsing
  stops at the first positional argument.
- `--` ends the flags.
"""

from __future__ import annotations

from pyruntime.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Flag:
    """One flag: kind is bool | str | int | list. (Plain class: importing
    dataclasses costs ~7 ms on every command.)"""

    __slots__ = ("name", "kind", "aliases", "default", "help")

    def __init__(self, name: str, kind: str = "bool", aliases: tuple[str, ...] = (),
                 default: Any = None, help: str = "") -> None:
        self.name = name
        self.kind = kind
        self.aliases = aliases
        self.default = default
        self.help = help


class Parsed:
    __slots__ = ("values", "args")

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.args: list[str] = []

    def get(self, name: str) -> Any:
        return self.values.get(name)


_TRUE = {"1", "t", "T", "true", "TRUE", "True"}
_FALSE = {"0", "f", "F", "false", "FALSE", "False"}


def _go_int(s: str) -> int:
    """Go's strconv.ParseInt(s, 0, 64): like int(s, 0), but a leading 0 means octal."""
    digits = s.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1:].isdigit():
        return int(s[: len(s) - len(digits)] + "0o" + digits[1:], 0)
    return int(s, 0)


def parse(argv: list[str], flags: list[Flag], *, stop_at_positional: bool = False) -> Parsed:
    table: dict[str, Flag] = {}
    for f in flags:
        table[f.name] = f
        for a in f.aliases:
            table[a] = f
    out = Parsed({f.name: ([] if f.kind == "list" else f.default) for f in flags})
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            out.args.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            out.args.append(arg)
            if stop_at_positional:
                out.args.extend(argv[i:])
                break
            continue
        name = arg.lstrip("-")
        if arg.startswith("---") or not name:
            raise UsageError(f"bad flag syntax: {arg}")
        value: str | None = None
        if "=" in name:
            name, value = name.split("=", 1)
        found = table.get(name)
        if found is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        f = found
        if f.kind == "bool":
            if value is None:
                out.values[f.name] = True
            elif value in _TRUE:
                out.values[f.name] = True
            elif value in _FALSE:
                out.values[f.name] = False
            else:
                raise UsageError(f'invalid boolean value "{value}" for -{name}')
            continue
        if value is None:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if f.kind == "int":
            try:
                out.values[f.name] = _go_int(value)
            except ValueError:
                raise UsageError(f'invalid value "{value}" for flag -{name}') from None
        elif f.kind == "list":
            out.values[f.name].append(value)
        else:
            out.values[f.name] = value
    return out
