"""Shared fixtures: a small real MNIST-format dataset cut from the bundled files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from glassnet.data.mnist import DEFAULT_DATASET_DIR, read_idx

ROOT = Path(__file__).resolve().parents[1]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip IDX file (the MNIST format)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def make_small_mnist(folder: Path, n_train: int = 1200, n_test: int = 400) -> Path:
    """The first n_train training and n_test test digits of the real MNIST, as IDX files."""
    folder.mkdir(parents=True, exist_ok=True)
    src = DEFAULT_DATASET_DIR
    pairs = {
        "train-images-idx3-ubyte": ("train-images-idx3-ubyte.gz", n_train),
        "train-labels-idx1-ubyte": ("train-labels-idx1-ubyte.gz", n_train),
        "t10k-images-idx3-ubyte": ("t10k-images-idx3-ubyte.gz", n_test),
        "t10k-labels-idx1-ubyte": ("t10k-labels-idx1-ubyte.gz", n_test),
    }
    for stem, (name, n) in pairs.items():
        write_idx(folder / f"{stem}.gz", read_idx(src / name)[:n])
    return folder


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_mnist(tmp_path_factory.mktemp("small-mnist"))
