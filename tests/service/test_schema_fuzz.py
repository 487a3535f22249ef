"""The API schema tells the truth: schemathesis with every check against a live server finds
nothing (a short run here; bench/schema_fuzz.py runs a long one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


def test_schemathesis_all_checks_find_nothing(tmp_path: Path) -> None:
    assert importlib.util.find_spec("schemathesis") is not None, "schemathesis is a dev dependency"
    from schema_fuzz import fuzz

    code, requests, summary = fuzz(examples=25, seed=1, work=tmp_path)
    assert code == 0, summary  # schemathesis exits non-zero on any failure of any check
    assert requests >= 1000, f"only {requests} requests: {summary}"
    assert "Traceback" not in (tmp_path / "server.log").read_text()
