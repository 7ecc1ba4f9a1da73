"""state/ids.check_id: runc's container id rules."""

from __future__ import annotations

import pytest

from pyruntime.errors import InvalidId, PyruntimeError
from pyruntime.state.ids import MAX_ID_LEN, check_id


@pytest.mark.parametrize("cid", ["a", "abc123", "A.b_c+d-e", "1", "-x", ".a", "a..b", "x" * MAX_ID_LEN,
                                 "container_1.2+3-4"])
def test_valid(cid: str) -> None:
    assert check_id(cid) == cid


def test_empty() -> None:
    with pytest.raises(InvalidId) as e:
        check_id("")
    assert str(e.value) == "container id cannot be empty"


def test_too_long() -> None:
    with pytest.raises(InvalidId) as e:
        check_id("x" * (MAX_ID_LEN + 1))
    assert str(e.value) == "invalid container ID format: longer than 255 characters"
    assert MAX_ID_LEN == 255


@pytest.mark.parametrize("cid", ["../x", "a/b", "/abs", ".", "..", "a b", "a\nb", "é", "a:b", "a*",
                                 "tab\t", "x/"])
def test_invalid_format(cid: str) -> None:
    with pytest.raises(InvalidId) as e:
        check_id(cid)
    assert str(e.value) == f"invalid container ID format: {cid!r} (allowed: letters, digits, _ + - .)"
    assert isinstance(e.value, PyruntimeError)


def test_trailing_newline_refused() -> None:
    with pytest.raises(InvalidId):
        check_id("abc\n")
