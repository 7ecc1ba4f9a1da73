"""capabilities.masks: the three kinds of names and the restricted caller,
with the kernel's cap_last_cap and the caller's bounding set faked (the
kernels here know every capability; what a container sees with a real
restricted caller: tests/conformance/test_config_process.py)."""

from __future__ import annotations

import pytest

from pyruntime import capabilities
from pyruntime.errors import ConfigError
from pyruntime.log import log

ALL = (1 << len(capabilities.NAMES)) - 1
KILL, SYS_ADMIN, BPF, CHECKPOINT = 1 << 5, 1 << 21, 1 << 39, 1 << 40


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(log, "warning", seen.append)
    return seen


def kernel(monkeypatch: pytest.MonkeyPatch, last: int) -> None:
    monkeypatch.setattr(capabilities, "last_cap", lambda: last)


def test_known_names_make_the_masks(monkeypatch: pytest.MonkeyPatch, warnings: list[str]) -> None:
    kernel(monkeypatch, 40)
    m = capabilities.masks({"bounding": ["CAP_KILL", "CAP_SYS_ADMIN"], "effective": ["CAP_KILL"]}, held=ALL)
    assert m == {"bounding": KILL | SYS_ADMIN, "effective": KILL, "inheritable": 0, "permitted": 0, "ambient": 0}
    assert warnings == []


def test_a_name_that_is_not_a_capability_is_an_error_naming_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel(monkeypatch, 40)
    with pytest.raises(ConfigError) as e:
        capabilities.masks({"ambient": ["CAP_KILL", "CAP_TEST"]}, held=ALL, source="/b/config.json")
    assert e.value.field == "process.capabilities.ambient[1]"
    assert e.value.msg == "/b/config.json: process.capabilities.ambient[1]: 'CAP_TEST' is not a capability " \
                          "(capabilities(7))"


def test_a_capability_the_kernel_lacks_is_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                    warnings: list[str]) -> None:
    """Linux 5.8 has CAP_BPF (39) but not CAP_CHECKPOINT_RESTORE (40): runc 1.2's rule."""
    kernel(monkeypatch, 39)
    m = capabilities.masks({"bounding": ["CAP_BPF", "CAP_CHECKPOINT_RESTORE"],
                            "permitted": ["CAP_CHECKPOINT_RESTORE"]}, held=ALL)
    assert m["bounding"] == BPF and m["permitted"] == 0
    assert len(warnings) == 1 and "['CAP_CHECKPOINT_RESTORE']" in warnings[0], warnings


def test_an_unknown_name_on_a_newer_kernel_may_be_real_so_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                                    warnings: list[str]) -> None:
    """A kernel with capabilities past CAP_CHECKPOINT_RESTORE: a name this
    list lacks may be one of them, so not refused."""
    kernel(monkeypatch, 41)
    m = capabilities.masks({"bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"]}, held=ALL)
    assert m["bounding"] == KILL
    assert len(warnings) == 1 and "CAP_FROM_THE_FUTURE" in warnings[0], warnings


def test_what_the_caller_cannot_hold_is_left_out_of_every_set(monkeypatch: pytest.MonkeyPatch,
                                                              warnings: list[str]) -> None:
    kernel(monkeypatch, 40)
    sets = {s: ["CAP_KILL", "CAP_SYS_ADMIN"] for s in capabilities.SETS}
    m = capabilities.masks(sets, held=ALL & ~SYS_ADMIN)
    assert m == dict.fromkeys(capabilities.SETS, KILL)
    assert len(warnings) == 1 and "['CAP_SYS_ADMIN']" in warnings[0], warnings


def test_held_bounding_asks_for_each_wanted_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    """One PR_CAPBSET_READ per wanted capability (the real kernel's answer:
    tests/integration/test_security_caps.py); EINVAL past cap_last_cap is
    "not held"."""
    asked: list[int] = []

    class Kernel:
        def prctl(self, option: int, cap: int = 0, *_: int) -> int:
            assert option == 23  # PR_CAPBSET_READ
            asked.append(cap)
            if cap > 40:
                raise OSError(22, "EINVAL")
            return 0 if cap == 21 else 1

    monkeypatch.setattr(capabilities.sc, "sys", Kernel)
    assert capabilities.held_bounding(1 << 5 | 1 << 21 | 1 << 41) == 1 << 5
    assert asked == [5, 21, 41]
