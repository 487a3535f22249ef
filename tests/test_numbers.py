"""glassnet.numbers: percentages cut, never rounded up, the dashboard's rule (learnmath.js percent),
as `glassnet predict`, `glassnet evaluate` and the API's sentences write them."""

from __future__ import annotations

import pytest

from glassnet.numbers import cut_percent


@pytest.mark.parametrize(
    ("p", "counted", "written"),
    [
        (0.999991, False, "99.9%"),
        (0.99999, False, "99.9%"),
        (0.9997, False, "99.9%"),
        (0.98765, True, "98.7%"),
        (1.0, False, ">99.9%"),
        (1.0, True, "100%"),
        (0.9748, True, "97.4%"),
        (0.5, False, "50.0%"),
        (0.0, False, "0.0%"),
        (0.123456, False, "12.3%"),
    ],
)
def test_cut_never_rounded_up(p: float, counted: bool, written: str) -> None:
    assert cut_percent(p, counted) == written
