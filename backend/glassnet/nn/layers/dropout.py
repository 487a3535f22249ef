"""Dropout: while training, silence each activation with probability ``rate``.

A network that cannot rely on any single neuron learns redundant features, which generalise
better. "Inverted" dropout scales the survivors by 1/(1 - rate) during training so that nothing
changes at prediction time (``train=False`` is the identity). Any input shape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from .base import Layer


class Dropout(Layer):
    kind = "dropout"

    def __init__(self, rate: float = 0.5) -> None:
        super().__init__()
        if not (isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate < 1):
            raise ValueError(f"dropout: rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.rng = np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def init_params(self, rng: np.random.Generator) -> None:
        # The mask's randomness comes from the model's generator, so a seed reproduces a run.
        self.rng = np.random.default_rng(rng.integers(2**63))

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, ...) -> y (N, ...), the same shape."""
        self.check_input(x)
        if not train or self.rate == 0:
            self._mask = None
            return x
        keep = 1.0 - self.rate
        # Drawn on the host from the seeded generator (the same masks on every device).
        mask = (self.rng.random(x.shape, dtype=np.float32) < keep).astype(x.dtype) / x.dtype.type(keep)
        self._mask = array_module(x).asarray(mask)
        return x * self._mask

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, ...) -> dx (N, ...)."""
        return dy if self._mask is None else dy * self._mask

    def config(self) -> dict[str, Any]:
        return {"rate": self.rate}
