"""A run checkpointed mid-epoch and resumed in a new trainer ends exactly where a run that never
stopped ends: same data order, optimizer state, dropout masks and epoch figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassnet.data.mnist import load_splits
from glassnet.nn import Sequential
from glassnet.nn.checkpoint import checkpoint_bytes, read_checkpoint
from glassnet.training.config import TrainConfig
from glassnet.training.trainer import Trainer

SPEC = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 4},
        {"type": "flatten"},
        {"type": "dropout", "rate": 0.3},
        {"type": "dense", "units": 10},
    ],
}


def _trainer(data, seed: int, optimizer: str) -> tuple[Trainer, list]:
    config = TrainConfig(optimizer=optimizer, lr=0.01, batch_size=32, epochs=2, seed=0, schedule="cosine")
    epochs: list = []
    model = Sequential.from_spec(SPEC, np.random.default_rng(seed))
    trainer = Trainer(
        model, config, data, lambda e, p: epochs.append(p[0].as_dict()) if e == "epoch" else None
    )
    return trainer, epochs


@pytest.mark.parametrize("optimizer", ["adam", "momentum"])
def test_killed_mid_epoch_and_resumed_equals_never_killed(small_mnist: Path, optimizer: str) -> None:
    data = load_splits(small_mnist, validation=200)
    straight, straight_epochs = _trainer(data, 0, optimizer)
    straight.fit()

    first, first_epochs = _trainer(data, 0, optimizer)
    stop_at = first.steps_per_epoch + first.steps_per_epoch // 2 + 3  # the middle of epoch 2
    while first.step < stop_at:
        first.train_step()
    assert 0 < first.batch_in_epoch < first.steps_per_epoch
    saved = checkpoint_bytes(first.model, {"trainer": first.state()}, SPEC, first.optimizer.state_dict())
    del first  # the process is gone; only the checkpoint survives

    ckpt = read_checkpoint(saved)
    second, second_epochs = _trainer(data, 123, optimizer)  # other initial weights: all come from the file
    second.model.load_state_dict(ckpt.model.state_dict())
    second.restore(ckpt.meta["trainer"], ckpt.optimizer_state)
    second.fit()

    assert second.step == straight.step
    for name, p in straight.model.state_dict().items():
        np.testing.assert_allclose(second.model.state_dict()[name], p, rtol=1e-6, atol=1e-7, err_msg=name)
    # The interrupted epoch's figures (its running sums travelled in the checkpoint) match too.
    last, resumed_last = straight_epochs[-1], second_epochs[-1]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert resumed_last[key] == pytest.approx(last[key], rel=1e-6), key
    assert resumed_last["confusion"] == last["confusion"]
    assert first_epochs[0]["train_loss"] == pytest.approx(straight_epochs[0]["train_loss"], rel=1e-9)
