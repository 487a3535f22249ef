"""Gradient descent, momentum, Adam, weight decay and learning-rate schedules."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Schedule, make_optimizer


def _quadratic_descent(kind: str, lr: float, steps: int = 200) -> float:
    """Minimise 0.5·||p - 3||²; return the final distance to the minimum."""
    p = np.zeros(5, np.float64)
    opt = make_optimizer(kind, lr, momentum=0.9)
    for _ in range(steps):
        g = p - 3.0
        opt.step([("0.b", p, g)])
    return float(np.abs(p - 3).max())


@pytest.mark.parametrize("kind,lr", [("sgd", 0.1), ("momentum", 0.05), ("adam", 0.1)])
def test_optimizers_descend(kind: str, lr: float) -> None:
    assert _quadratic_descent(kind, lr) < 1e-2


def test_plain_sgd_step_is_minus_lr_times_gradient() -> None:
    p = np.array([1.0, 2.0])
    make_optimizer("sgd", 0.5).step([("0.W", p, np.array([2.0, -4.0]))])
    np.testing.assert_allclose(p, [0.0, 4.0])


def test_weight_decay_applies_to_weights_not_biases() -> None:
    w, b = np.array([2.0]), np.array([2.0])
    opt = make_optimizer("sgd", 0.1, weight_decay=0.5)
    opt.step([("0.W", w, np.zeros(1)), ("0.b", b, np.zeros(1))])
    np.testing.assert_allclose(w, [2.0 - 0.1 * 0.5 * 2.0])
    np.testing.assert_allclose(b, [2.0])


def test_learning_rate_can_change_between_steps_and_state_round_trips() -> None:
    p = np.array([1.0])
    opt = make_optimizer("momentum", 0.1, momentum=0.5)
    opt.step([("0.W", p, np.array([1.0]))])
    opt.lr = 0.2
    opt.step([("0.W", p, np.array([1.0]))])
    # v1 = -0.1, p = 0.9; v2 = 0.5·(-0.1) - 0.2 = -0.25, p = 0.65
    np.testing.assert_allclose(p, [0.65])
    clone = make_optimizer("momentum", 0.2, momentum=0.5)
    clone.load_state_dict(opt.state_dict())
    q = p.copy()
    opt.step([("0.W", p, np.array([1.0]))])
    clone.step([("0.W", q, np.array([1.0]))])
    np.testing.assert_allclose(p, q)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"lr": -1}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"lr": 0.1, "momentum": 1.5}, "momentum"),
        ({"lr": 0.1, "weight_decay": -0.1}, "weight decay"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_optimizer("momentum", **kwargs)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", 0.1)


def test_schedules() -> None:
    assert Schedule("constant").factor(1000) == 1.0
    step = Schedule("step", step_every=10, gamma=0.5)
    assert [step.factor(s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    cos = Schedule("cosine", total_steps=100)
    assert cos.factor(0) == 1.0 and abs(cos.factor(50) - 0.5) < 1e-12 and cos.factor(100) == 0.0
    assert all(cos.factor(s) >= cos.factor(s + 1) for s in range(100))
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("exponential")
