"""Gradient descent, momentum, Adam, weight decay and learning-rate schedules."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet.nn import Schedule, make_optimizer


def _quadratic_descent(kind: str, lr: float, steps: int = 200) -> float:
    """Minimise 0.5·||p - 3||²; return the final distance to the minimum."""
    p = np.zeros(5, np.float64)
    opt = make_optimizer(kind, lr)
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


def test_each_optimizer_names_its_own_hyperparameters() -> None:
    adam = make_optimizer("adam", 0.01, beta1=0.8)
    assert adam.hyperparameters() == {"lr": 0.01, "beta1": 0.8, "beta2": 0.999, "weight_decay": 0.0}
    momentum = make_optimizer("momentum", 0.1)
    assert momentum.hyperparameters() == {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0}
    assert make_optimizer("sgd", 0.1).hyperparameters() == {"lr": 0.1, "weight_decay": 0.0}
    # Adam's β1 is not "momentum": asking for it is an error, never a silent change of β1.
    with pytest.raises(ValueError, match=r"adam optimizer has no 'momentum'.*beta1, beta2"):
        make_optimizer("adam", 0.01, momentum=0.5)
    with pytest.raises(ValueError, match="adam optimizer has no 'momentum'"):
        adam.set_hyperparameters({"lr": 0.5, "momentum": 0.5})
    # Plain SGD is pointed at the optimizer with momentum, not at Adam's rates (QA #11).
    with pytest.raises(
        ValueError, match=r"sgd optimizer has no 'momentum'.*choose \"optimizer\": \"momentum\"\)$"
    ):
        make_optimizer("sgd", 0.1, momentum=0.5)
    with pytest.raises(ValueError, match=r"momentum optimizer has no 'beta1'.*\"optimizer\": \"adam\""):
        make_optimizer("momentum", 0.1, beta1=0.5)
    assert adam.lr == 0.01 and adam.beta1 == 0.8  # a refused change changes nothing
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        adam.set_hyperparameters({"lr": 0.5, "beta2": 1.0})
    assert adam.lr == 0.01
    adam.set_hyperparameters({"beta2": 0.99})
    assert adam.beta2 == 0.99
    with pytest.raises(ValueError, match="sgd optimizer has no 'beta1'"):
        make_optimizer("sgd", 0.1, beta1=0.9)


def test_adam_beta1_is_the_decay_of_the_gradient_mean() -> None:
    """One Adam step from zero state: m = (1-β1)·g, v = (1-β2)·g², bias-corrected to g and g²,
    so the first step is lr·sign(g) whatever β1 and β2 are; the second shows β1."""
    for b1 in (0.5, 0.9):
        p = np.zeros(1)
        opt = make_optimizer("adam", 0.1, beta1=b1, beta2=0.999)
        opt.step([("0.W", p, np.array([2.0]))])
        np.testing.assert_allclose(p, [-0.1], rtol=1e-6)
        opt.step([("0.W", p, np.array([-2.0]))])
        m = b1 * (1 - b1) * 2.0 + (1 - b1) * -2.0
        v = 0.999 * 0.001 * 4 + 0.001 * 4
        expected = -0.1 - 0.1 * (m / (1 - b1**2)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
        np.testing.assert_allclose(p, [expected], rtol=1e-6)
