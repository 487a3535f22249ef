"""Fixtures for the service tests (helpers live in ``service_helpers``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import make_dataset, make_settings

from glassnet.service.app import create_app
from glassnet.service.settings import Settings


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("tiny-mnist"))


@pytest.fixture
def settings(tmp_path: Path, tiny_dataset: Path) -> Settings:
    return make_settings(tmp_path / "runs", tiny_dataset)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c
        # The catch-all handler is a safety net: no request in the tests may reach it.
        assert getattr(c.app.state, "internal_errors", 0) == 0
