"""Shared fixtures: a small real MNIST-format dataset cut from the bundled files."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassnet.data.mnist import write_subset

ROOT = Path(__file__).resolve().parents[1]


def make_small_mnist(folder: Path, n_train: int = 1200, n_test: int = 400) -> Path:
    """The first n_train training and n_test test digits of the real MNIST, as gzip IDX files."""
    return write_subset(folder, n_train, n_test, gz=True)


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_mnist(tmp_path_factory.mktemp("small-mnist"))
