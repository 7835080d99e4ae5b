"""The restart backoff: 1 s doubling up to 30 s, back to 1 s after a healthy run."""

from __future__ import annotations

import pytest

from services.up.backoff import Backoff


def test_quick_deaths_double_the_delay_up_to_the_ceiling() -> None:
    backoff = Backoff()
    assert [backoff.next(lived=2.0) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_run_as_long_as_the_ceiling_starts_over() -> None:
    backoff = Backoff(first=0.5, longest=4.0)
    assert [backoff.next(0.1) for _ in range(3)] == [0.5, 1.0, 2.0]
    assert backoff.next(lived=4.0) == 0.5
    assert backoff.next(lived=3.9) == 1.0


@pytest.mark.parametrize(("first", "longest"), [(0, 1), (-1, 1), (2, 1)])
def test_nonsense_delays_are_refused(first: float, longest: float) -> None:
    with pytest.raises(ValueError, match="first <= longest"):
        Backoff(first, longest)
