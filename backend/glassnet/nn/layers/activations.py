"""Activation functions: what turns a neuron's weighted sum into its activation.

Sigmoid squashes any number into 0..1, the notes' picture of a neuron that is "more or less lit";
tanh squashes into -1..1; ReLU keeps positive sums and zeroes the rest (the modern default: it
does not saturate, so its gradient does not vanish); leaky ReLU lets a little through below zero.
Softmax turns a vector of scores into probabilities that sum to one.
All are element-wise (softmax: per sample), so the shape is unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from .base import Layer


class Activation(Layer):
    """Element-wise layer: y = f(x), dx = dy · f'(x). Any input shape; y has the same shape."""

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, ...) -> y (N, ...), the same shape."""
        self.check_input(x)
        y = self.f(x)
        self._x, self._y = x, y
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, ...) -> dx (N, ...), the same shape."""
        return dy * self.df(self._x, self._y)

    def slope(self) -> np.ndarray:
        """f′ at the last forward pass's input (σ′(z) for a sigmoid), the input's shape."""
        return self.df(self._x, self._y).astype(self._x.dtype)

    def f(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """f'(x), given x and y = f(x) (whichever is cheaper to use)."""
        raise NotImplementedError


class ReLU(Activation):
    kind = "relu"

    def f(self, x: np.ndarray) -> np.ndarray:
        return array_module(x).maximum(x, 0)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return x > 0


class LeakyReLU(Activation):
    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if not (isinstance(alpha, int | float) and 0 <= alpha < 1):
            raise ValueError(f"leaky_relu: alpha must be in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)

    def f(self, x: np.ndarray) -> np.ndarray:
        return array_module(x).where(x > 0, x, x * x.dtype.type(self.alpha))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return array_module(x).where(x > 0, 1, self.alpha).astype(x.dtype)

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}


class Sigmoid(Activation):
    kind = "sigmoid"

    def f(self, x: np.ndarray) -> np.ndarray:
        # σ(x) = 1 / (1 + e^-x), written so that neither branch overflows.
        xp = array_module(x)
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y * (1 - y)  # σ' = σ(1 - σ)


class Tanh(Activation):
    kind = "tanh"

    def f(self, x: np.ndarray) -> np.ndarray:
        return array_module(x).tanh(x)

    def df(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return 1 - y * y


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax of scores (N, K) -> probabilities (N, K); stable (subtracts the max)."""
    z = x - x.max(axis=1, keepdims=True)
    e = array_module(x).exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Softmax(Layer):
    """Probabilities from scores, per sample: (N, K) -> (N, K), rows summing to 1.

    With the cross-entropy cost the softmax is folded into the loss (it is numerically better and
    the gradient is simply p - y); this layer is for networks that want probabilities as their
    output activations, e.g. with the squared-error cost.
    """

    kind = "softmax"

    def infer_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(in_shape) != 1:
            raise self.fail(f"expects a flat vector of scores per sample, got shape {in_shape}")
        return in_shape

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, K) scores -> y (N, K) probabilities."""
        self.check_input(x)
        self._y = softmax(x)
        return self._y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, K) -> dx (N, K)."""
        # Jacobian-vector product of softmax: dx_i = y_i (dy_i - sum_j dy_j y_j).
        y = self._y
        return y * (dy - (dy * y).sum(axis=1, keepdims=True))
