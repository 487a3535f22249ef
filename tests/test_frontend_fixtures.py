"""The JavaScript tests' fixtures are what the service makes today (no drift)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from frontend_fixtures import CATALOG, FIXTURE, make, make_catalog


def assert_same(kept: Any, made: Any, path: str = "") -> None:
    """The same JSON, every key, string and integer exactly and every float to 12 digits: the
    fixture's float64 sums were made on one CPU, and another's BLAS may round the last bit
    otherwise (an AMD EPYC: -0.01975349980933693 against ...694, 3.5e-16 apart)."""
    if isinstance(kept, dict) and isinstance(made, dict):
        assert kept.keys() == made.keys(), (path, sorted(kept.keys() ^ made.keys()))
        for key in kept:
            assert_same(kept[key], made[key], f"{path}/{key}")
    elif isinstance(kept, list) and isinstance(made, list):
        assert len(kept) == len(made), (path, len(kept), len(made))
        for i, (a, b) in enumerate(zip(kept, made, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(kept, float) or isinstance(made, float):
        assert type(kept) is type(made) and math.isclose(kept, made, rel_tol=1e-12, abs_tol=1e-300), (
            path,
            kept,
            made,
        )
    else:
        assert kept == made, (path, kept, made)


def test_explain_fixture_is_current() -> None:
    kept = json.loads(FIXTURE.read_text())
    assert_same(kept, json.loads(make())), "run: python tests/frontend_fixtures.py"
    # and a drift is seen: one number moved in its 9th digit
    moved = json.loads(make())
    moved["layers"][3]["output"]["values"][0] *= 1 + 1e-9
    with pytest.raises(AssertionError):
        assert_same(kept, moved)


def test_catalog_fixture_is_what_the_api_serves() -> None:
    assert CATALOG.read_text() == make_catalog(), "run: python tests/frontend_fixtures.py"
