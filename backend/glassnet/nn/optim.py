"""Gradient descent: nudge every weight and bias a little against its gradient.

The gradient points where the cost grows fastest, so a step of ``-lr · gradient`` lowers it; the
learning rate ``lr`` is the step size. Momentum keeps a running velocity so steps that agree add
up and noisy ones cancel; Adam scales each parameter's step by a running estimate of its
gradient's size. L2 weight decay adds ``weight_decay · W`` to each weight's gradient (not to
biases), pulling weights towards zero.

Optimizers update the arrays in place and hold their state in plain arrays keyed like the
model's parameters (``"0.W"``), so the state can be checkpointed without pickle. ``lr``,
``momentum`` and ``weight_decay`` are plain attributes: they may change between any two steps.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

OPTIMIZERS = ("sgd", "momentum", "adam")

ParamTriple = tuple[str, np.ndarray, np.ndarray]  # (name "i.W", parameter, gradient)


def _decayed(name: str, p: np.ndarray, g: np.ndarray, weight_decay: float) -> np.ndarray:
    # Decay weights only: a bias is a threshold, shrinking it towards zero does not regularise.
    if weight_decay and name.endswith(".W"):
        return g + weight_decay * p
    return g


class Optimizer:
    kind = "optimizer"

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        check_hyperparameters(lr, momentum, weight_decay)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.steps = 0
        self.state: dict[str, np.ndarray] = {}

    def step(self, params: Iterable[ParamTriple], lr: float | None = None) -> None:
        """One update of every parameter; ``lr`` overrides ``self.lr`` (the schedule's rate)."""
        rate = self.lr if lr is None else lr
        self.steps += 1
        for name, p, g in params:
            self._update(name, p, _decayed(name, p, g, self.weight_decay), rate)

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimizer's memory as named arrays (``"0.W.velocity"``), plus the step count."""
        return {**self.state, "steps": np.array(self.steps)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        self.steps = int(state.get("steps", 0))
        self.state = {k: np.array(v) for k, v in state.items() if k != "steps"}


class SGD(Optimizer):
    """Plain stochastic gradient descent (``momentum=0``) or with momentum:
    v <- momentum · v - lr · g;  p <- p + v."""

    kind = "sgd"

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        if self.momentum == 0:
            p -= lr * g
            return
        key = f"{name}.velocity"
        v = self.state.get(key)
        if v is None:
            v = self.state[key] = np.zeros_like(p)
        v *= self.momentum
        v -= lr * g
        p += v


class Adam(Optimizer):
    """Adam (Kingma & Ba): m, v running means of g and g²; p <- p - lr · m̂ / (sqrt(v̂) + eps).

    ``momentum`` is β1 (default 0.9); β2 = 0.999.
    """

    kind = "adam"

    def __init__(
        self, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, beta2: float = 0.999
    ) -> None:
        super().__init__(lr, momentum, weight_decay)
        self.beta2 = beta2
        self.eps = 1e-8

    def _update(self, name: str, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        b1, b2 = self.momentum, self.beta2
        m = self.state.setdefault(f"{name}.m", np.zeros_like(p))
        v = self.state.setdefault(f"{name}.v", np.zeros_like(p))
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        # Bias correction: m and v start at zero, so early averages are too small.
        step_size = lr * np.sqrt(1 - b2**self.steps) / (1 - b1**self.steps)
        p -= (step_size * m / (np.sqrt(v) + self.eps)).astype(p.dtype, copy=False)


def check_hyperparameters(lr: float, momentum: float, weight_decay: float) -> None:
    """Reject values that cannot train, with a message naming the value."""
    for value, what in (
        (lr, "learning rate"),
        (momentum, "momentum"),
        (weight_decay, "weight decay"),
    ):
        if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
    if not 0 < lr <= 10:
        raise ValueError(f"learning rate must be in (0, 10], got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if not 0 <= weight_decay < 1:
        raise ValueError(f"weight decay must be in [0, 1), got {weight_decay}")


def make_optimizer(kind: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0) -> Optimizer:
    """``"sgd"`` (no momentum), ``"momentum"`` (SGD with momentum) or ``"adam"``."""
    if kind == "sgd":
        return SGD(lr, 0.0, weight_decay)
    if kind == "momentum":
        return SGD(lr, momentum, weight_decay)
    if kind == "adam":
        return Adam(lr, momentum, weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; choose one of {', '.join(OPTIMIZERS)}")
