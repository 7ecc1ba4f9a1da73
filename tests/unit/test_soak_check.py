"""tests/support/soak.py's judgement on made-up samples: each kind of growth is caught."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.soak import MEM_GROWTH_PER_CYCLE, Sample, problems, slope

BASE = Sample(cycle=0, state_dirs=0, cgroup_dirs=0, mounts_ours=0, processes=0, zombies=0, own_fds=5,
              mem_charged=0, file_nr=600, mounts_total=21, mem_available=1 << 34)


def series(cycles: int = 100, **grow: int) -> list[Sample]:
    """Samples every 10 cycles; grow: field -> increase per sample."""
    out = [BASE]
    for k in range(1, cycles // 10 + 1):
        out.append(replace(BASE, cycle=10 * k, **{f: getattr(BASE, f) + k * d for f, d in grow.items()}))
    return out


def test_flat_is_fine() -> None:
    assert problems(series(), 100) == []


@pytest.mark.parametrize("field", ["state_dirs", "cgroup_dirs", "mounts_ours", "processes", "zombies",
                                   "own_fds"])
def test_each_leak_is_caught(field: str) -> None:
    found = problems(series(**{field: 1}), 100)
    assert len(found) == 1 and found[0].startswith(field)


def test_memory_trend_is_caught_but_noise_is_not() -> None:
    leak = series(mem_charged=10 * MEM_GROWTH_PER_CYCLE * 2)
    assert any("memory" in p for p in problems(leak, 100))
    noisy = [replace(s, mem_charged=(300_000 if i % 2 else 0)) for i, s in enumerate(series())]
    assert problems(noisy, 100) == []


def test_host_wide_numbers_are_not_judged() -> None:
    assert problems(series(file_nr=50, mounts_total=3, mem_available=-(1 << 20)), 100) == []


def test_slope() -> None:
    assert slope([0, 1, 2], [1, 3, 5]) == pytest.approx(2)
    assert slope([1], [1]) == 0
