"""The synchronous trainer: learning, events, determinism, divergence, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassnet.data.mnist import load_splits
from glassnet.nn import Sequential
from glassnet.presets import load_preset
from glassnet.training.config import TrainConfig
from glassnet.training.trainer import DivergedError, Trainer, evaluate

SMALL_CNN = {
    "input_shape": [1, 28, 28],
    "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 5},
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 10},
    ],
}


def _trainer(
    small_mnist: Path, events: list | None = None, loss: str = "cross_entropy", **settings
) -> Trainer:
    config = TrainConfig(**{"epochs": 2, "batch_size": 50, "lr": 0.003, **settings})
    data = load_splits(small_mnist, validation=200)
    model = Sequential.from_spec({**SMALL_CNN, "loss": loss}, np.random.default_rng(config.seed))
    return Trainer(model, config, data, (lambda e, p: events.append((e, p))) if events is not None else None)


def test_training_learns_and_reports(small_mnist: Path) -> None:
    events: list = []
    trainer = _trainer(small_mnist, events)
    before = evaluate(trainer.model, trainer.data.test).accuracy
    trainer.fit()
    after = evaluate(trainer.model, trainer.data.test)
    assert before < 0.3 and after.accuracy > 0.75
    batches = [p for e, p in events if e == "batch"]
    epochs = [p for e, p in events if e == "epoch"]
    assert len(batches) == trainer.steps_per_epoch * 2 == 40
    assert [m.step for m in batches] == list(range(1, 41))
    assert len(epochs) == 2 and epochs[-1][0].val_accuracy is not None
    assert np.array(epochs[-1][0].confusion).sum() == 200
    # The per-batch loss is noisy but falls over the run.
    assert np.mean([m.loss for m in batches[-10:]]) < np.mean([m.loss for m in batches[:10]])
    assert all(m.samples_per_s > 0 and m.lr > 0 for m in batches)


def test_same_seed_same_run(small_mnist: Path) -> None:
    a, b = _trainer(small_mnist, epochs=1), _trainer(small_mnist, epochs=1)
    a.fit()
    b.fit()
    for (name, p, _), (_, q, _) in zip(a.model.named_params(), b.model.named_params(), strict=True):
        assert np.array_equal(p, q), name


def test_resume_continues_exactly(small_mnist: Path) -> None:
    """Stop after 7 steps, restore into a fresh trainer: it ends where an unbroken run ends."""
    straight = _trainer(small_mnist, optimizer="momentum", lr=0.02)
    straight.fit()
    first = _trainer(small_mnist, optimizer="momentum", lr=0.02)
    for _ in range(7):
        first.train_step()
    state, optim, weights = first.state(), first.optimizer.state_dict(), first.model.state_dict()
    second = _trainer(small_mnist, optimizer="momentum", lr=0.02)
    second.model.load_state_dict(weights)
    second.restore(state, optim)
    second.fit()
    for (name, p, _), (_, q, _) in zip(
        straight.model.named_params(), second.model.named_params(), strict=True
    ):
        np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-7, err_msg=name)


def test_divergence_is_reported_and_weights_stay_finite(small_mnist: Path) -> None:
    # Squared error on unbounded outputs with a huge step: the weights overflow within a few steps.
    trainer = _trainer(small_mnist, loss="mse", optimizer="sgd", lr=10.0)
    with pytest.raises(DivergedError, match="lower the learning rate"):
        for _ in range(500):
            trainer.train_step()
    assert all(np.all(np.isfinite(p)) for _, p, _ in trainer.model.named_params())


def test_learning_rate_follows_schedule_and_live_changes(small_mnist: Path) -> None:
    trainer = _trainer(small_mnist, schedule="cosine", lr=0.01)
    assert trainer.current_lr() == pytest.approx(0.01)
    for _ in range(trainer.steps_per_epoch):
        trainer.train_step()
    assert trainer.current_lr() == pytest.approx(0.005, rel=1e-6)  # halfway through the cosine
    trainer.optimizer.lr = 0.002  # a user turns the knob mid-run
    assert trainer.current_lr() == pytest.approx(0.001, rel=1e-6)


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"lr": -0.1}, "learning rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 1.5}, "epochs"),
        ({"optimizer": "magic"}, "unknown optimizer"),
        ({"schedule": "wavy"}, "unknown schedule"),
    ],
)
def test_bad_settings(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**settings)


def test_dataset_shape_must_fit_the_network(small_mnist: Path) -> None:
    spec = {"input_shape": [1, 20, 20], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}
    with pytest.raises(ValueError, match=r"expects inputs of shape \(1, 20, 20\)"):
        Trainer(Sequential.from_spec(spec), TrainConfig(), load_splits(small_mnist, validation=100))


def test_preset_train_sections_are_valid() -> None:
    for name in ("cnn", "mlp", "notes"):
        TrainConfig.from_dict(load_preset(name)["train"])


def test_allocator_tuning_is_accepted_on_this_c_library() -> None:
    import platform

    from glassnet.training.allocator import keep_freed_buffers

    result = keep_freed_buffers()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert result is True
    else:
        assert result in (True, False)
