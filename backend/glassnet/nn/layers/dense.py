"""The fully connected layer: every neuron looks at every activation of the layer before.

Each output neuron j computes a weighted sum of the incoming activations plus a bias,
``z_j = sum_i a_i W[i, j] + b_j``. The bias is the neuron's threshold: how high the weighted sum
must be before the neuron lights up. For a whole batch that is one matrix product,
``y = x @ W + b`` — the notes' a' = σ(W a + b), with the activation σ as a separate layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from ..init import INITS, init_weights
from .base import Layer, Shape


class Dense(Layer):
    """``y = x @ W + b``.

    Shapes: x (N, D_in) -> y (N, units); W (D_in, units); b (units,).
    """

    kind = "dense"

    def __init__(self, units: int, init: str = "he") -> None:
        super().__init__()
        if not isinstance(units, int) or isinstance(units, bool) or units < 1:
            raise ValueError(f"dense: units must be a positive integer, got {units!r}")
        if init not in INITS:
            raise ValueError(f"dense: unknown init {init!r}; choose one of {', '.join(INITS)}")
        self.units = units
        self.init = init
        self._x: np.ndarray | None = None

    def infer_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 1:
            raise self.fail(
                f"expects a flat vector per sample, got shape {in_shape}; put a flatten layer before it"
            )
        return (self.units,)

    def param_shapes(self) -> dict[str, Shape]:
        assert self.in_shape is not None
        return {"W": (self.in_shape[0], self.units), "b": (self.units,)}

    def init_params(self, rng: np.random.Generator) -> None:
        assert self.in_shape is not None
        d_in = self.in_shape[0]
        self.params = {
            "W": init_weights(self.init, rng, (d_in, self.units), d_in, self.units),
            "b": np.zeros(self.units, dtype=np.float32),
        }
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, D_in) -> y (N, units)."""
        self.check_input(x)
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, units) -> dx (N, D_in); fills grads W (D_in, units) and b (units,)."""
        # z = xW + b, so dC/dW = x^T dC/dz (summed over the batch), dC/db = sum of dC/dz, and the
        # "wishes" passed back to the previous layer's activations are dC/dx = dC/dz W^T.
        assert self._x is not None, f"{self.label}: backward before forward"
        self.grads["W"][...] = self._x.T @ dy
        self.grads["b"][...] = dy.sum(axis=0)
        if not self.needs_input_grad:
            return array_module(dy).empty(0, dtype=dy.dtype)
        return dy @ self.params["W"].T

    def packed_shape(self) -> Shape:
        """(D_in + 1, units): W with b as its last row, so that [x, 1] @ Wb = xW + b."""
        assert self.in_shape is not None
        return (self.in_shape[0] + 1, self.units)

    def param_views(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        d_in = packed.shape[0] - 1
        return {"W": packed[:d_in], "b": packed[d_in]}

    def config(self) -> dict[str, Any]:
        return {"units": self.units, "init": self.init}

    def param_formula(self) -> str:
        assert self.in_shape is not None
        return f"{self.in_shape[0]}·{self.units} + {self.units}"
