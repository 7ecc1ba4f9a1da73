"""cli/flags.py: Go-style (urfave/cli) flag parsing."""

from __future__ import annotations

import pytest

from pyruntime.cli.flags import Flag, parse
from pyruntime.errors import UsageError

FLAGS = [
    Flag("force", aliases=("f",)),
    Flag("detach", aliases=("d",), default=False),
    Flag("root", "str", default="/run/x"),
    Flag("n", "int", default=3),
    Flag("env", "list", aliases=("e",)),
]


@pytest.mark.parametrize("arg", ["-force", "--force", "-f", "--f"])
def test_bool_single_and_double_dash(arg: str) -> None:
    p = parse([arg], FLAGS)
    assert p.get("force") is True
    assert p.args == []


def test_defaults_when_absent() -> None:
    p = parse([], FLAGS)
    assert p.get("force") is None
    assert p.get("detach") is False
    assert p.get("root") == "/run/x"
    assert p.get("n") == 3
    assert p.get("env") == []
    assert p.get("nonexistent") is None


@pytest.mark.parametrize("argv", [["--root=/a"], ["--root", "/a"], ["-root", "/a"], ["-root=/a"]])
def test_value_forms(argv: list[str]) -> None:
    assert parse(argv, FLAGS).get("root") == "/a"


def test_value_may_contain_equals_and_start_with_dash() -> None:
    assert parse(["--root=a=b"], FLAGS).get("root") == "a=b"
    assert parse(["--root", "-x"], FLAGS).get("root") == "-x"
    assert parse(["--root="], FLAGS).get("root") == ""


@pytest.mark.parametrize(("value", "want"), [
    ("true", True), ("True", True), ("TRUE", True), ("t", True), ("T", True), ("1", True),
    ("false", False), ("False", False), ("FALSE", False), ("f", False), ("F", False), ("0", False),
])
def test_bool_explicit_values(value: str, want: bool) -> None:
    assert parse([f"--detach={value}"], FLAGS).get("detach") is want


def test_bool_false_after_true() -> None:
    assert parse(["--detach", "--detach=false"], FLAGS).get("detach") is False


def test_bool_does_not_take_next_argument() -> None:
    p = parse(["--detach", "false"], FLAGS)
    assert p.get("detach") is True
    assert p.args == ["false"]


@pytest.mark.parametrize("value", ["yes", "no", "2", "", "on"])
def test_bad_bool_value(value: str) -> None:
    with pytest.raises(UsageError) as e:
        parse([f"--detach={value}"], FLAGS)
    assert str(e.value) == f'invalid boolean value "{value}" for -detach'


def test_bad_bool_value_names_the_alias_used() -> None:
    with pytest.raises(UsageError, match=r'invalid boolean value "x" for -d$'):
        parse(["-d=x"], FLAGS)


@pytest.mark.parametrize(("arg", "name"), [("--nope", "nope"), ("-nope", "nope"), ("--nope=1", "nope"),
                                           ("-F", "F")])
def test_unknown_flag(arg: str, name: str) -> None:
    with pytest.raises(UsageError) as e:
        parse([arg], FLAGS)
    assert str(e.value) == f"flag provided but not defined: -{name}"


@pytest.mark.parametrize("arg", ["---force", "---"])
def test_bad_flag_syntax(arg: str) -> None:
    with pytest.raises(UsageError, match="bad flag syntax"):
        parse([arg], FLAGS)


@pytest.mark.parametrize("argv", [["--root"], ["--n"], ["-e"], ["a", "--root"]])
def test_missing_value(argv: list[str]) -> None:
    with pytest.raises(UsageError) as e:
        parse(argv, FLAGS)
    name = argv[-1].lstrip("-")
    assert str(e.value) == f"flag needs an argument: -{name}"


@pytest.mark.parametrize(("value", "want"), [("5", 5), ("-2", -2), ("0", 0), ("0x10", 16), ("0o17", 15),
                                             ("0b101", 5)])
def test_int_flag(value: str, want: int) -> None:
    assert parse(["--n", value], FLAGS).get("n") == want
    assert parse([f"--n={value}"], FLAGS).get("n") == want


@pytest.mark.parametrize("value", ["abc", "1.5", "", "12x"])
def test_bad_int(value: str) -> None:
    with pytest.raises(UsageError) as e:
        parse([f"--n={value}"], FLAGS)
    assert str(e.value) == f'invalid value "{value}" for flag -n'


def test_int_flag_leading_zero_is_octal_like_go() -> None:
    assert parse(["--n", "010"], FLAGS).get("n") == 8


def test_list_flag_accumulates_in_order() -> None:
    p = parse(["-e", "A=1", "--env=B=2", "--e", "C=3"], FLAGS)
    assert p.get("env") == ["A=1", "B=2", "C=3"]


def test_list_default_is_fresh_per_parse() -> None:
    parse(["-e", "A=1"], FLAGS)
    assert parse([], FLAGS).get("env") == []


def test_double_dash_ends_flags() -> None:
    p = parse(["--force", "--", "--root", "-x", "--"], FLAGS)
    assert p.get("force") is True
    assert p.get("root") == "/run/x"
    assert p.args == ["--root", "-x", "--"]


def test_single_dash_is_positional() -> None:
    assert parse(["-", "--force"], FLAGS).args == ["-"]


def test_flags_after_positionals_are_parsed() -> None:
    p = parse(["ctr", "--force", "extra", "--root", "/r", "more"], FLAGS)
    assert p.get("force") is True
    assert p.get("root") == "/r"
    assert p.args == ["ctr", "extra", "more"]


def test_stop_at_positional_passes_the_rest_through() -> None:
    p = parse(["--force", "ctr", "cmd", "--root", "/r", "-x", "--"], FLAGS, stop_at_positional=True)
    assert p.get("force") is True
    assert p.get("root") == "/run/x"
    assert p.args == ["ctr", "cmd", "--root", "/r", "-x", "--"]


def test_stop_at_positional_still_errors_before_positional() -> None:
    with pytest.raises(UsageError, match="flag provided but not defined: -zz"):
        parse(["--zz", "ctr"], FLAGS, stop_at_positional=True)


def test_stop_at_positional_unknown_flag_after_positional_is_an_arg() -> None:
    p = parse(["ctr", "--zz"], FLAGS, stop_at_positional=True)
    assert p.args == ["ctr", "--zz"]


def test_usage_error_is_a_pyruntime_error() -> None:
    from pyruntime.errors import PyruntimeError

    with pytest.raises(PyruntimeError):
        parse(["--nope"], FLAGS)
