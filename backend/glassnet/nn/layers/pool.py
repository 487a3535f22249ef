"""Pooling: shrink each feature map by summarising small windows.

Max pooling keeps the strongest response in each window ("is the pattern somewhere here?");
mean (average) pooling keeps the average. Both have no parameters, act on each channel on its own
and make the network less sensitive to exactly where a feature sits.

Implemented with strided slices: for a size×size window there are size² offsets (i, j), and the
slice ``x[:, :, i::stride, j::stride]`` holds that offset's pixel of every window at once.
Outputs and gradients keep the memory order of the input (``order="K"``): the convolution layers
hand over (N, C, H, W) views of (C, H, W, N) memory, and keeping that order avoids a transposing
copy at every layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from .base import Layer, Shape


class _Pool2D(Layer):
    """Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = (H - size) // stride + 1."""

    def __init__(self, size: int = 2, stride: int | None = None) -> None:
        super().__init__()
        for value, what in ((size, "size"), (stride if stride is not None else 1, "stride")):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{self.kind}: {what} must be a positive integer, got {value!r}")
        self.size = size
        self.stride = size if stride is None else stride
        self._x = np.empty(0)

    def infer_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 3:
            raise self.fail(f"expects feature maps (C, H, W) per sample, got shape {in_shape}")
        c, h, w = in_shape
        if self.size > h or self.size > w:
            raise self.fail(f"window {self.size}×{self.size} is larger than its {h}×{w} input")
        return (c, (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1)

    def _slices(self) -> list[tuple[slice, slice]]:
        """For each window offset (i, j), the slices picking that pixel of every window."""
        assert self.out_shape is not None
        _, oh, ow = self.out_shape
        s = self.stride
        return [
            (slice(i, i + s * oh, s), slice(j, j + s * ow, s))
            for i in range(self.size)
            for j in range(self.size)
        ]

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "stride": self.stride}


class MaxPool2D(_Pool2D):
    kind = "maxpool2d"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, C, H, W) -> y (N, C, OH, OW): the largest value of each window."""
        self.check_input(x)
        self._x = x
        slices = self._slices()
        y = x[:, :, slices[0][0], slices[0][1]].copy(order="K")
        # Which offset won each window, for backward. Small integer arithmetic instead of masked
        # assignment: arg <- arg + better·(t - arg) sets arg to t exactly where v beats the max.
        xp = array_module(x)
        arg = xp.zeros_like(y, dtype=np.int8 if len(slices) <= 127 else np.int32)
        for t, (si, sj) in enumerate(slices[1:], start=1):
            v = x[:, :, si, sj]
            better = (v > y).view(np.int8)  # strict: on a tie the first offset keeps the window
            arg += better * (arg.dtype.type(t) - arg)
            xp.maximum(y, v, out=y)
        self._arg = arg
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
        # Only the winning input of each window influenced the output, so it alone gets the error.
        dx = array_module(dy).zeros_like(self._x, dtype=dy.dtype)
        overlapping = self.stride < self.size
        for t, (si, sj) in enumerate(self._slices()):
            routed = dy * (self._arg == t)
            if overlapping:
                dx[:, :, si, sj] += routed
            else:
                dx[:, :, si, sj] = routed
        return dx


class AvgPool2D(_Pool2D):
    """Mean pooling."""

    kind = "avgpool2d"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """x (N, C, H, W) -> y (N, C, OH, OW): the mean of each window."""
        self.check_input(x)
        self._x = x
        slices = self._slices()
        y = x[:, :, slices[0][0], slices[0][1]].copy(order="K")
        for si, sj in slices[1:]:
            y += x[:, :, si, sj]
        return y / (self.size * self.size)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, C, OH, OW) -> dx (N, C, H, W)."""
        # Every input of a window contributed 1/size² of the mean, so each gets that share.
        dx = array_module(dy).zeros_like(self._x, dtype=dy.dtype)
        share = dy / (self.size * self.size)
        for si, sj in self._slices():
            dx[:, :, si, sj] += share
        return dx
