"""The committed pretrained models load and reach their documented test accuracy (bar 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassnet.data.mnist import load_splits
from glassnet.nn import load_checkpoint
from glassnet.training.trainer import evaluate

MODELS = Path(__file__).resolve().parents[1] / "models"
FLOORS = {"cnn": 0.990, "mlp": 0.980, "notes": 0.940}


@pytest.fixture(scope="module")
def test_split():
    return load_splits(validation=0).test


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_bundled_model_accuracy(name: str, test_split) -> None:
    ckpt = load_checkpoint(MODELS / f"{name}.npz")
    result = evaluate(ckpt.model, test_split)
    assert result.accuracy >= FLOORS[name]
    # The metadata tells the truth about the file.
    assert ckpt.meta["preset"] == name
    assert ckpt.meta["test_accuracy"] == pytest.approx(result.accuracy, abs=1e-9)
    assert ckpt.spec["name"] == name and "train" in ckpt.spec
