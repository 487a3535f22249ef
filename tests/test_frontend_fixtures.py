"""The JavaScript tests' fixtures are what the service makes today (no drift)."""

from __future__ import annotations

from frontend_fixtures import FIXTURE, make


def test_explain_fixture_is_current() -> None:
    assert FIXTURE.read_text() == make(), "run: python tests/frontend_fixtures.py"
