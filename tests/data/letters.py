"""A small EMNIST-letters-like dataset made here (no download): 26 classes labelled 1..26, each a
fixed random stroke pattern plus noise, stored transposed as EMNIST stores its images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glassnet.data.mnist import FILE_STEMS, write_idx


def letter_templates(seed: int = 7) -> np.ndarray:
    """(26, 28, 28) uint8: one asymmetric blob pattern per letter."""
    rng = np.random.default_rng(seed)
    templates = np.zeros((26, 28, 28), np.float32)
    yy, xx = np.mgrid[0:28, 0:28]
    for k in range(26):
        for _ in range(4):  # four soft dots per letter, placed off-centre
            cy, cx = rng.uniform(5, 23, size=2)
            templates[k] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    return (255 * templates / templates.max(axis=(1, 2), keepdims=True)).astype(np.uint8)


def write_letters(folder: Path, per_class_train: int = 40, per_class_test: int = 10, seed: int = 0) -> Path:
    """The dataset as IDX files in ``folder``: images transposed, labels 1..26."""
    rng = np.random.default_rng(seed)
    templates = letter_templates()
    folder.mkdir(parents=True, exist_ok=True)
    for split, per_class in (("train", per_class_train), ("test", per_class_test)):
        labels = np.repeat(np.arange(26), per_class)
        rng.shuffle(labels)
        noise = rng.normal(0, 25, size=(labels.size, 28, 28))
        images = np.clip(templates[labels].astype(np.float64) + noise, 0, 255).astype(np.uint8)
        stem = "train" if split == "train" else "test"
        write_idx(folder / FILE_STEMS[f"{stem}_images"], np.ascontiguousarray(images.transpose(0, 2, 1)))
        write_idx(folder / FILE_STEMS[f"{stem}_labels"], (labels + 1).astype(np.uint8))
    return folder


def train_argv(folder: Path) -> list[str]:
    """``glassnet train`` arguments for an mlp on the letters in ``folder`` (transposed, named A..Z)."""
    return [
        "train",
        "--preset",
        "mlp",
        "--dataset",
        str(folder),
        "--transpose",
        "--classes",
        "emnist-letters",
    ]
