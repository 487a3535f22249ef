"""The JavaScript tests' fixtures are what the service makes today (no drift)."""

from __future__ import annotations

from frontend_fixtures import CATALOG, FIXTURE, make, make_catalog


def test_explain_fixture_is_current() -> None:
    assert FIXTURE.read_text() == make(), "run: python tests/frontend_fixtures.py"


def test_catalog_fixture_is_what_the_api_serves() -> None:
    assert CATALOG.read_text() == make_catalog(), "run: python tests/frontend_fixtures.py"
