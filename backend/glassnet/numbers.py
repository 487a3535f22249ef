"""How numbers are written where a person reads them: one rule for the command line and the API's
sentences, the same as the dashboard's (``percent`` in frontend/js/learnmath.js)."""

from __future__ import annotations

import math


def cut_percent(p: float, counted: bool = False) -> str:
    """A probability or an accuracy as a percentage with one decimal, cut, never rounded up, so
    0.999991 reads 99.9%, not 100.0%; a probability of 1 is float rounding (a softmax is never 1)
    and reads >99.9%, an accuracy (``counted``: k of n right) of 1 reads 100%."""
    tenths = math.floor(p * 1000 + 1e-9)
    if tenths >= 1000:
        return "100%" if counted and p >= 1 else ">99.9%"
    return f"{tenths / 10:.1f}%"
