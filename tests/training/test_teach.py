"""Teaching a network your handwriting, in the library: augmentation in the trainer (deterministic,
resumable), my digits mixed into MNIST and held out, extra evaluation sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glassnet.data.mnist import Split, load_splits
from glassnet.nn import Sequential
from glassnet.training.config import TrainConfig
from glassnet.training.teach import Teach, mix, split_holdout
from glassnet.training.trainer import Trainer
from specs import TINY_MLP

SPEC = TINY_MLP  # cross-entropy is also the default loss


def trainer(small_mnist: Path, extra: dict | None = None, **settings) -> Trainer:
    config = TrainConfig(**{"epochs": 1, "batch_size": 50, "lr": 0.003, **settings})
    data = load_splits(small_mnist, validation=200)
    model = Sequential.from_spec(SPEC, np.random.default_rng(config.seed))
    return Trainer(model, config, data, extra_eval=extra)


def weights(t: Trainer) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in t.model.state_dict().items()}


def test_augmented_training_is_deterministic_and_different(small_mnist: Path) -> None:
    a, b = trainer(small_mnist, augment={}), trainer(small_mnist, augment={})
    plain = trainer(small_mnist)
    for t in (a, b, plain):
        for _ in range(5):
            t.train_step()
    for name, w in weights(a).items():
        np.testing.assert_array_equal(w, weights(b)[name])
    assert any(not np.array_equal(w, weights(plain)[name]) for name, w in weights(a).items())


def test_augmented_training_resumes_exactly(small_mnist: Path) -> None:
    straight = trainer(small_mnist, augment={"stroke": False})
    for _ in range(10):
        straight.train_step()
    first = trainer(small_mnist, augment={"stroke": False})
    for _ in range(4):
        first.train_step()
    second = trainer(small_mnist, augment={"stroke": False})
    second.model.load_state_dict(first.model.state_dict())
    second.restore(first.state(), first.optimizer.state_dict())
    for _ in range(6):
        second.train_step()
    for name, w in weights(straight).items():
        np.testing.assert_allclose(weights(second)[name], w, rtol=1e-6, atol=1e-7, err_msg=name)


def test_bad_augment_settings_are_named() -> None:
    with pytest.raises(ValueError, match="unknown setting"):
        TrainConfig(augment={"swirl": 1})
    with pytest.raises(ValueError, match="rotation"):
        TrainConfig(augment={"rotation": 99})


def test_holdout_keeps_every_digit_on_both_sides() -> None:
    labels = np.array([0] * 8 + [1] * 4 + [2] * 1)
    train, held = split_holdout(labels, 0.25, seed=0)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(13))
    assert sorted(labels[held].tolist()) == [0, 0, 1]  # a quarter of each; the lone 2 trains
    assert split_holdout(labels, 0.25, seed=0)[1].tolist() == held.tolist()  # seeded
    with pytest.raises(ValueError):
        split_holdout(labels, 1.0, seed=0)


def test_holdout_keeps_twins_on_one_side() -> None:
    """QA3 hand #2: with every digit three times (imported twice), the held-out digits all had
    byte-identical twins in training. Given the images, copies of one image share a side."""
    rng = np.random.default_rng(1)
    distinct = rng.integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 4
    images, tripled = np.concatenate([distinct] * 3), np.concatenate([labels] * 3)
    train, held = split_holdout(tripled, 0.25, seed=0, images=images)
    assert sorted(np.concatenate([train, held]).tolist()) == list(range(60))
    trained = {images[i].tobytes() for i in train}
    assert held.size == 12 and not any(images[i].tobytes() in trained for i in held)
    assert sorted(tripled[held].tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # a quarter of each
    # One image under two labels is one drawing too; without twins the split is as before.
    images[40] = images[0]
    train, held = split_holdout(tripled, 0.25, seed=0, images=images)
    assert {0, 20, 40} <= set(train.tolist()) or {0, 20, 40} <= set(held.tolist())
    same = split_holdout(labels, 0.25, seed=0, images=distinct)
    assert [a.tolist() for a in same] == [a.tolist() for a in split_holdout(labels, 0.25, seed=0)]


def test_mix_repeats_my_digits_and_keeps_validation(small_mnist: Path) -> None:
    splits = load_splits(small_mnist, validation=200)
    mine = Split(x=np.ones((3, 1, 28, 28), np.float32), y=np.array([7, 7, 1]))
    mixed = mix(splits, mine, repeat=4, train_subset=100)
    assert len(mixed.train) == 100 + 12
    assert (mixed.train.y[100:] == np.tile([7, 7, 1], 4)).all()
    assert mixed.val is splits.val and mixed.test is splits.test


def test_extra_sets_are_evaluated_each_epoch(small_mnist: Path) -> None:
    splits = load_splits(small_mnist, validation=200)
    events: list = []
    t = trainer(
        small_mnist, extra={"test": splits.test, "empty": Split(x=splits.test.x[:0], y=splits.test.y[:0])}
    )
    t.callback = lambda e, p: events.append((e, p))
    t.fit()
    ((metrics, _),) = [p for e, p in events if e == "epoch"]
    assert set(metrics.extra) == {"test"}  # empty sets are left out
    assert 0 <= metrics.extra["test"] <= 1


def test_teach_files_round_trip(tmp_path: Path) -> None:
    images = np.arange(4 * 784, dtype=np.uint8).reshape(4, 28, 28) % 251
    teach = Teach(repeat=3, train_subset=50, init=None, origin="cnn")
    teach.save(
        tmp_path, (images[:3], np.array([1, 2, 3], np.uint8)), (images[3:], np.array([4], np.uint8)), None
    )
    assert Teach.load(tmp_path) == teach
    held = Teach.mine(tmp_path, "holdout")
    assert held.y.tolist() == [4] and np.allclose(held.x[0, 0] * 255, images[3])
    assert Teach.load(tmp_path / "nothing-here") is None
