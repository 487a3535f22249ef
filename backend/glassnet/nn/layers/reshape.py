"""Flatten: the bridge from feature maps to dense layers. (N, C, H, W) -> (N, C·H·W)."""

from __future__ import annotations

import math

import numpy as np

from .base import Layer, Shape


class Flatten(Layer):
    kind = "flatten"

    def infer_shape(self, in_shape: Shape) -> Shape:
        return (math.prod(in_shape),)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, C, H, W) -> y (N, C·H·W) (any per-sample shape -> its product)."""
        self.check_input(x)
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, C·H·W) -> dx (N, C, H, W)."""
        assert self.in_shape is not None
        return dy.reshape(dy.shape[0], *self.in_shape)
